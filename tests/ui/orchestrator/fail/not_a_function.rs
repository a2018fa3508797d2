use durable_runtime::prelude::*;

#[orchestrator]
struct NotAFunction;

fn main() {}
