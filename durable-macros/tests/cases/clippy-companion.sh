#!/usr/bin/env bash
# Checks the companion Clippy list (durable-macros/determinism.clippy.toml) on a scratch
# crate outside the workspace: it must catch what the macro cannot see (a module-level
# alias, a renamed bare import, a helper function) in the module that denies the lints, and
# leave the activities module alone. Prints clippy's findings; exits non-zero unless all
# five are found.
set -euo pipefail
root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/src"
cp "$root/durable-macros/determinism.clippy.toml" "$scratch/clippy.toml"
cat > "$scratch/Cargo.toml" <<'TOML'
[package]
name = "clippy-companion"
version = "0.0.0"
edition = "2024"
publish = false
[workspace]
TOML
cat > "$scratch/src/lib.rs" <<'RUST'
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod activities {
    pub fn stamp() -> std::time::SystemTime {
        std::time::SystemTime::now()
    }
}

pub mod orchestrations {
    #![deny(clippy::disallowed_methods, clippy::disallowed_types)]
    use std::thread::sleep as nap;
    use std::time::SystemTime as Clock;

    fn helper() -> u32 {
        std::process::id()
    }

    pub fn body() -> u64 {
        let _t = Clock::now();
        nap(std::time::Duration::from_millis(1));
        let s = std::collections::hash_map::RandomState::new();
        let _ = s;
        u64::from(helper())
    }
}
RUST
out="$(cd "$scratch" && CARGO_TARGET_DIR="$scratch/target" cargo clippy -q 2>&1 || true)"
echo "$out" | grep -E '^error: use of a disallowed' || true
found="$(echo "$out" | grep -c '^error: use of a disallowed' || true)"
echo "found $found of 5"
[[ "$found" == 5 ]]
