use durable_runtime::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    value: i64,
}

#[entity]
impl Counter {
    fn add(&mut self, amount: i64) {
        self.value += amount;
    }
}

#[orchestrator]
async fn adds(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    // The proxy is typed: `add` takes an i64.
    Counter::call(&ctx, "c").add("five".to_owned()).await?;
    Ok(())
}

fn main() {}
