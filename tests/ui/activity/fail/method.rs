use durable_runtime::prelude::*;

struct Service;

impl Service {
    #[activity]
    async fn method(&self) -> u32 {
        1
    }
}

fn main() {}
