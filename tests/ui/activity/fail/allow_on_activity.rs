use durable_runtime::prelude::*;

#[activity(allow(io))]
async fn reads() -> Result<String, ActivityError> {
    Ok(std::fs::read_to_string("x")?)
}

fn main() {}
