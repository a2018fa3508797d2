use durable_runtime::prelude::*;

#[orchestrator]
async fn picks(_ctx: OrchestrationContext) -> Result<u8, OrchestrationError> {
    Ok(rand::random())
}

mod rand {
    pub fn random<T: Default>() -> T {
        T::default()
    }
}

fn main() {}
