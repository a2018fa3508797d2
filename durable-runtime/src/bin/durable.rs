//! The `durable` command-line tool.
fn main() {}
