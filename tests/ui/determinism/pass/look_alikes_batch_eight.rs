#![deny(warnings)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use durable_runtime::prelude::*;

#[activity]
async fn load_scores() -> Result<HashMap<String, u64>, ActivityError> {
    Ok(HashMap::new())
}

#[activity]
async fn award(name: String) -> Result<(), ActivityError> {
    let _ = name;
    Ok(())
}

/// Sorts and picks that are total orders, reduces that combine, splits of a `Vec`.
#[orchestrator]
async fn total_orders(ctx: OrchestrationContext, (scores, ranked): (HashMap<String, u64>, Vec<(String, u64)>)) -> Result<(), OrchestrationError> {
    // A key that reads the map's key: unique, so no ties.
    let mut by_name: Vec<(String, u64)> = scores.clone().into_iter().collect();
    by_name.sort_by_key(|(name, score)| (std::cmp::Reverse(*score), name.clone()));
    for (name, _) in by_name {
        ctx.call_activity(Award, name).await?;
    }
    let mut rows: Vec<(&String, &u64)> = scores.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    if let Some((name, _)) = rows.first() {
        ctx.call_activity(Award, (*name).clone()).await?;
    }
    let fetched = ctx.call_activity(LoadScores, ()).await?;
    let mut pairs: Vec<(String, u64)> = fetched.into_iter().collect();
    pairs.sort();
    for (name, _) in pairs {
        ctx.call_activity(Award, name).await?;
    }
    if let Some((name, _)) = scores.iter().max_by_key(|(name, score)| (**score, (*name).clone())) {
        ctx.call_activity(Award, name.clone()).await?;
    }
    // A reduce that combines, not picks; a pick among a `Vec`'s ties.
    let total = scores.values().copied().reduce(|a, b| a + b).unwrap_or(0);
    ctx.call_activity(Award, total.to_string()).await?;
    // Keeping one of two equal whole values: either is the same value.
    let best = scores.values().copied().reduce(|a, b| if a > b { a } else { b }).unwrap_or(0);
    ctx.call_activity(Award, best.to_string()).await?;
    if let Some((name, _)) = ranked.iter().cloned().reduce(|a, b| if b.1 > a.1 { b } else { a }) {
        ctx.call_activity(Award, name).await?;
    }
    // Parts of a `Vec`'s partition, and of a map's partition once sorted.
    let (high, _low): (Vec<(String, u64)>, Vec<(String, u64)>) = ranked.into_iter().partition(|(_, s)| *s > 10);
    for (name, _) in high {
        ctx.call_activity(Award, name).await?;
    }
    let (mut top, _rest): (Vec<(String, u64)>, Vec<(String, u64)>) = scores.into_iter().partition(|(_, s)| *s > 90);
    top.sort();
    let mut queue: VecDeque<(String, u64)> = top.into_iter().collect();
    while let Some((name, _)) = queue.pop_front() {
        ctx.call_activity(Award, name).await?;
    }
    Ok(())
}

/// Helpers of the body that sort before handing out a hash field, or hold a `Vec`;
/// `macro_rules!` over ordered collections; loops whose variables change.
#[orchestrator]
async fn ordered_helpers(ctx: OrchestrationContext, names: Vec<String>) -> Result<(), OrchestrationError> {
    struct Team {
        members: HashSet<String>,
        order: Vec<String>,
    }
    impl Team {
        fn sorted(&self) -> Vec<String> {
            let mut v: Vec<String> = self.members.iter().cloned().collect();
            v.sort();
            v
        }
        fn in_order(&self) -> impl Iterator<Item = &String> + '_ {
            self.order.iter()
        }
        fn size(&self) -> usize {
            self.members.len()
        }
    }
    let team = Team { members: names.iter().cloned().collect(), order: names.clone() };
    for name in team.sorted() {
        ctx.call_activity(Award, name).await?;
    }
    for name in team.in_order() {
        ctx.call_activity(Award, name.clone()).await?;
    }
    ctx.call_activity(Award, team.size().to_string()).await?;
    let ordered: BTreeMap<String, usize> = names.iter().cloned().enumerate().map(|(i, n)| (n, i)).collect();
    macro_rules! award_each {
        ($map:expr) => {
            for (name, _) in $map.iter() {
                ctx.call_activity(Award, name.clone()).await?;
            }
        };
    }
    award_each!(ordered);
    macro_rules! award_all {
        ($($name:expr),*) => {
            $( ctx.call_activity(Award, $name.to_owned()).await?; )*
        };
    }
    award_all!("gold", "silver");
    let mut left = names.len();
    while left > 0 {
        left -= 1;
        ctx.call_activity(Award, names[left].clone()).await?;
    }
    let done = false;
    while !done {
        let done = ctx.call_activity(Award, "poll".to_owned()).await.is_ok();
        if done {
            break;
        }
    }
    let mut cursor: Option<usize> = Some(0);
    while let Some(i) = cursor {
        ctx.call_activity(Award, i.to_string()).await?;
        cursor = (i + 1 < names.len()).then_some(i + 1);
    }
    Ok(())
}

fn main() {}
