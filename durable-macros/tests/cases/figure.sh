#!/usr/bin/env bash
# Prints the case-list figure (violations caught, clean bodies accepted) for the working
# tree and, given a revision, for the determinism walker at that revision run on the
# *current* case list (so cases added later are measured against the old walker too).
#   durable-macros/tests/cases/figure.sh            # working tree
#   durable-macros/tests/cases/figure.sh 0123abc    # working tree and 0123abc
set -euo pipefail
root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
target="${CARGO_TARGET_DIR:-$root/target}"
figure() {
  (cd "$1" && CARGO_TARGET_DIR="$target" cargo test -q -j 1 -p durable-macros case_list_figure -- --nocapture 2>/dev/null | grep '^FIGURE' | sed 's/^FIGURE //')
}
if [[ $# -ge 1 ]]; then
  old="$(mktemp -d)/old"
  git -C "$root" worktree add -q --detach "$old" "$1"
  cp "$root"/durable-macros/tests/cases/*.rs "$old"/durable-macros/tests/cases/
  # The old revision keeps its own figure.rs: it matches that revision's `check`.
  echo "== $1"
  figure "$old"
  git -C "$root" worktree remove --force "$old"
fi
echo "== working tree"
figure "$root"
