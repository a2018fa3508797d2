use durable_runtime::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    value: i64,
}

#[entity]
impl Counter {
    fn add<T: Into<i64>>(&mut self, amount: T) {
        self.value += amount.into();
    }
}

fn main() {}
