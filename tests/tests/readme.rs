//! Keeps README.md true: its quick start is `examples/quickstart.rs` and its testing
//! example `examples/tests/testing/readme.rs`, byte for byte, and
//! its test command is the one `.ci/run` runs.

#[test]
fn readme_quick_start_is_the_quickstart_example() {
    let readme = include_str!("../../README.md");
    let quickstart = include_str!("../../examples/quickstart.rs");
    assert!(
        readme.contains(&format!("```rust\n{quickstart}```")),
        "README.md's quick start differs from examples/quickstart.rs; copy the file into the README"
    );
}

#[test]
fn readme_testing_example_is_the_kit_test() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../../examples/tests/testing/readme.rs");
    assert!(
        readme.contains(&format!("```rust\n{example}```")),
        "README.md's testing example differs from examples/tests/testing/readme.rs; copy the file into the README"
    );
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = include_str!("../../README.md");
    let ci = include_str!("../../.ci/run");
    let command = "cargo test --workspace";
    assert!(
        readme.contains(&format!("{command}  ")),
        "README.md must show `{command}`"
    );
    assert!(
        ci.lines().any(|line| {
            let line = line.trim();
            line == command || line.starts_with(&format!("{command} 2>&1 | tee"))
        }),
        ".ci/run must run exactly `{command}`"
    );
}
