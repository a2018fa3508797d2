#![deny(warnings)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use durable_runtime::prelude::*;

const LIMITS: [u32; 3] = [10, 100, 1000];
static ROUTES: [(&str, &str); 2] = [("email", "mail"), ("sms", "text")];
const MAX_ATTEMPTS: u32 = 3;

// A stand-in for a seedable generator (`rand::rngs::StdRng`).
mod rand {
    pub struct StdRng(u64);
    impl StdRng {
        pub fn seed_from_u64(seed: u64) -> Self {
            StdRng(seed)
        }
        pub fn gen_range(&mut self, range: std::ops::Range<u64>) -> u64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            range.start + self.0 % (range.end - range.start).max(1)
        }
    }
}

#[activity]
async fn record(n: u64) -> Result<(), ActivityError> {
    let _ = n;
    Ok(())
}

/// Deterministic code that looks like the newer kinds of violation.
#[orchestrator]
async fn look_alikes_more(ctx: OrchestrationContext, (seed, tier, bids): (u64, usize, Vec<u64>)) -> Result<(), OrchestrationError> {
    // A generator seeded from the input repeats on replay.
    let mut rng = rand::StdRng::seed_from_u64(seed);
    ctx.call_activity(Record, rng.gen_range(0..10)).await?;
    // `.get(i)` / `.get(k)` on a const or an immutable static table.
    let limit = LIMITS.get(tier).copied().unwrap_or(0);
    let route = ROUTES.get(tier).map_or(0, |(k, _)| k.len());
    ctx.call_activity(Record, u64::from(limit) + route as u64).await?;
    // The first entry of a BTreeMap, the best of a Vec.
    let by_price: BTreeMap<u64, usize> = bids.iter().enumerate().map(|(i, b)| (*b, i)).collect();
    if let Some(lowest) = by_price.keys().next() {
        ctx.call_activity(Record, *lowest).await?;
    }
    if let Some(best) = bids.iter().max_by_key(|b| **b) {
        ctx.call_activity(Record, *best).await?;
    }
    // Order-independent questions about a HashMap built from the input.
    let index: HashMap<u64, usize> = bids.iter().map(|b| (*b, 1)).collect();
    if index.values().any(|n| *n > 1) || index.is_empty() {
        ctx.call_activity(Record, index.len() as u64).await?;
    }
    // A successors sequence that ends, and a retry loop bounded by a const.
    for delay in std::iter::successors(Some(1u64), |d| (*d < 8).then(|| d * 2)) {
        ctx.create_timer(Duration::from_secs(delay)).await;
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        if ctx.call_activity(Record, u64::from(attempt)).await.is_ok() || attempt >= MAX_ATTEMPTS {
            return Ok(());
        }
    }
}

fn main() {}
