//! The pure decisions of an orchestration turn, taken before the orchestrator runs: the
//! commit a turn starts from, whether a rewind or a terminate decides the turn, which queued
//! messages a (suspended) instance applies now, what an unknown orchestrator name fails
//! with, and where the turn's engine comes from. No I/O and no clock: `turn.rs` does the
//! reads and passes the time in. Table tests below.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error_types::{ORCHESTRATION_NOT_REGISTERED, TERMINATED};
use crate::history::{EventKind, HistoryEvent};
use crate::ids::ExecutionId;
use crate::payload::Payload;
use crate::status::{FailureDetails, RuntimeStatus};
use crate::store::{
    ActivityLease, CommitAuthority, CustomStatus, OrchestrationCommit, OrchestrationMessage,
    OrchestrationWorkItem,
};

/// The commit a turn of `item` starts from: nothing appended, consumed or sent, the status
/// as fetched. A leased turn presents the item's lease (an entity's as an entity turn); a
/// local turn (`applied`: the activity work items whose results it carries) presents those
/// ([`CommitAuthority`]). `lease_activities`: how long
/// the activities it schedules are leased to this worker, when they run in process.
pub(super) fn commit_skeleton(
    item: &OrchestrationWorkItem,
    applied: Option<Vec<ActivityLease>>,
    now: DateTime<Utc>,
    lease_activities: Option<Duration>,
) -> OrchestrationCommit {
    let authority = match (applied, &item.lock_token) {
        (None, Some(token)) if item.instance_id.is_entity() => {
            CommitAuthority::EntityTurn(token.clone())
        }
        (None, Some(token)) => CommitAuthority::Leased(token.clone()),
        // A work item without a lease comes from this worker, with the results it applies.
        (applied, _) => CommitAuthority::Unleased {
            applied_activities: applied.unwrap_or_default(),
        },
    };
    OrchestrationCommit {
        instance_id: item.instance_id.clone(),
        execution_id: item.execution_id.clone(),
        authority,
        history_len: item.history_len,
        events: Vec::new(),
        consumed: Vec::new(),
        activities: Vec::new(),
        status: item.status,
        output: None,
        failure: None,
        custom_status: CustomStatus::Unchanged,
        updated_at: now,
        messages: Vec::new(),
        new_instances: Vec::new(),
        continue_as_new: None,
        lease_activities,
    }
}

/// Is `message` for the current execution of `item` (or for whichever is current)?
fn is_current(message: &OrchestrationMessage, execution_id: &ExecutionId) -> bool {
    message
        .execution_id
        .as_ref()
        .is_none_or(|e| e == execution_id)
}

/// The rewind this turn applies: a queued `ExecutionRewound` for the current execution of
/// an instance with history that is Failed (a parent's rewind finds its child still
/// Failed) or Pending (the client's rewind set it Pending when enqueued).
pub(super) fn rewind_message(item: &OrchestrationWorkItem) -> Option<&HistoryEvent> {
    if !matches!(item.status, RuntimeStatus::Failed | RuntimeStatus::Pending)
        || item.history_len == 0
    {
        return None;
    }
    item.messages
        .iter()
        .find(|m| {
            matches!(m.event.kind, EventKind::ExecutionRewound { .. })
                && is_current(m, &item.execution_id)
        })
        .map(|m| &m.event)
}

/// Why the instance fails on corrupt queued messages, naming the first; `None` when every
/// message decoded.
pub(super) fn corrupt_reason(item: &OrchestrationWorkItem) -> Option<String> {
    let first = item.corrupt_messages.first()?;
    let more = item.corrupt_messages.len() - 1;
    Some(format!(
        "queued message {} of instance {} does not decode: {}{}",
        first.id,
        item.instance_id,
        first.reason,
        if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        }
    ))
}

/// Terminate wins over everything: when a terminate for the current execution is queued,
/// `commit` consumes every message, records the terminate and ends `Terminated` with the
/// reason as output; returns the failure the parent gets. `None`: no terminate queued,
/// `commit` unchanged.
pub(super) fn terminate(
    item: &OrchestrationWorkItem,
    commit: &mut OrchestrationCommit,
    now: DateTime<Utc>,
) -> Option<FailureDetails> {
    let terminate = item
        .messages
        .iter()
        .filter(|m| is_current(m, &item.execution_id))
        .find(|m| matches!(m.event.kind, EventKind::ExecutionTerminated { .. }))?;
    let EventKind::ExecutionTerminated { reason } = &terminate.event.kind else {
        return None;
    };
    commit.consumed = item.messages.iter().map(|m| m.id).collect();
    commit
        .events
        .push(HistoryEvent::new(now, EventKind::OrchestratorStarted));
    commit.events.push(terminate.event.clone());
    commit.status = RuntimeStatus::Terminated;
    commit.output = Some(Payload::encode(reason).unwrap_or_else(|_| Payload::null()));
    // A terminated orchestration's parent sees a typed failure.
    Some(FailureDetails::new(
        TERMINATED,
        format!(
            "terminated{}",
            reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    ))
}

/// The queued messages a turn applies now, after suspend and resume.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Applied {
    /// The messages the turn consumes.
    pub(super) consumed: Vec<i64>,
    /// Events for the orchestrator (of the current execution).
    pub(super) new_events: Vec<HistoryEvent>,
    /// Suspend and resume markers to record.
    pub(super) markers: Vec<HistoryEvent>,
    /// Whether the instance is suspended after them.
    pub(super) suspended: bool,
}

impl Applied {
    /// The status of a turn that does not run the orchestrator (suspended, or only markers
    /// or stale messages), from the status `before` it.
    pub(super) fn idle_status(&self, before: RuntimeStatus) -> RuntimeStatus {
        if self.suspended {
            RuntimeStatus::Suspended
        } else if before == RuntimeStatus::Suspended {
            RuntimeStatus::Running
        } else {
            before
        }
    }

    /// Whether the orchestrator runs: not suspended, and an event for it.
    pub(super) fn runs(&self) -> bool {
        !self.suspended && !self.new_events.is_empty()
    }

    /// The markers, then the new events: what the orchestrator's turn applies.
    pub(super) fn into_events(self) -> Vec<HistoryEvent> {
        let mut events = self.markers;
        events.extend(self.new_events);
        events
    }
}

/// Which of `item`'s messages a turn applies: a suspend stops the turn at that point,
/// leaving later messages queued until the resume; a suspended instance consumes only
/// resumes and suspends; messages for an old execution are consumed and dropped. A local
/// turn (`is_local`) consumes nothing: its results come from this worker, not the queue.
pub(super) fn apply_messages(item: &OrchestrationWorkItem, is_local: bool) -> Applied {
    let mut applied = Applied {
        suspended: item.status == RuntimeStatus::Suspended,
        ..Applied::default()
    };
    for message in &item.messages {
        match &message.event.kind {
            EventKind::ExecutionResumed { .. } => {
                if applied.suspended {
                    applied.suspended = false;
                    applied.markers.push(message.event.clone());
                }
                applied.consumed.push(message.id);
            }
            EventKind::ExecutionSuspended { .. } => {
                // Events queued before the suspend run first (this turn); the suspend stays
                // queued for the next one. Consuming it now would drop them unapplied, e.g.
                // the `ExecutionStarted` of an instance suspended while Pending.
                if !applied.suspended && !applied.new_events.is_empty() {
                    break;
                }
                applied.consumed.push(message.id);
                if !applied.suspended {
                    applied.suspended = true;
                    applied.markers.push(message.event.clone());
                    break;
                }
            }
            _ if applied.suspended => {}
            _ => {
                applied.consumed.push(message.id);
                if is_current(message, &item.execution_id) {
                    applied.new_events.push(message.event.clone());
                }
            }
        }
    }
    if is_local {
        applied.consumed.clear();
    }
    applied
}

/// The failure of an instance whose orchestration `name` (at `version`) is not registered:
/// `versions` are the versions registered under that name (`None`: unversioned), `names`
/// every registered orchestration name.
pub(super) fn not_registered(
    name: &str,
    version: Option<&str>,
    versions: &[Option<&str>],
    names: &[&str],
) -> FailureDetails {
    let registered: Vec<String> = versions
        .iter()
        .map(|v| v.map_or_else(|| "(unversioned)".to_owned(), |v| format!("`{v}`")))
        .collect();
    let message = match (version, registered.is_empty()) {
        (_, true) => format!(
            "orchestration `{name}` is not registered on this worker; registered: [{}]",
            names.join(", ")
        ),
        (Some(v), false) => format!(
            "orchestration `{name}` version `{v}` is not registered on this worker (it has versions {}); \
             keep the code of every version that still has running instances",
            registered.join(", ")
        ),
        (None, false) => format!(
            "orchestration `{name}` without a version is not registered on this worker (it has versions {})",
            registered.join(", ")
        ),
    };
    FailureDetails::new(ORCHESTRATION_NOT_REGISTERED, message)
}

/// Where a turn's engine comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EngineSource {
    /// The local turn brought it (taken from the cache with its results).
    Local,
    /// The instance cache, when it holds the instance at this execution and history length.
    Cache,
    /// Nowhere: every turn replays ([`WorkerOptions::always_replay`](crate::WorkerOptions::always_replay)).
    None,
}

/// Where the engine of a turn comes from.
pub(super) fn engine_source(is_local: bool, always_replay: bool) -> EngineSource {
    match (is_local, always_replay) {
        (true, _) => EngineSource::Local,
        (false, true) => EngineSource::None,
        (false, false) => EngineSource::Cache,
    }
}

/// How a turn gets an engine that has applied the committed history.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Rehydration<E> {
    /// The cached engine (it has applied the history already).
    Cached(E),
    /// A fresh engine; nothing to replay (the first turn).
    Fresh,
    /// A fresh engine that replays the history, read from the store.
    Replay,
}

/// How a turn with the `cached` engine (if any) of an instance with `history_len` events
/// gets its engine.
pub(super) fn rehydration<E>(cached: Option<E>, history_len: usize) -> Rehydration<E> {
    match cached {
        Some(engine) => Rehydration::Cached(engine),
        None if history_len == 0 => Rehydration::Fresh,
        None => Rehydration::Replay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::InstanceId;
    use crate::store::CorruptMessage;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("a valid time")
    }

    /// A message of a given kind; `stale` puts it in another execution.
    #[derive(Clone, Copy, Debug)]
    enum M {
        Event,
        Stale,
        Suspend,
        Resume,
        Terminate,
        StaleTerminate,
        Rewind,
    }

    fn item(status: RuntimeStatus, history_len: usize, messages: &[M]) -> OrchestrationWorkItem {
        let current = ExecutionId::generate();
        let old = ExecutionId::generate();
        let messages = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let (kind, execution) = match m {
                    M::Event => (
                        EventKind::EventRaised {
                            name: format!("e{i}"),
                            input: Payload::null(),
                        },
                        None,
                    ),
                    M::Stale => (
                        EventKind::TimerFired {
                            timer_id: 0,
                            fire_at: at(0),
                        },
                        Some(old.clone()),
                    ),
                    M::Suspend => (EventKind::ExecutionSuspended { reason: None }, None),
                    M::Resume => (EventKind::ExecutionResumed { reason: None }, None),
                    M::Terminate => (
                        EventKind::ExecutionTerminated {
                            reason: Some("stop".into()),
                        },
                        None,
                    ),
                    M::StaleTerminate => (
                        EventKind::ExecutionTerminated { reason: None },
                        Some(old.clone()),
                    ),
                    M::Rewind => (EventKind::ExecutionRewound { reason: None }, None),
                };
                OrchestrationMessage {
                    id: i as i64 + 1,
                    execution_id: execution,
                    event: HistoryEvent::new(at(1), kind),
                }
            })
            .collect();
        OrchestrationWorkItem {
            instance_id: InstanceId::new("i").expect("a valid id"),
            execution_id: current,
            name: "flow".into(),
            version: None,
            status,
            history_len,
            messages,
            corrupt_messages: Vec::new(),
            lock_token: Some(crate::store::LockToken::new("token")),
        }
    }

    fn names(events: &[HistoryEvent]) -> Vec<&'static str> {
        events.iter().map(|e| e.kind.type_name()).collect()
    }

    /// A row of [`apply_messages_table`]: the instance's status, its queued messages, a
    /// local turn?; then the consumed ids, the count of new events, the markers, suspended
    /// after?, does the orchestrator run?, the status of a turn that does not run it.
    type ApplyRow = (
        RuntimeStatus,
        &'static [M],
        bool,
        &'static [i64],
        usize,
        &'static [&'static str],
        bool,
        bool,
        RuntimeStatus,
    );

    #[test]
    fn apply_messages_table() {
        use M::*;
        use RuntimeStatus::{Running, Suspended};
        #[rustfmt::skip]
        let rows: &[ApplyRow] = &[
            // A running instance applies its events.
            (Running, &[Event, Event], false, &[1, 2], 2, &[], false, true, Running),
            // A suspended instance with an event: nothing consumed, nothing runs.
            (Suspended, &[Event], false, &[], 0, &[], true, false, Suspended),
            // Resume then an event: the marker and the event, in one turn.
            (Suspended, &[Resume, Event], false, &[1, 2], 1, &["ExecutionResumed"], false, true, Running),
            // Events before a suspend run; the suspend stays queued for the next turn.
            (Running, &[Event, Suspend, Event], false, &[1], 1, &[], false, true, Running),
            // A suspend first: recorded, later events wait for the resume.
            (Running, &[Suspend, Event], false, &[1], 0, &["ExecutionSuspended"], true, false, Suspended),
            // A resume of a running instance is consumed without a marker.
            (Running, &[Resume], false, &[1], 0, &[], false, false, Running),
            // A second suspend of a suspended instance is consumed, no marker.
            (Suspended, &[Suspend, Event], false, &[1], 0, &[], true, false, Suspended),
            // A stale execution's message is consumed and dropped.
            (Running, &[Stale, Event], false, &[1, 2], 1, &[], false, true, Running),
            (Running, &[Stale], false, &[1], 0, &[], false, false, Running),
            // A local turn consumes nothing from the queue.
            (Running, &[Event], true, &[], 1, &[], false, true, Running),
        ];
        for (row, &(status, messages, local, consumed, new, markers, suspended, runs, idle)) in
            rows.iter().enumerate()
        {
            let applied = apply_messages(&item(status, 3, messages), local);
            assert_eq!(applied.consumed, consumed, "row {row}: consumed");
            assert_eq!(applied.new_events.len(), new, "row {row}: new events");
            assert_eq!(names(&applied.markers), markers, "row {row}: markers");
            assert_eq!(applied.suspended, suspended, "row {row}: suspended");
            assert_eq!(applied.runs(), runs, "row {row}: runs");
            assert_eq!(applied.idle_status(status), idle, "row {row}: idle status");
        }
    }

    #[test]
    fn terminate_table() {
        use M::*;
        // (messages, terminated, failure message)
        let rows: &[(&[M], bool, &str)] = &[
            // A terminate among others wins and consumes every message.
            (&[Event, Terminate, Event], true, "terminated: stop"),
            (&[Suspend, Terminate], true, "terminated: stop"),
            // One for an old execution does not terminate this one.
            (&[StaleTerminate, Event], false, ""),
            (&[Event, Resume], false, ""),
        ];
        for (row, &(messages, terminated, message)) in rows.iter().enumerate() {
            let item = item(RuntimeStatus::Running, 3, messages);
            let mut commit = commit_skeleton(&item, None, at(5), None);
            let failure = terminate(&item, &mut commit, at(5));
            assert_eq!(failure.is_some(), terminated, "row {row}");
            if let Some(failure) = failure {
                assert_eq!(failure.error_type, TERMINATED, "row {row}");
                assert_eq!(failure.message, message, "row {row}");
                assert_eq!(commit.status, RuntimeStatus::Terminated, "row {row}");
                let all: Vec<i64> = item.messages.iter().map(|m| m.id).collect();
                assert_eq!(commit.consumed, all, "row {row}");
                assert_eq!(
                    names(&commit.events),
                    ["OrchestratorStarted", "ExecutionTerminated"],
                    "row {row}"
                );
                assert_eq!(
                    commit.output.as_ref().map(Payload::as_json),
                    Some("\"stop\"")
                );
            } else {
                assert_eq!(commit.status, RuntimeStatus::Running, "row {row}");
                assert!(
                    commit.consumed.is_empty() && commit.events.is_empty(),
                    "row {row}"
                );
            }
        }
    }

    #[test]
    fn rewind_message_table() {
        use M::*;
        use RuntimeStatus::{Completed, Failed, Pending, Running};
        // (status, history length, messages, rewinds)
        let rows: &[(RuntimeStatus, usize, &[M], bool)] = &[
            (Failed, 4, &[Event, Rewind], true),
            (Pending, 4, &[Rewind], true),
            // A new instance (no history) or a running one is not rewound.
            (Pending, 0, &[Rewind], false),
            (Running, 4, &[Rewind], false),
            (Completed, 4, &[Rewind], false),
            (Failed, 4, &[Event], false),
        ];
        for (row, &(status, history_len, messages, rewinds)) in rows.iter().enumerate() {
            let item = item(status, history_len, messages);
            assert_eq!(rewind_message(&item).is_some(), rewinds, "row {row}");
        }
    }

    #[test]
    fn a_leased_commit_presents_the_lease_and_a_local_one_its_activities() {
        let item = item(RuntimeStatus::Running, 3, &[M::Event]);
        let leased = commit_skeleton(&item, None, at(5), Some(Duration::from_secs(9)));
        assert_eq!(
            leased.authority,
            CommitAuthority::Leased(crate::store::LockToken::new("token"))
        );
        assert_eq!(leased.lease_activities, Some(Duration::from_secs(9)));
        assert_eq!((leased.history_len, leased.updated_at), (3, at(5)));
        let applied = vec![ActivityLease::new(4, crate::store::LockToken::new("a"))];
        let local = commit_skeleton(&item, Some(applied.clone()), at(5), None);
        assert_eq!(
            local.authority,
            CommitAuthority::Unleased {
                applied_activities: applied
            }
        );
        let mut entity = item.clone();
        entity.instance_id = crate::entity::EntityId::new("counter", "k")
            .expect("an entity id")
            .instance_id();
        let turn = commit_skeleton(&entity, None, at(5), None);
        assert!(matches!(turn.authority, CommitAuthority::EntityTurn(_)));
    }

    #[test]
    fn corrupt_reason_names_the_first_and_counts_the_rest() {
        let mut item = item(RuntimeStatus::Running, 3, &[]);
        assert_eq!(corrupt_reason(&item), None);
        item.corrupt_messages = (0..3)
            .map(|id| CorruptMessage {
                id: 10 + id,
                reason: format!("bad {id}"),
            })
            .collect();
        assert_eq!(
            corrupt_reason(&item).as_deref(),
            Some("queued message 10 of instance i does not decode: bad 0 (and 2 more)")
        );
        item.corrupt_messages.truncate(1);
        assert_eq!(
            corrupt_reason(&item).as_deref(),
            Some("queued message 10 of instance i does not decode: bad 0")
        );
    }

    #[test]
    fn not_registered_table() {
        let v = Some;
        // (name, version, registered versions of the name, expected message)
        type Row<'a> = (&'a str, Option<&'a str>, Vec<Option<&'a str>>, &'a str);
        let rows: &[Row<'_>] = &[
            (
                "unknown",
                None,
                vec![],
                "orchestration `unknown` is not registered on this worker; registered: [flow, other]",
            ),
            (
                "flow",
                Some("3"),
                vec![v("1"), None],
                "orchestration `flow` version `3` is not registered on this worker (it has versions `1`, (unversioned)); \
                 keep the code of every version that still has running instances",
            ),
            (
                "flow",
                None,
                vec![v("1"), v("2")],
                "orchestration `flow` without a version is not registered on this worker (it has versions `1`, `2`)",
            ),
        ];
        for (row, (name, version, versions, message)) in rows.iter().enumerate() {
            let failure = not_registered(name, *version, versions, &["flow", "other"]);
            assert_eq!(
                failure.error_type, ORCHESTRATION_NOT_REGISTERED,
                "row {row}"
            );
            assert_eq!(failure.message, *message, "row {row}");
        }
    }

    #[test]
    fn engine_table() {
        let rows = [
            ((true, false), EngineSource::Local),
            ((true, true), EngineSource::Local),
            ((false, true), EngineSource::None),
            ((false, false), EngineSource::Cache),
        ];
        for ((local, always_replay), expected) in rows {
            assert_eq!(engine_source(local, always_replay), expected);
        }
        let rows = [
            ((Some("engine"), 0), Rehydration::Cached("engine")),
            ((Some("engine"), 9), Rehydration::Cached("engine")),
            ((None, 0), Rehydration::Fresh),
            ((None, 9), Rehydration::Replay),
        ];
        for ((cached, history_len), expected) in rows {
            assert_eq!(rehydration(cached, history_len), expected);
        }
    }
}
