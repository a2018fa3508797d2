use durable_runtime::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    value: i64,
}

trait Bump {
    fn bump(&mut self);
}

#[entity]
impl Bump for Counter {
    fn bump(&mut self) {
        self.value += 1;
    }
}

fn main() {}
