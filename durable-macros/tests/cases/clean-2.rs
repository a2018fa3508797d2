// A second batch of clean bodies, written after the walker change (see README.md).

/// clean: a HashSet used for de-duplication while iterating a Vec
async fn dedupe(ctx: OrchestrationContext, xs: Vec<String>) -> Result<(), OrchestrationError> {
    let mut seen = HashSet::new();
    for x in xs {
        if seen.insert(x.clone()) {
            ctx.call_activity(Process, x).await?;
        }
    }
    Ok(())
}

/// clean: a HashMap index, iterated in the order of a Vec; hash: index
async fn index_lookup(ctx: OrchestrationContext, items: Vec<Item>, order: Vec<u64>) -> Result<(), OrchestrationError> {
    let index: HashMap<_, _> = items.iter().map(|i| (i.id, i)).collect();
    for id in &order {
        if let Some(item) = index.get(id) {
            ctx.call_activity(Process, (*item).clone()).await?;
        }
    }
    Ok(())
}

/// clean: a BTreeSet collected from a HashSet input; hash: tags
async fn sorted_tags(ctx: OrchestrationContext, tags: HashSet<String>) -> Result<(), OrchestrationError> {
    let sorted: BTreeSet<_> = tags.iter().cloned().collect();
    for tag in sorted {
        ctx.call_activity(Index, tag).await?;
    }
    Ok(())
}

/// clean: pairs sorted by key before the calls; hash: map
async fn sorted_pairs(ctx: OrchestrationContext, map: Settings) -> Result<(), OrchestrationError> {
    let mut pairs: Vec<_> = map.iter().collect();
    pairs.sort_unstable_by_key(|(k, _)| (*k).clone());
    for (k, v) in pairs {
        ctx.call_activity(Apply, (k.clone(), v.clone())).await?;
    }
    Ok(())
}

/// clean: order-independent reductions of a HashMap; hash: counts
async fn reductions(ctx: OrchestrationContext, counts: Counts) -> Result<(), OrchestrationError> {
    let total = counts.values().copied().sum::<u64>();
    let max = counts.values().copied().max().unwrap_or(0);
    ctx.call_activity(Report, (total, max)).await?;
    Ok(())
}

/// clean: chunks of a Vec with a const size
async fn batches(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    const BATCH: usize = 100;
    for chunk in items.chunks(BATCH) {
        ctx.call_activity(Batch, chunk.to_vec()).await?;
    }
    Ok(())
}

/// clean: an event loop that returns on a stop command
async fn until_stopped(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    loop {
        let cmd = ctx.wait_for_external_event::<Cmd>("cmd").await?;
        if cmd.stop {
            return Ok(());
        }
        ctx.call_activity(RunJob, cmd.job).await?;
    }
}

/// clean: a reversed bounded range and a tracing field
async fn countdown(ctx: OrchestrationContext, n: u32) -> Result<(), OrchestrationError> {
    tracing::info!(count = n, "counting down");
    for i in (0..n).rev() {
        ctx.call_activity(Tick, i).await?;
    }
    Ok(())
}

/// clean: an immutable static string and a transmute in unsafe
async fn statics_and_unsafe(ctx: OrchestrationContext, bits: u32) -> Result<(), OrchestrationError> {
    static GREETING: &str = "hello";
    let value = unsafe { std::mem::transmute::<u32, f32>(bits) };
    ctx.call_activity(Greet, (GREETING.to_string(), value)).await?;
    Ok(())
}

/// clean: a local RefCell cache
async fn local_cache(ctx: OrchestrationContext, ids: Vec<u64>) -> Result<(), OrchestrationError> {
    let cache = std::cell::RefCell::new(HashMap::new());
    for id in ids {
        let value = ctx.call_activity(Fetch, id).await?;
        cache.borrow_mut().insert(id, value);
    }
    ctx.call_activity(Store, cache.borrow().len()).await?;
    Ok(())
}

/// clean: select_all over durable calls
async fn first_of_all(ctx: OrchestrationContext, ids: Vec<u64>) -> Result<(), OrchestrationError> {
    let calls: Vec<_> = ids.into_iter().map(|id| ctx.call_activity(Fetch, id)).collect();
    let (first, _, _) = futures::future::select_all(calls).await;
    ctx.call_activity(Store, first?).await?;
    Ok(())
}
