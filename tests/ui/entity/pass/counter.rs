use durable_runtime::prelude::*;

#[derive(Default, Serialize, Deserialize)]
pub struct Counter {
    value: i64,
}

#[derive(Debug)]
pub struct TooBig;

impl std::fmt::Display for TooBig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too big")
    }
}

impl std::error::Error for TooBig {}

#[entity(name = "tally")]
impl Counter {
    /// Adds `amount`.
    pub fn add(&mut self, amount: i64) {
        self.value += amount;
    }

    pub fn add_checked(&mut self, amount: i64, limit: i64) -> Result<i64, TooBig> {
        self.value += amount;
        if self.value > limit { Err(TooBig) } else { Ok(self.value) }
    }

    pub async fn reset(&mut self, ctx: &EntityContext) {
        Counter::signal(ctx, "audit").add(self.value);
        self.value = 0;
    }

    pub fn get(&self) -> i64 {
        self.value
    }
}

#[orchestrator]
async fn uses_counter(ctx: OrchestrationContext) -> Result<i64, OrchestrationError> {
    Counter::signal(&ctx, "a").add(1);
    let section = ctx.lock_entities([Counter::entity_id("a")]).await;
    let checked = Counter::call(&ctx, "a").add_checked(2, 10).await?;
    section.release();
    let value: i64 = Counter::call(&ctx, "a").get().await?;
    Ok(checked + value)
}

async fn client_side(client: &DurableClient) -> Result<Option<Counter>, durable_runtime::ClientError> {
    Counter::signal(client, "a").add(5).await?;
    Counter::signal(client, "a").reset().await?;
    Counter::read(client, "a").await
}

fn main() {
    assert_eq!(<Counter as Entity>::NAME, "tally");
    assert_eq!(Counter::entity_id("k").to_string(), "@tally@k");
    let _ = client_side;
}
