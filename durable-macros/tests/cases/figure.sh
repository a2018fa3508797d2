#!/usr/bin/env bash
# Prints the case-list figure (violations caught, clean bodies accepted) for each batch of
# cases, for the working tree and, given a revision, for the determinism walker at that
# revision run on the *current* case files (so cases added later are measured against the
# old walker too; an old revision reads only violations.rs / clean.rs, so each batch is
# copied in under those names).
#   durable-macros/tests/cases/figure.sh            # working tree
#   durable-macros/tests/cases/figure.sh 9f0de85    # 9f0de85 (before the walker change), then the working tree
set -euo pipefail
root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
target="${CARGO_TARGET_DIR:-$root/target}"
cases="$root/durable-macros/tests/cases"
# The old revision builds in its own target directory: cargo gives a workspace member the
# same artefact name whatever the checkout's path, so sharing one would run a stale build.
figure() {
  (cd "$1" && CARGO_TARGET_DIR="${3:-$target}" DURABLE_CASE_BATCH="$2" cargo test -q -j 1 -p "$(sed -n 's/^name = "\(.*\)"/\1/p' durable-macros/Cargo.toml | head -1)" case_list_figure -- --nocapture 2>/dev/null | grep '^FIGURE' | sed 's/^FIGURE /  /')
}
if [[ $# -ge 1 ]]; then
  old="$(mktemp -d)/old"
  git -C "$root" worktree add -q --detach "$old" "$1"
  # The old revision keeps its own figure.rs: it matches that revision's `check`.
  for batch in 1 2 3 4 5 6 7; do
    suffix=""; [[ $batch != 1 ]] && suffix="-$batch"
    cp "$cases/violations$suffix.rs" "$old/durable-macros/tests/cases/violations.rs"
    cp "$cases/clean$suffix.rs" "$old/durable-macros/tests/cases/clean.rs"
    echo "== $1, batch $batch"
    figure "$old" 1 "$target/figure-old"
  done
  git -C "$root" worktree remove --force "$old"
fi
for batch in 1 2 3 4 5 6 7; do
  echo "== working tree, batch $batch"
  figure "$root" "$batch"
done
