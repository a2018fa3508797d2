use std::collections::hash_map::{DefaultHasher, RandomState};
use std::hash::{BuildHasher, Hash, Hasher};

use durable_runtime::prelude::*;

mod rayon {
    pub fn join<A: FnOnce() -> usize, B: FnOnce() -> usize>(a: A, b: B) -> (usize, usize) {
        (a(), b())
    }
}

#[orchestrator]
async fn unlisted_sources(_ctx: OrchestrationContext, key: String) -> Result<u64, OrchestrationError> {
    let thread = format!("{:?}", std::thread::current().id());
    let pid = u64::from(std::process::id());
    let shard = RandomState::new().hash_one(&key) % 16;
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    let address = std::ptr::addr_of!(key) as usize;
    let (a, b) = rayon::join(|| thread.len(), || address);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(pid + shard + hasher.finish() + (a + b + cores) as u64)
}

fn main() {}
