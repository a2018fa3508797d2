//! The task hub overview: counts by status and the backlog, read from
//! [`DurableClient::task_hub_stats`] when asked, and throughput and failures over the last
//! minutes, from samples of the same stats that the dashboard server takes every
//! [`INTERVAL`] into a ring buffer of [`KEEP`] samples (10 minutes).
//!
//! Sampling starts with the first dashboard request and stops after [`IDLE`] without one,
//! so a dashboard nobody opens reads nothing; the series covers the time since sampling
//! (re)started. Each point is the growth of the Completed, Failed and Terminated counts
//! between two samples: what finished in that interval, less what was purged, rewound or
//! restarted meanwhile (a count that shrank counts as zero). The counts cost the same on
//! any backlog (the stores keep them as rows change); the backlog is counted when read.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::client::DurableClient;
use crate::status::RuntimeStatus;
use crate::store::{InstanceCounts, TaskHubStats};

/// How often the stats are sampled.
pub(super) const INTERVAL: Duration = Duration::from_secs(5);
/// How many samples are kept: 10 minutes at [`INTERVAL`].
const KEEP: usize = 121;
/// Sampling stops after this long without a dashboard request.
const IDLE: Duration = Duration::from_secs(600);

/// One sample: when (the store clock's time) and the instance counts then.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sample {
    pub(super) at: DateTime<Utc>,
    pub(super) instances: InstanceCounts,
}

/// The ring buffer of samples, and the sampling task's switch. The task holds it weakly,
/// and the client through it, so dropping the dashboard's router releases the store.
#[derive(Debug)]
pub(super) struct Sampler {
    client: DurableClient,
    samples: Mutex<VecDeque<Sample>>,
    /// Whether a sampling task runs.
    running: AtomicBool,
    /// When a dashboard request last came, in ms since `epoch`.
    last_request_ms: AtomicU64,
    epoch: Instant,
}

impl Sampler {
    pub(super) fn new(client: DurableClient) -> Arc<Self> {
        Arc::new(Self {
            client,
            samples: Mutex::new(VecDeque::with_capacity(KEEP)),
            running: AtomicBool::new(false),
            last_request_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn idle(&self) -> bool {
        let last = self.last_request_ms.load(Ordering::Relaxed);
        self.elapsed_ms().saturating_sub(last) > u64::try_from(IDLE.as_millis()).unwrap_or(0)
    }

    /// A dashboard request came: sampling runs (it starts here if it did not). Must be
    /// called inside a Tokio runtime (any request handler is).
    pub(super) fn requested(self: &Arc<Self>) {
        self.last_request_ms
            .store(self.elapsed_ms(), Ordering::Relaxed);
        if !self.running.swap(true, Ordering::AcqRel) {
            tokio::spawn(sample(Arc::downgrade(self)));
        }
    }

    pub(super) fn push(&self, stats: &TaskHubStats) {
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        // A sample older than the last (another clock after a failover) restarts the series.
        if samples.back().is_some_and(|last| last.at >= stats.as_of) {
            samples.clear();
        }
        if samples.len() == KEEP {
            samples.pop_front();
        }
        samples.push_back(Sample {
            at: stats.as_of,
            instances: stats.instances.clone(),
        });
    }

    pub(super) fn samples(&self) -> Vec<Sample> {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        samples.iter().cloned().collect()
    }
}

/// The sampling task: a sample every [`INTERVAL`] until the dashboard is dropped or idle.
async fn sample(sampler: Weak<Sampler>) {
    loop {
        let Some(strong) = sampler.upgrade() else {
            return;
        };
        if strong.idle() {
            strong.running.store(false, Ordering::Release);
            // A request that came meanwhile saw `running` and did not start a task.
            if strong.idle() || strong.running.swap(true, Ordering::AcqRel) {
                return;
            }
        }
        match strong.client.task_hub_stats().await {
            Ok(stats) => strong.push(&stats),
            Err(error) => tracing::debug!(%error, "dashboard: reading the task hub stats failed"),
        }
        drop(strong);
        tokio::time::sleep(INTERVAL).await;
    }
}

/// The statuses that end an instance: what the throughput counts.
const FINISHED: [RuntimeStatus; 3] = [
    RuntimeStatus::Completed,
    RuntimeStatus::Failed,
    RuntimeStatus::Terminated,
];

/// One point of the series: what finished between the previous sample and `at`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Point {
    pub(super) at: DateTime<Utc>,
    /// The interval's length in seconds.
    pub(super) seconds: f64,
    pub(super) completed: u64,
    pub(super) failed: u64,
    pub(super) terminated: u64,
}

/// The points between consecutive samples (one fewer than the samples).
pub(super) fn series(samples: &[Sample]) -> Vec<Point> {
    samples
        .windows(2)
        .map(|pair| {
            let grew = |status| {
                pair[1]
                    .instances
                    .get(status)
                    .saturating_sub(pair[0].instances.get(status))
            };
            let [completed, failed, terminated] = FINISHED.map(grew);
            Point {
                at: pair[1].at,
                seconds: (pair[1].at - pair[0].at).num_microseconds().unwrap_or(0) as f64 / 1e6,
                completed,
                failed,
                terminated,
            }
        })
        .collect()
}

fn time(value: DateTime<Utc>) -> String {
    value.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Counts as `{"Running": 3, ...}`: every status a store records (zeros too), and rows
/// with a status code this build does not know as `Unknown` when there are any.
fn counts_json(counts: &InstanceCounts) -> Value {
    let mut map = Map::new();
    for status in RuntimeStatus::ALL {
        map.insert(status.to_string(), json!(counts.get(status)));
    }
    let unknown = counts.get(RuntimeStatus::Unknown);
    if unknown > 0 {
        map.insert(RuntimeStatus::Unknown.to_string(), json!(unknown));
    }
    json!({ "total": counts.total(), "byStatus": map })
}

/// The stats as the page reads them.
pub(super) fn stats_json(stats: &TaskHubStats) -> Value {
    let backlog = &stats.backlog;
    json!({
        "asOf": time(stats.as_of),
        "instances": counts_json(&stats.instances),
        "entities": counts_json(&stats.entities),
        "backlog": {
            "dueMessages": backlog.due_messages,
            "futureMessages": backlog.future_messages,
            "queuedActivities": backlog.queued_activities,
            "runningActivities": backlog.running_activities,
            "nextDueAt": backlog.next_due_at.map(time),
        },
    })
}

/// The series as the page reads it.
pub(super) fn series_json(samples: &[Sample]) -> Value {
    let points: Vec<Value> = series(samples)
        .into_iter()
        .map(|point| {
            json!({
                "at": time(point.at),
                "seconds": point.seconds,
                "completed": point.completed,
                "failed": point.failed,
                "terminated": point.terminated,
            })
        })
        .collect();
    json!({
        "intervalSeconds": INTERVAL.as_secs(),
        "since": samples.first().map(|s| time(s.at)),
        "points": points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Backlog;

    fn counts(completed: u64, failed: u64, terminated: u64, running: u64) -> InstanceCounts {
        InstanceCounts::from_codes([
            (RuntimeStatus::Completed.code(), completed),
            (RuntimeStatus::Failed.code(), failed),
            (RuntimeStatus::Terminated.code(), terminated),
            (RuntimeStatus::Running.code(), running),
        ])
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    fn stats(seconds: i64, instances: InstanceCounts) -> TaskHubStats {
        let mut stats = TaskHubStats {
            instances,
            entities: InstanceCounts::default(),
            backlog: Backlog::default(),
            as_of: at(seconds),
        };
        stats.backlog.future_messages = 2;
        stats
    }

    #[test]
    fn points_are_what_finished_between_two_samples() {
        let samples = [
            Sample {
                at: at(0),
                instances: counts(10, 1, 0, 5),
            },
            Sample {
                at: at(5),
                instances: counts(14, 1, 2, 3),
            },
            // A purge of 8 completed instances and a rewind of the failed one.
            Sample {
                at: at(10),
                instances: counts(7, 0, 2, 4),
            },
        ];
        let points = series(&samples);
        assert_eq!(
            points,
            [
                Point {
                    at: at(5),
                    seconds: 5.0,
                    completed: 4,
                    failed: 0,
                    terminated: 2
                },
                Point {
                    at: at(10),
                    seconds: 5.0,
                    completed: 0,
                    failed: 0,
                    terminated: 0
                },
            ]
        );
        assert!(series(&samples[..1]).is_empty());
        let json = series_json(&samples);
        assert_eq!(json["points"][0]["completed"], 4);
        assert_eq!(json["since"], "2027-01-15T08:00:00.000Z");
    }

    #[test]
    fn the_ring_keeps_the_last_samples_and_restarts_when_time_goes_back() {
        let store: Arc<dyn crate::store::Store> =
            Arc::new(crate::store::memory::MemoryStore::new());
        let sampler = Sampler::new(DurableClient::new(store));
        for second in 0..(KEEP as i64 + 10) {
            sampler.push(&stats(second * 5, counts(second as u64, 0, 0, 0)));
        }
        let samples = sampler.samples();
        assert_eq!(samples.len(), KEEP);
        assert_eq!(samples[0].at, at(10 * 5));
        sampler.push(&stats(0, counts(1, 0, 0, 0)));
        assert_eq!(sampler.samples().len(), 1, "an older clock starts anew");
    }

    #[test]
    fn stats_list_every_status_with_its_count() {
        let json = stats_json(&stats(0, counts(3, 1, 0, 2)));
        assert_eq!(json["instances"]["total"], 6);
        assert_eq!(json["instances"]["byStatus"]["Completed"], 3);
        assert_eq!(json["instances"]["byStatus"]["Pending"], 0);
        assert!(json["instances"]["byStatus"].get("Unknown").is_none());
        assert_eq!(json["backlog"]["futureMessages"], 2);
        assert_eq!(json["backlog"]["nextDueAt"], Value::Null);
        let odd = InstanceCounts::from_codes([(42, 2)]);
        assert_eq!(counts_json(&odd)["byStatus"]["Unknown"], 2);
    }
}
