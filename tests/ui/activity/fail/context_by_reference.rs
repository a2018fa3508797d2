use durable_runtime::prelude::*;

#[activity]
async fn by_reference(ctx: &ActivityContext) -> u32 {
    ctx.attempt()
}

fn main() {}
