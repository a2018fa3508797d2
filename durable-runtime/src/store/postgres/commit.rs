//! The PostgreSQL store's set-based commit of a batch of turns: lock and check every row, then
//! one statement per kind of write.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::GenericClient;

use crate::clock;
use crate::error::StoreError;
use crate::payload::Payload;
use crate::store::codec::{backend, encode_json, encode_trace_context, micros};
use crate::store::rules::{self, InstanceRow};
use crate::store::{
    ActivityWorkItem, CountDeltas, LockToken, NewInstance, OrchestrationCommit, OutboundMessage,
    failed_sub_orchestration, lease_millis,
};

use super::{Core, Wakeups};

/// The batch commit of turns and what it writes.
impl Core {
    /// Commits a batch of turns set-based: the rows of every instance (and every applied
    /// activity) are locked and checked first, in one query each; then each kind of write is
    /// one statement for the whole batch. A refused turn writes nothing, so no savepoint is
    /// needed; any error after the checks fails the whole transaction.
    pub(super) async fn commit_batch(
        &self,
        tx: &impl GenericClient,
        commits: &[OrchestrationCommit],
        wake: &mut Wakeups,
        counts: &mut CountDeltas,
    ) -> Result<Vec<Result<Vec<ActivityWorkItem>, StoreError>>, StoreError> {
        // Everything that can fail on data is done before the first write.
        let events = commits
            .iter()
            .map(|c| {
                c.events
                    .iter()
                    .map(|event| encode_json("history event", event))
                    .collect()
            })
            .collect::<Result<Vec<Vec<String>>, StoreError>>()?;
        let failures = commits
            .iter()
            .map(|c| {
                c.failure
                    .as_ref()
                    .map(|failure| encode_json("failure details", failure))
                    .transpose()
            })
            .collect::<Result<Vec<Option<String>>, StoreError>>()?;

        // Check: lock the batch's instance rows, and the rows of the instances its messages
        // go to (whose `due_at` they move), in the order of `LOCK_ROWS`, as every writer locks rows:
        // two batches, or a batch and a client write, never wait on each other in a cycle.
        let mut ids: Vec<&str> = commits
            .iter()
            .flat_map(|c| {
                std::iter::once(c.instance_id.as_str())
                    .chain(c.messages.iter().map(|m| m.instance_id.as_str()))
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let statement = tx
            .prepare_cached(&self.sql(
                "SELECT instance_id, lock_token, history_len, lock_expires, execution_id, status
                 FROM {s}.instances WHERE instance_id = ANY($1)
                 ORDER BY starts_with(instance_id, '@'), instance_id FOR UPDATE",
            ))
            .await
            .map_err(backend)?;
        type Current = (Option<String>, i64, Option<i64>, String, i32);
        let current: HashMap<String, Current> = tx
            .query(&statement, &[&ids])
            .await
            .map_err(backend)?
            .into_iter()
            .map(|row| {
                (
                    row.get(0),
                    (row.get(1), row.get(2), row.get(3), row.get(4), row.get(5)),
                )
            })
            .collect();
        let mut applied: Vec<i64> = commits
            .iter()
            .flat_map(|c| {
                c.authority
                    .applied_activities()
                    .iter()
                    .map(|lease| lease.id)
            })
            .collect();
        applied.sort_unstable();
        let activity_leases: HashMap<i64, Option<String>> = if applied.is_empty() {
            HashMap::new()
        } else {
            let statement = tx
                .prepare_cached(&self.sql(
                    "SELECT id, lock_token FROM {s}.activities WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                ))
                .await
                .map_err(backend)?;
            tx.query(&statement, &[&applied])
                .await
                .map_err(backend)?
                .into_iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect()
        };
        let now = clock::now_millis();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut results: Vec<Result<Vec<ActivityWorkItem>, StoreError>> =
            Vec::with_capacity(commits.len());
        for commit in commits {
            let id = commit.instance_id.as_str();
            let verdict = match current.get(id) {
                None => Err(StoreError::InstanceNotFound(commit.instance_id.clone())),
                Some(_) if !seen.insert(id) => Err(StoreError::LeaseLost(format!(
                    "instance {id} (a second turn in one batch)"
                ))),
                Some((token, history_len, expires, execution_id, status)) => {
                    let row = InstanceRow {
                        lock_token: token.as_deref(),
                        lock_expires: *expires,
                        history_len: usize::try_from(*history_len).unwrap_or(usize::MAX),
                        execution_id,
                        status: *status,
                    };
                    rules::check_instance(commit, row, now)
                        .and_then(|()| {
                            rules::check_activities(commit, |id, lock_token| {
                                activity_leases.get(&id).and_then(Option::as_deref)
                                    == Some(lock_token)
                            })
                        })
                        .map(|()| Vec::new())
                }
            };
            results.push(verdict);
        }
        let accepted: Vec<usize> = (0..commits.len()).filter(|&i| results[i].is_ok()).collect();
        if accepted.is_empty() {
            return Ok(results);
        }

        // Writes, one statement per kind for every accepted turn.
        let (done_ids, done_tokens): (Vec<i64>, Vec<&str>) = accepted
            .iter()
            .flat_map(|&i| commits[i].authority.applied_activities())
            .map(|lease| (lease.id, lease.lock_token.as_str()))
            .unzip();
        if !done_ids.is_empty() {
            let statement = tx
                .prepare_cached(&self.sql(
                    "DELETE FROM {s}.activities a USING UNNEST($1::bigint[], $2::text[]) AS r(id, token)
                     WHERE a.id = r.id AND a.lock_token = r.token",
                ))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&done_ids, &done_tokens])
                .await
                .map_err(backend)?;
        }
        let mut history_ids: Vec<&str> = Vec::new();
        let mut history_seqs: Vec<i64> = Vec::new();
        let mut history_events: Vec<&str> = Vec::new();
        for &i in &accepted {
            let base = i64::try_from(commits[i].history_len).unwrap_or(i64::MAX);
            for (offset, event) in events[i].iter().enumerate() {
                history_ids.push(commits[i].instance_id.as_str());
                history_seqs.push(base + i64::try_from(offset).unwrap_or(0));
                history_events.push(event);
            }
        }
        if !history_ids.is_empty() {
            let statement = tx
                .prepare_cached(&self.sql(
                    "INSERT INTO {s}.history (instance_id, seq, event)
                     SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[])",
                ))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&history_ids, &history_seqs, &history_events])
                .await
                .map_err(backend)?;
        }
        let consumed: Vec<i64> = accepted
            .iter()
            .flat_map(|&i| commits[i].consumed.iter().copied())
            .collect();
        if !consumed.is_empty() {
            let statement = tx
                .prepare_cached(&self.sql("DELETE FROM {s}.messages WHERE id = ANY($1)"))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&consumed])
                .await
                .map_err(backend)?;
        }
        self.insert_activities(tx, commits, &accepted, &mut results, wake)
            .await?;
        // The turns' messages, before the rows are released: a commit's own instances get
        // their `due_at` from the release's recount of their messages, which these are
        // among; the other receivers' move forward now (`MARK_DUE`).
        let mut own: Vec<&str> = accepted
            .iter()
            .map(|&i| commits[i].instance_id.as_str())
            .collect();
        own.sort_unstable();
        let soon = now + 1000;
        let messages: Vec<&OutboundMessage> = accepted
            .iter()
            .flat_map(|&i| commits[i].messages.iter())
            .collect();
        if !messages.is_empty() {
            self.insert_messages(tx, &messages, &own, true, counts)
                .await?;
            // Only messages to other instances that are visible within a second wake the
            // dispatchers here; a turn's messages to itself count through its `due_at`.
            wake.orchestrations |= messages.iter().any(|m| {
                m.visible_at.timestamp_millis() <= soon
                    && own.binary_search(&m.instance_id.as_str()).is_err()
            });
        }
        let mut update = InstanceUpdates::default();
        for &i in &accepted {
            let commit = &commits[i];
            update.ids.push(commit.instance_id.as_str());
            // A commit that only drops the messages of a finished instance appends nothing
            // and leaves the status as it is now (a rewind may have made it Pending).
            let status = (!crate::store::only_drops_messages(commit)).then(|| commit.status.code());
            if let (Some(to), Some(current)) = (status, current.get(commit.instance_id.as_str())) {
                counts.moved(commit.instance_id.as_str(), current.4, to);
            }
            update.statuses.push(status);
            update.updated.push(micros(commit.updated_at));
            update
                .lengths
                .push(i64::try_from(commit.history_len + commit.events.len()).unwrap_or(i64::MAX));
            update
                .outputs
                .push(commit.output.as_ref().map(Payload::as_json));
            update.failures.push(failures[i].as_deref());
            update
                .custom_changed
                .push(commit.custom_status.is_changed());
            update
                .customs
                .push(commit.custom_status.value().map(Payload::as_json));
        }
        let statement = tx
            .prepare_cached(&self.sql(
                "UPDATE {s}.instances i SET status = COALESCE(u.status, i.status),
                     updated_at = u.updated_at, history_len = u.history_len,
                     output = COALESCE(u.output, i.output),
                     failure = CASE WHEN COALESCE(u.status, i.status) = 3
                         THEN COALESCE(u.failure, i.failure) END,
                     custom_status = CASE WHEN u.custom_changed THEN u.custom_status ELSE i.custom_status END,
                     lock_token = NULL, lock_expires = NULL,
                     due_at = (SELECT MIN(m.visible_at) FROM {s}.messages m
                         WHERE m.instance_id = i.instance_id
                           AND (m.control OR COALESCE(u.status, i.status) <> 7))
                 FROM UNNEST($1::text[], $2::integer[], $3::bigint[], $4::bigint[], $5::text[],
                             $6::text[], $7::boolean[], $8::text[])
                     AS u(id, status, updated_at, history_len, output, failure, custom_changed, custom_status)
                 WHERE i.instance_id = u.id
                 RETURNING i.due_at",
            ))
            .await
            .map_err(backend)?;
        let released = tx
            .query(
                &statement,
                &[
                    &update.ids,
                    &update.statuses,
                    &update.updated,
                    &update.lengths,
                    &update.outputs,
                    &update.failures,
                    &update.custom_changed,
                    &update.customs,
                ],
            )
            .await
            .map_err(backend)?;
        for &i in &accepted {
            let commit = &commits[i];
            if let Some(next) = &commit.continue_as_new {
                self.continue_as_new(tx, commit, next, counts).await?;
                wake.orchestrations = true;
            }
        }
        for &i in &accepted {
            let commit = &commits[i];
            for child in &commit.new_instances {
                self.create_child(tx, commit, child, wake, counts).await?;
            }
            if commit.status.is_terminal() {
                wake.finished.push(commit.instance_id.clone());
            }
        }
        // A released instance with messages due within a second (that arrived during its
        // turn, or that it sent itself) wakes the dispatchers, in every process. A durable
        // timer due later (every parked instance holds one) is the timer wake-up's
        // (`next_visible_at`): waking for it would send every dispatcher on a fetch that
        // finds nothing. The second covers a timer that falls due while this commit is in
        // flight (the dispatcher that woke for it skipped the locked row, and
        // `next_visible_at` no longer reports it).
        wake.orchestrations |= released
            .iter()
            .any(|row| row.get::<_, Option<i64>>(0).is_some_and(|due| due <= soon));
        Ok(results)
    }

    /// Inserts the activities of the accepted turns in one statement; those created leased
    /// go into their turn's result.
    pub(super) async fn insert_activities(
        &self,
        tx: &impl GenericClient,
        commits: &[OrchestrationCommit],
        accepted: &[usize],
        results: &mut [Result<Vec<ActivityWorkItem>, StoreError>],
        wake: &mut Wakeups,
    ) -> Result<(), StoreError> {
        let expires = clock::now_millis();
        let tokens: Vec<Option<LockToken>> = accepted
            .iter()
            .map(|&i| commits[i].lease_activities.map(|_| LockToken::generate()))
            .collect();
        let mut rows = ActivityRows::default();
        for (&i, token) in accepted.iter().zip(&tokens) {
            let commit = &commits[i];
            for activity in &commit.activities {
                rows.instance_ids.push(commit.instance_id.as_str());
                rows.execution_ids.push(commit.execution_id.as_str());
                rows.scheduled.push(activity.scheduled_id);
                rows.names.push(activity.name.as_str());
                rows.inputs.push(activity.input.as_json());
                rows.dequeues.push(i32::from(token.is_some()));
                rows.tokens.push(token.as_ref().map(LockToken::as_str));
                rows.expires.push(
                    commit
                        .lease_activities
                        .map(|lease| expires + lease_millis(lease)),
                );
                rows.trace_contexts
                    .push(encode_trace_context(activity.trace_context.as_ref()));
            }
        }
        if rows.instance_ids.is_empty() {
            return Ok(());
        }
        let statement = tx
            .prepare_cached(&self.sql(
                "INSERT INTO {s}.activities (instance_id, execution_id, scheduled_id, name, input, dequeue_count, lock_token, lock_expires, trace_context)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                                      $6::integer[], $7::text[], $8::bigint[], $9::text[])
                 RETURNING id, instance_id, scheduled_id",
            ))
            .await
            .map_err(backend)?;
        let returned = tx
            .query(
                &statement,
                &[
                    &rows.instance_ids,
                    &rows.execution_ids,
                    &rows.scheduled,
                    &rows.names,
                    &rows.inputs,
                    &rows.dequeues,
                    &rows.tokens,
                    &rows.expires,
                    &rows.trace_contexts,
                ],
            )
            .await
            .map_err(backend)?;
        // An instance has one turn per batch and a turn's scheduled ids are distinct, so
        // (instance, scheduled id) names each new row.
        let ids: HashMap<(String, i64), i64> = returned
            .into_iter()
            .map(|row| ((row.get(1), row.get(2)), row.get(0)))
            .collect();
        for (&i, token) in accepted.iter().zip(&tokens) {
            let commit = &commits[i];
            for activity in &commit.activities {
                let key = (commit.instance_id.to_string(), activity.scheduled_id);
                let Some(&id) = ids.get(&key) else {
                    return Err(StoreError::Backend(
                        format!(
                            "activity {} of instance {} was inserted but not returned",
                            activity.scheduled_id, commit.instance_id
                        )
                        .into(),
                    ));
                };
                match (token, &mut results[i]) {
                    (Some(token), Ok(leased)) => leased.push(activity.leased(
                        id,
                        &commit.instance_id,
                        &commit.execution_id,
                        token,
                    )),
                    _ => wake.activities = true,
                }
            }
        }
        Ok(())
    }

    /// Continue-as-new for one committed turn: the history is replaced by the new execution.
    pub(super) async fn continue_as_new(
        &self,
        tx: &impl GenericClient,
        commit: &OrchestrationCommit,
        next: &crate::store::NewExecution,
        counts: &mut CountDeltas,
    ) -> Result<(), StoreError> {
        let id = commit.instance_id.as_str();
        let statement = tx
            .prepare_cached(&self.sql("DELETE FROM {s}.history WHERE instance_id = $1"))
            .await
            .map_err(backend)?;
        tx.execute(&statement, &[&id]).await.map_err(backend)?;
        let statement = tx
            .prepare_cached(&self.sql(
                "UPDATE {s}.instances SET execution_id = $2, input = $3, output = NULL, failure = NULL, history_len = 0
                 WHERE instance_id = $1",
            ))
            .await
            .map_err(backend)?;
        tx.execute(
            &statement,
            &[&id, &next.execution_id.as_str(), &next.input.as_json()],
        )
        .await
        .map_err(backend)?;
        let restarts: Vec<OutboundMessage> = std::iter::once(&next.started)
            .chain(&next.carryover)
            .map(|event| OutboundMessage {
                instance_id: commit.instance_id.clone(),
                execution_id: Some(next.execution_id.clone()),
                visible_at: commit.updated_at,
                event: event.clone(),
            })
            .collect();
        self.insert_messages(tx, &restarts.iter().collect::<Vec<_>>(), &[], true, counts)
            .await
    }

    /// Creates a sub-orchestration a turn started; an id in use gives the parent
    /// `SubOrchestrationFailed` instead.
    pub(super) async fn create_child(
        &self,
        tx: &impl GenericClient,
        commit: &OrchestrationCommit,
        child: &NewInstance,
        wake: &mut Wakeups,
        counts: &mut CountDeltas,
    ) -> Result<(), StoreError> {
        tx.batch_execute("SAVEPOINT child").await.map_err(backend)?;
        // Rolled back to the savepoint, the child changes no count.
        let mut child_counts = CountDeltas::default();
        match self.create_in(tx, child, &mut child_counts).await {
            Ok(()) => {
                tx.batch_execute("RELEASE SAVEPOINT child")
                    .await
                    .map_err(backend)?;
                counts.merge(child_counts);
                wake.orchestrations = true;
            }
            Err(StoreError::InstanceAlreadyExists { .. }) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT child; RELEASE SAVEPOINT child")
                    .await
                    .map_err(backend)?;
                if let Some(message) = failed_sub_orchestration(&commit.instance_id, child) {
                    self.insert_messages(tx, &[&message], &[], true, counts)
                        .await?;
                    wake.orchestrations = true;
                }
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }
}

/// The columns of one batched instance update, one entry per turn.
#[derive(Default)]
pub(super) struct InstanceUpdates<'a> {
    ids: Vec<&'a str>,
    statuses: Vec<Option<i32>>,
    updated: Vec<i64>,
    lengths: Vec<i64>,
    outputs: Vec<Option<&'a str>>,
    failures: Vec<Option<&'a str>>,
    custom_changed: Vec<bool>,
    customs: Vec<Option<&'a str>>,
}

/// The columns of one batched activity insert, one entry per activity.
#[derive(Default)]
pub(super) struct ActivityRows<'a> {
    instance_ids: Vec<&'a str>,
    execution_ids: Vec<&'a str>,
    scheduled: Vec<i64>,
    names: Vec<&'a str>,
    inputs: Vec<&'a str>,
    dequeues: Vec<i32>,
    tokens: Vec<Option<&'a str>>,
    expires: Vec<Option<i64>>,
    trace_contexts: Vec<Option<String>>,
}
