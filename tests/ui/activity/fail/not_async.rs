use durable_runtime::prelude::*;

#[activity]
fn not_async(input: u32) -> u32 {
    input
}

fn main() {}
