//! The instance cache: live replay engines kept between turns.

use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use lru::LruCache;

use crate::ids::InstanceId;
use crate::replay::ReplayEngine;

/// A bounded LRU map from instance id to its live [`ReplayEngine`].
///
/// An engine is taken out for a turn and put back after the turn committed, so a cached
/// engine always matches committed history; the work item's history length tells whether
/// it is still current (another worker may have advanced the instance meanwhile).
#[derive(Debug)]
pub(crate) struct InstanceCache {
    engines: Option<Mutex<LruCache<InstanceId, ReplayEngine>>>,
    /// Where evictions and the size are recorded (feature `metrics`).
    metrics: Option<super::Recorder>,
}

impl InstanceCache {
    /// A cache of up to `capacity` instances; 0 disables caching (replay every turn).
    pub(crate) fn new(capacity: usize, metrics: Option<super::Recorder>) -> Self {
        Self {
            engines: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
            metrics,
        }
    }

    /// Takes the engine of `instance_id` if it runs `execution_id` and is at `history_len`.
    ///
    /// Both are checked because another worker may have moved the instance on (a longer
    /// history), or continued it as new and grown the new execution back to the same length.
    pub(crate) fn take(
        &self,
        instance_id: &InstanceId,
        execution_id: &crate::ids::ExecutionId,
        history_len: usize,
    ) -> Option<ReplayEngine> {
        let engine = {
            let mut engines = self.lock()?;
            let engine = engines.pop(instance_id)?;
            self.record_size(&engines);
            engine
        };
        (engine.history_len() == history_len && engine.execution_id() == execution_id)
            .then_some(engine)
    }

    /// Takes the engine of `instance_id` if it runs `execution_id`, whatever its history
    /// length: for a turn run without a lease, whose commit checks the length instead.
    pub(crate) fn take_current(
        &self,
        instance_id: &InstanceId,
        execution_id: &crate::ids::ExecutionId,
    ) -> Option<ReplayEngine> {
        let mut engines = self.lock()?;
        if engines.peek(instance_id)?.execution_id() != execution_id {
            return None;
        }
        let engine = engines.pop(instance_id);
        self.record_size(&engines);
        engine
    }

    /// Keeps `engine` for the next turn of `instance_id`, evicting the least recently used
    /// instance when full.
    pub(crate) fn put(&self, instance_id: InstanceId, engine: ReplayEngine) {
        if let Some(mut engines) = self.lock() {
            let pushed_out = engines.push(instance_id, engine);
            if let Some(metrics) = &self.metrics {
                // `push` also returns the entry it replaced for the same instance.
                if pushed_out.is_some_and(|(out, _)| engines.peek(&out).is_none()) {
                    metrics.cache_eviction();
                }
            }
            self.record_size(&engines);
        }
    }

    /// Records how many engines are cached: after each put and each take, so an engine out
    /// for a turn, or one whose instance finished and never came back, is not counted.
    fn record_size(&self, engines: &LruCache<InstanceId, ReplayEngine>) {
        if let Some(metrics) = &self.metrics {
            metrics.cache_size(engines.len());
        }
    }

    /// The engines, locked; `None` when caching is off.
    fn lock(&self) -> Option<MutexGuard<'_, LruCache<InstanceId, ReplayEngine>>> {
        Some(
            self.engines
                .as_ref()?
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}
