//! The SQLite store's commit of a turn (the lease/history check and every write of an
//! `OrchestrationCommit`) and its activity fetch.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::clock;
use crate::error::StoreError;
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::store::codec::{
    backend, decode_trace_context, encode_json, encode_trace_context, micros,
};
use crate::store::rules::{self, InstanceRow};
use crate::store::{
    ActivityLease, ActivityWorkItem, LockToken, OrchestrationCommit, OutboundMessage,
    failed_sub_orchestration, lease_millis,
};

use super::{
    FETCH_ACTIVITIES, Wakeups, count, create_instance, insert_message, insert_message_row,
    text_column,
};

/// Checks that `commit` may go in (its lease or, for a turn without one, that nobody else
/// holds the instance; its history length; its applied activities' leases). It writes
/// only when every check passed: a single applied activity is claimed (deleted) here.
pub(super) fn check_commit(
    conn: &Connection,
    commit: &OrchestrationCommit,
) -> Result<i32, StoreError> {
    let id = commit.instance_id.as_str();
    type Current = (Option<String>, i64, Option<i64>, String, i32);
    let current: Option<Current> = conn
        .prepare_cached(
            "SELECT lock_token, history_len, lock_expires, execution_id, status
             FROM instances WHERE instance_id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()
        })
        .map_err(backend)?;
    let Some((token, history_len, expires, execution_id, status)) = current else {
        return Err(StoreError::InstanceNotFound(commit.instance_id.clone()));
    };
    rules::check_instance(
        commit,
        InstanceRow {
            lock_token: token.as_deref(),
            lock_expires: expires,
            history_len: usize::try_from(history_len).unwrap_or(usize::MAX),
            execution_id: &execution_id,
            status,
        },
        clock::now_millis(),
    )?;
    let applied = commit.authority.applied_activities();
    if let [
        ActivityLease {
            id: activity_id,
            lock_token,
        },
    ] = applied
    {
        // One activity (every sequential step): claiming it is the commit's first write,
        // so a lost lease still leaves nothing written, and no separate read is needed.
        let deleted = conn
            .prepare_cached("DELETE FROM activities WHERE id = ?1 AND lock_token = ?2")
            .and_then(|mut s| s.execute(params![activity_id, lock_token]))
            .map_err(backend)?;
        if deleted != 1 {
            return Err(StoreError::LeaseLost(format!("activity {activity_id}")));
        }
    } else if !applied.is_empty() {
        let mut lease = conn
            .prepare_cached("SELECT lock_token FROM activities WHERE id = ?1")
            .map_err(backend)?;
        for ActivityLease {
            id: activity_id,
            lock_token,
        } in applied
        {
            let held: Option<Option<String>> = lease
                .query_row([activity_id], |r| r.get(0))
                .optional()
                .map_err(backend)?;
            if held.flatten().as_deref() != Some(lock_token.as_str()) {
                return Err(StoreError::LeaseLost(format!("activity {activity_id}")));
            }
        }
    }
    Ok(status)
}

/// Applies a commit that [`check_commit`] passed; `events` are its history events, encoded;
/// `status_before` the status code the check read. Any error here is a back-end failure
/// part-way through, for the caller to roll back.
pub(super) fn commit_orchestration(
    conn: &Connection,
    commit: &OrchestrationCommit,
    status_before: i32,
    events: &[String],
    wake: &mut Wakeups,
) -> Result<Vec<ActivityWorkItem>, StoreError> {
    let id = commit.instance_id.as_str();
    // A single applied activity was claimed by `check_commit`.
    let applied = commit.authority.applied_activities();
    if applied.len() > 1 {
        let mut delete = conn
            .prepare_cached("DELETE FROM activities WHERE id = ?1")
            .map_err(backend)?;
        for lease in applied {
            delete.execute([lease.id]).map_err(backend)?;
        }
    }
    let mut insert_event = conn
        .prepare_cached("INSERT INTO history (instance_id, seq, event) VALUES (?1, ?2, ?3)")
        .map_err(backend)?;
    for (offset, event) in events.iter().enumerate() {
        insert_event
            .execute(params![id, (commit.history_len + offset) as i64, event])
            .map_err(backend)?;
    }
    let mut delete = conn
        .prepare_cached("DELETE FROM messages WHERE id = ?1")
        .map_err(backend)?;
    for message_id in &commit.consumed {
        delete.execute([message_id]).map_err(backend)?;
    }
    let mut insert_activity = conn
        .prepare_cached(
            "INSERT INTO activities (instance_id, execution_id, scheduled_id, name, input, dequeue_count, lock_token, lock_expires, trace_context)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        )
        .map_err(backend)?;
    let lease = commit.lease_activities.map(|lease| {
        (
            LockToken::generate(),
            clock::now_millis() + lease_millis(lease),
        )
    });
    let mut leased = Vec::new();
    for activity in &commit.activities {
        let activity_id: i64 = insert_activity
            .query_row(
                params![
                    id,
                    commit.execution_id.as_str(),
                    activity.scheduled_id,
                    activity.name,
                    activity.input.as_json(),
                    i64::from(lease.is_some()),
                    lease.as_ref().map(|(token, _)| token.as_str()),
                    lease.as_ref().map(|(_, expires)| *expires),
                    encode_trace_context(activity.trace_context.as_ref()),
                ],
                |row| row.get(0),
            )
            .map_err(backend)?;
        match &lease {
            Some((token, _)) => leased.push(activity.leased(
                activity_id,
                &commit.instance_id,
                &commit.execution_id,
                token,
            )),
            None => wake.activities = true,
        }
    }
    // The instance's own new messages (timers, continue-as-new's start) go in as rows only:
    // the row update below computes its `due_at` from them.
    if let Some(next) = &commit.continue_as_new {
        for event in std::iter::once(&next.started).chain(&next.carryover) {
            insert_message_row(
                conn,
                &OutboundMessage {
                    instance_id: commit.instance_id.clone(),
                    execution_id: Some(next.execution_id.clone()),
                    visible_at: commit.updated_at,
                    event: event.clone(),
                },
            )?;
        }
        wake.orchestrations = true;
    }
    for message in &commit.messages {
        if message.instance_id == commit.instance_id {
            insert_message_row(conn, message)?;
        } else {
            insert_message(conn, message)?;
        }
        wake.orchestrations = true;
    }
    for child in &commit.new_instances {
        match create_instance(conn, child) {
            Ok(()) => wake.orchestrations = true,
            Err(StoreError::InstanceAlreadyExists { .. }) => {
                if let Some(message) = failed_sub_orchestration(&commit.instance_id, child) {
                    insert_message(conn, &message)?;
                    wake.orchestrations = true;
                }
            }
            Err(other) => return Err(other),
        }
    }
    let custom_status_changed = commit.custom_status.is_changed();
    let custom_status = commit.custom_status.value();
    let failure = commit
        .failure
        .as_ref()
        .map(|failure| encode_json("failure details", failure))
        .transpose()?;
    // A failure is kept only while the instance is Failed (status code 3): a rewound
    // instance runs again without it.
    // The row's update comes last, so it releases the lease and recomputes `due_at` from
    // the messages still queued (those that arrived during the turn, and its own new ones)
    // in one write of the row and of `instances_by_due` (see `REFRESH_DUE`).
    // SQLite rewrites the entry of every index over a column the UPDATE assigns, changed
    // or not: leaving `status` out when it stays keeps `instances_by_status` untouched (one
    // page less to write per turn).
    // A commit that only drops messages keeps the status the row has now (see
    // `only_drops_messages`).
    let status = if crate::store::only_drops_messages(commit) {
        status_before
    } else {
        commit.status.code()
    };
    let due_at = conn.prepare_cached(if status_before == status {
        "UPDATE instances SET updated_at = ?3, history_len = ?4,
             output = COALESCE(?5, output), failure = CASE WHEN ?2 = 3 THEN COALESCE(?6, failure) END,
             custom_status = CASE WHEN ?7 THEN ?8 ELSE custom_status END,
             lock_token = NULL, lock_expires = NULL, due_at = (
                 SELECT MIN(m.visible_at) FROM messages m
                 WHERE m.instance_id = ?1 AND (m.control = 1 OR ?2 != 7))
         WHERE instance_id = ?1 AND status = ?2 RETURNING due_at"
    } else {
        "UPDATE instances SET status = ?2, updated_at = ?3, history_len = ?4,
             output = COALESCE(?5, output), failure = CASE WHEN ?2 = 3 THEN COALESCE(?6, failure) END,
             custom_status = CASE WHEN ?7 THEN ?8 ELSE custom_status END,
             lock_token = NULL, lock_expires = NULL, due_at = (
                 SELECT MIN(m.visible_at) FROM messages m
                 WHERE m.instance_id = ?1 AND (m.control = 1 OR ?2 != 7))
         WHERE instance_id = ?1 RETURNING due_at"
    })
    .and_then(|mut s| {
        s.query_row(
            params![
                id,
                status,
                micros(commit.updated_at),
                (commit.history_len + commit.events.len()) as i64,
                commit.output.as_ref().map(Payload::as_json),
                failure,
                custom_status_changed,
                custom_status.map(Payload::as_json),
            ],
            |row| row.get::<_, Option<i64>>(0),
        )
        .optional()
    })
    .map_err(backend)?
    .flatten();
    // Messages that arrived while the turn ran (a signal to a busy entity, an event raised
    // meanwhile) make the released instance due at once: the dispatchers are told, or they
    // would find it only at their next poll (the fetches during the turn passed over it,
    // leased). A due time within a second wakes them too, as on PostgreSQL.
    if due_at.is_some_and(|at| at <= clock::now_millis() + 1000) {
        wake.orchestrations = true;
    }
    count(|c| c.moved(id, status_before, status));
    if let Some(next) = &commit.continue_as_new {
        conn.prepare_cached("DELETE FROM history WHERE instance_id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(backend)?;
        conn.prepare_cached(
            "UPDATE instances SET execution_id = ?2, input = ?3, output = NULL, failure = NULL, history_len = 0
             WHERE instance_id = ?1",
        )
        .and_then(|mut s| s.execute(params![id, next.execution_id.as_str(), next.input.as_json()]))
        .map_err(backend)?;
    }
    if commit.status.is_terminal() && status == commit.status.code() {
        wake.finished.push(commit.instance_id.clone());
    }
    Ok(leased)
}

pub(super) fn fetch_activities(
    conn: &Connection,
    max: usize,
    lease: Duration,
) -> Result<Vec<ActivityWorkItem>, StoreError> {
    let now = clock::now_millis();
    let token = LockToken::generate();
    let rows = conn
        .prepare_cached(FETCH_ACTIVITIES)
        .and_then(|mut s| {
            s.query_map(
                params![token, now + lease_millis(lease), now, max as i64],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        text_column(r, 5)?,
                        r.get::<_, u32>(6)?,
                        r.get::<_, Option<String>>(7).ok().flatten(),
                    ))
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(backend)?;
    let mut items: Vec<ActivityWorkItem> = rows
        .into_iter()
        .map(
            |(id, instance_id, execution_id, scheduled_id, name, input, attempt, trace_context)| {
                // An input that does not decode fails this activity only (see
                // `ActivityWorkItem::corrupt`), never the whole fetch.
                let (input, corrupt) = match input
                    .and_then(|text| Payload::from_json(text).map_err(|e| e.to_string()))
                {
                    Ok(input) => (input, None),
                    Err(reason) => (Payload::null(), Some(reason)),
                };
                ActivityWorkItem {
                    id,
                    instance_id: InstanceId::from_trusted(instance_id),
                    execution_id: ExecutionId::from_trusted(execution_id),
                    scheduled_id,
                    name,
                    input,
                    attempt,
                    lock_token: token.clone(),
                    corrupt,
                    trace_context: decode_trace_context(trace_context.as_deref()),
                }
            },
        )
        .collect();
    items.sort_by_key(|item| item.id);
    Ok(items)
}
