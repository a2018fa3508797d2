use durable_runtime::prelude::*;

#[derive(Default)]
struct Counter {
    value: i64,
}

#[entity]
impl Counter {
    fn add(&mut self, amount: i64) {
        self.value += amount;
    }
}

fn main() {}
