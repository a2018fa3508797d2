//! Compile-time behaviour of the macros, proven with trybuild: every determinism rule and
//! every misuse has a failing case with its reviewed `.stderr`, and clean code compiles.
//!
//! The `.stderr` files were recorded with rustc 1.95; other compilers word errors
//! differently, so the test is gated to it. After a compiler upgrade run
//! `TRYBUILD=overwrite cargo test -p durable-tests --test ui`, review the diff, and bump
//! the gate.

#[rustversion::attr(not(stable(1.95)), ignore = "stderr recorded with rustc 1.95")]
#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/**/fail/*.rs");
    cases.pass("ui/**/pass/*.rs");
}
