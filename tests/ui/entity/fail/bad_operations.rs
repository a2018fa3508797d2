use durable_runtime::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    value: i64,
}

// Every problem in the block is reported at once.
#[entity]
impl Counter {
    fn new() -> Self {
        Self::default()
    }

    fn name(&mut self, name: &str) {
        let _ = name;
    }

    fn read(&self) -> i64 {
        self.value
    }

    fn add(&mut self, amount: i64) {
        self.value += amount;
    }

    #[allow(non_snake_case)]
    fn ADD(&mut self) {}

    fn sub(&mut self, amount: i64, ctx: &EntityContext) {
        let _ = ctx;
        self.value -= amount;
    }

    fn by_value_self(self: Box<Self>) {}

    const LIMIT: i64 = 10;
}

fn main() {}
