#![deny(deprecated)]

use std::collections::{HashMap, HashSet, VecDeque};

use durable_runtime::prelude::*;

#[activity]
async fn load_capacity() -> Result<HashMap<String, u32>, ActivityError> {
    Ok(HashMap::new())
}

#[activity]
async fn drain_site(site: String) -> Result<(), ActivityError> {
    let _ = site;
    Ok(())
}

/// Orders that still come from a hash collection: a sort whose key reads only the values
/// (equal values keep the map's order), a reduce that picks among ties, the parts of a
/// partition, a deque filled from a map, windows of unsorted keys.
#[orchestrator]
async fn hash_ties(ctx: OrchestrationContext, load: HashMap<String, u32>) -> Result<(), OrchestrationError> {
    let mut by_load: Vec<(String, u32)> = load.clone().into_iter().collect();
    by_load.sort_by_key(|(_, l)| std::cmp::Reverse(*l));
    for (site, _) in by_load {
        ctx.call_activity(DrainSite, site).await?;
    }
    let capacity = ctx.call_activity(LoadCapacity, ()).await?;
    let mut rows: Vec<(&String, &u32)> = capacity.iter().collect();
    rows.sort_unstable_by(|a, b| a.1.cmp(b.1));
    if let Some((site, _)) = rows.first() {
        ctx.call_activity(DrainSite, (*site).clone()).await?;
    }
    let idlest = load.iter().reduce(|a, b| if b.1 < a.1 { b } else { a });
    if let Some((site, _)) = idlest {
        ctx.call_activity(DrainSite, site.clone()).await?;
    }
    let (hot, _cold): (Vec<(String, u32)>, Vec<(String, u32)>) = load.clone().into_iter().partition(|(_, l)| *l > 80);
    for (site, _) in hot {
        ctx.call_activity(DrainSite, site).await?;
    }
    let mut queue: VecDeque<String> = VecDeque::new();
    queue.extend(load.keys().cloned());
    while let Some(site) = queue.pop_front() {
        ctx.call_activity(DrainSite, site).await?;
    }
    let names: Vec<String> = load.into_keys().collect();
    for pair in names.windows(2) {
        ctx.call_activity(DrainSite, pair.join("+")).await?;
    }
    Ok(())
}

/// A struct the body declares hands out its hash field in the map's order (an iterator or
/// the keys collected, unsorted), and a `macro_rules!` of the body iterates a set.
#[orchestrator]
async fn hash_helpers(ctx: OrchestrationContext, sites: Vec<String>) -> Result<(), OrchestrationError> {
    struct Fleet {
        members: HashSet<String>,
    }
    impl Fleet {
        fn each(&self) -> impl Iterator<Item = &String> + '_ {
            self.members.iter()
        }
        fn listed(&self) -> Vec<String> {
            self.members.iter().cloned().collect()
        }
    }
    let fleet = Fleet { members: sites.iter().cloned().collect() };
    for site in fleet.each() {
        ctx.call_activity(DrainSite, site.clone()).await?;
    }
    let listed = fleet.listed();
    if let Some(first) = listed.first() {
        ctx.call_activity(DrainSite, first.clone()).await?;
    }
    let seen: HashSet<String> = sites.into_iter().collect();
    macro_rules! drain_all {
        ($set:expr) => {
            for site in $set.iter() {
                ctx.call_activity(DrainSite, site.clone()).await?;
            }
        };
    }
    drain_all!(seen);
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct Rollout {
    pending: HashSet<String>,
}

/// A set visited in place (`retain`) with a durable call in the closure, where only the
/// compiler knows the field is a `HashSet`: the probe borrows it, so it stays usable.
#[orchestrator]
async fn hash_in_place(ctx: OrchestrationContext, mut rollout: Rollout) -> Result<(), OrchestrationError> {
    rollout.pending.retain(|site| {
        let _drain = ctx.call_activity(DrainSite, site.clone());
        site.starts_with("eu-")
    });
    ctx.call_activity(DrainSite, rollout.pending.len().to_string()).await?;
    Ok(())
}

fn main() {}
