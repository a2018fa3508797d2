use durable_runtime::prelude::*;

#[entity]
struct Counter {
    value: i64,
}

fn main() {}
