//! Group commit for client writes: starts ([`Store::create_instance`]) and messages
//! ([`Store::enqueue_message`]: raised events, terminations, suspends, signals, rewinds)
//! from many concurrent callers share one transaction.
//!
//! Each call queues its write and waits for its own answer. A few writer tasks take what
//! is queued (up to [`MAX_BATCH`] writes) and apply it in one transaction, set-based: one
//! statement reads and locks the orchestration rows the batch touches (in id order, as the
//! turn commits lock them) and one reads the entity rows (locked only at the end, before
//! their `due_at` moves); the answers are decided in queue order from those statuses (a start
//! later in the batch sees the instance an earlier start created; a start that reuses a
//! finished instance's id drops what the batch queued for the old one, as the writes one by
//! one would); then one statement inserts the new instance rows and one the messages (each
//! in id order), a rewind's status change is one update per rewind, and one `NOTIFY`
//! follows the commit. A caller alone pays what it paid before (one transaction); a
//! thousand concurrent callers pay a handful of transactions instead of a thousand, which is
//! what bounds a PostgreSQL server's rate of small writes (on a 2-core machine about 2,000
//! transactions/s, whatever their size).
//!
//! A write refused for its own reason (the instance exists, is missing, or is in a state
//! that does not accept the message) gets its error and writes nothing; the rest of the
//! batch commits. A statement that fails because of what the batch held (a unique
//! violation from a concurrent start of the same id on another worker, a deadlock, a
//! serialization failure) rolls the batch back, and each of its writes is then applied
//! alone, so it gets the answer it would have got without batching. Any other failure (no
//! connection, a lost server) answers the whole batch with that error at once. A failed
//! commit is reported to every caller whose write wrote something (whether it took effect
//! is unknown, as for any single transaction); a refused write keeps its own answer.
//!
//! The writers run as tasks of their own, on the Tokio runtime that connected the store,
//! so a caller that is cancelled (an HTTP client that hangs up) never cancels a transaction
//! holding other callers' writes.
//!
//! [`Store::create_instance`]: crate::store::Store::create_instance
//! [`Store::enqueue_message`]: crate::store::Store::enqueue_message

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::GenericClient;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::prefetch::Room;
use super::writes::Claim;
use super::{Core, Wakeups, postgres_error};
use crate::error::StoreError;
use crate::ids::{EntityId, InstanceId};
use crate::status::RuntimeStatus;
use crate::store::codec::{backend, micros, status_from_code};
use crate::store::{
    CountDeltas, NewInstance, OrchestrationWorkItem, OutboundMessage, status_on_enqueue,
};

/// The most writes one transaction applies.
pub(super) const MAX_BATCH: usize = 512;

/// How many batches may be in flight at once (each holds one pooled connection).
const WRITERS: usize = 3;

/// One queued client write and where its answer goes.
enum ClientWrite {
    Create {
        new: NewInstance,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Enqueue {
        message: OutboundMessage,
        accept: Vec<RuntimeStatus>,
        reply: oneshot::Sender<Result<RuntimeStatus, StoreError>>,
    },
}

impl ClientWrite {
    fn instance_id(&self) -> &InstanceId {
        match self {
            Self::Create { new, .. } => &new.instance_id,
            Self::Enqueue { message, .. } => &message.instance_id,
        }
    }
}

/// What a write's caller is told, decided before anything is written.
enum Answer {
    Created,
    Enqueued(RuntimeStatus),
    Refused(StoreError),
}

/// The queue of client writes; dropping it (with the store) ends the writer tasks once
/// they have answered what was queued.
pub(super) struct ClientWrites {
    queue: mpsc::UnboundedSender<ClientWrite>,
}

impl ClientWrites {
    /// Starts the writer tasks on the current Tokio runtime.
    pub(super) fn start(core: Arc<Core>) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WRITERS {
            tokio::spawn(writer(core.clone(), receiver.clone()));
        }
        Self { queue }
    }

    /// Queues the creation of `new` and waits for its answer.
    pub(super) async fn create(&self, new: NewInstance) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(ClientWrite::Create { new, reply })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues `message` (accepted while the instance's status is one of `accept`) and
    /// waits for its answer: the status the instance had.
    pub(super) async fn enqueue(
        &self,
        message: OutboundMessage,
        accept: &[RuntimeStatus],
    ) -> Result<RuntimeStatus, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(ClientWrite::Enqueue {
                message,
                accept: accept.to_vec(),
                reply,
            })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// One writer: takes up to [`MAX_BATCH`] queued writes (waiting for the first) and
/// applies them; ends when the queue is closed and empty.
async fn writer(core: Arc<Core>, receiver: Arc<Mutex<mpsc::UnboundedReceiver<ClientWrite>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(write) => batch.push(write),
                    Err(_) => break,
                }
            }
        }
        apply(&core, batch).await;
    }
}

/// Applies `batch` in one transaction and answers every caller; when a statement fails
/// for a reason that depends on the batch, applies each write alone.
async fn apply(core: &Core, batch: Vec<ClientWrite>) {
    match core.client_batch(&batch).await {
        Ok(answers) => {
            for (write, answer) in batch.into_iter().zip(answers) {
                reply(write, answer);
            }
        }
        Err(BatchError::BeforeCommit(error)) if batch.len() > 1 && depends_on_the_batch(&error) => {
            tracing::debug!(%error, writes = batch.len(), "a batch of client writes failed; applying them one by one");
            for write in batch {
                let single = [write];
                let answer = match core.client_batch(&single).await {
                    Ok(mut answers) => answers.pop().expect("one answer per write"),
                    Err(BatchError::BeforeCommit(error)) => Answer::Refused(error),
                    Err(BatchError::Commit(error, mut answers)) => {
                        match answers.pop().expect("one answer per write") {
                            refused @ Answer::Refused(_) => refused,
                            _ => Answer::Refused(error),
                        }
                    }
                };
                reply(into_only(single), answer);
            }
        }
        Err(BatchError::BeforeCommit(error)) => {
            let answers = (0..batch.len()).map(|_| None).collect();
            answer_all(batch, answers, error);
        }
        Err(BatchError::Commit(error, answers)) => {
            // A write refused before anything was written keeps its own answer; the others
            // get the commit's error (whether they took effect is unknown).
            let answers = answers
                .into_iter()
                .map(|answer| match answer {
                    refused @ Answer::Refused(_) => Some(refused),
                    _ => None,
                })
                .collect();
            answer_all(batch, answers, error);
        }
    }
}

/// Answers each write with its own answer where it has one, else with `error` (the first
/// such caller gets the error itself, the others a copy: `StoreError::copy_for_another_caller`).
fn answer_all(batch: Vec<ClientWrite>, answers: Vec<Option<Answer>>, error: StoreError) {
    let copy = error.copy_for_another_caller();
    let mut error = Some(error);
    for (write, answer) in batch.into_iter().zip(answers) {
        let answer = answer.unwrap_or_else(|| {
            Answer::Refused(
                error
                    .take()
                    .unwrap_or_else(|| copy.copy_for_another_caller()),
            )
        });
        reply(write, answer);
    }
}

fn into_only(single: [ClientWrite; 1]) -> ClientWrite {
    let [write] = single;
    write
}

/// Sends `answer` to the caller of `write` (who may have gone: nothing to do then).
fn reply(write: ClientWrite, answer: Answer) {
    match write {
        ClientWrite::Create { reply, .. } => {
            let _ = reply.send(match answer {
                Answer::Created => Ok(()),
                Answer::Refused(error) => Err(error),
                Answer::Enqueued(_) => unreachable!("a start is answered Created or Refused"),
            });
        }
        ClientWrite::Enqueue { reply, .. } => {
            let _ = reply.send(match answer {
                Answer::Enqueued(status) => Ok(status),
                Answer::Refused(error) => Err(error),
                Answer::Created => unreachable!("a message is answered Enqueued or Refused"),
            });
        }
    }
}

/// What a batch's statements did: one answer per write, what it leased ahead, and
/// whether it made work due for any worker (new instances, messages to receivers not
/// leased ahead).
struct Written {
    answers: Vec<Answer>,
    ahead: Ahead,
    others_due: bool,
}

/// The receivers a batch leased ahead for this process's dispatchers (`prefetch.rs`),
/// for `lease`, and the queued items that waited too long, to release after the commit.
struct Ahead {
    items: Vec<OrchestrationWorkItem>,
    lease: Duration,
    stale: Vec<OrchestrationWorkItem>,
}

/// Why a batch wrote nothing (`BeforeCommit`: rolled back) or may have (`Commit`, with
/// the answers decided before it: the refused writes wrote nothing whatever the commit did).
enum BatchError {
    BeforeCommit(StoreError),
    Commit(StoreError, Vec<Answer>),
}

/// Does `error` depend on what the batch held, so that its writes applied one by one may
/// succeed (a unique violation from a concurrent start elsewhere, a deadlock, a
/// serialization failure)? Anything else (no connection, a lost server) would fail each of
/// them the same way: the batch is answered with it at once. A batch's only new instance
/// that lost the race for its id to a concurrent batch fails the insert as
/// `InstanceAlreadyExists` (`insert_instances`); that is the start's answer alone, so the
/// batch's other writes are applied one by one too and get theirs.
fn depends_on_the_batch(error: &StoreError) -> bool {
    use tokio_postgres::error::SqlState;
    if matches!(error, StoreError::InstanceAlreadyExists { .. }) {
        return true;
    }
    postgres_error(error)
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|code| {
            [
                SqlState::UNIQUE_VIOLATION,
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::T_R_SERIALIZATION_FAILURE,
            ]
            .contains(code)
        })
}

impl Core {
    /// Applies `batch` in one transaction; one answer per write, in order.
    async fn client_batch(&self, batch: &[ClientWrite]) -> Result<Vec<Answer>, BatchError> {
        let mut client = self.client().await.map_err(BatchError::BeforeCommit)?;
        let tx = client
            .transaction()
            .await
            .map_err(|error| BatchError::BeforeCommit(backend(error)))?;
        let mut counts = CountDeltas::default();
        let leased_at = Instant::now();
        let written = self.write_batch(&tx, batch, &mut counts).await;
        let written = match written {
            Ok(written) => match self.write_counts(&tx, counts).await {
                Ok(()) => written,
                Err(error) => {
                    let _ = tx.rollback().await;
                    return Err(BatchError::BeforeCommit(error));
                }
            },
            Err(error) => {
                let _ = tx.rollback().await;
                return Err(BatchError::BeforeCommit(error));
            }
        };
        let Written {
            answers,
            ahead,
            others_due,
        } = written;
        let committed = tx.commit().await;
        drop(client);
        // Released by token: a no-op for leases the commit did not keep.
        self.release_leases(&ahead.stale).await;
        if let Err(error) = committed {
            // Whether it took effect is unknown: what it leased ahead goes back to the task
            // hub, so it does not wait for its leases (nothing, if it did not).
            self.release_leases(&ahead.items).await;
            return Err(BatchError::Commit(backend(error), answers));
        }
        let leased_ahead = !ahead.items.is_empty();
        if leased_ahead {
            let unwanted = self.prefetched.push(leased_at, ahead.lease, ahead.items);
            self.release_leases(&unwanted).await;
        }
        let wake = Wakeups {
            orchestrations: true,
            ..Wakeups::default()
        };
        // Other workers are told only of work they may fetch: an instance leased ahead is
        // this process's, whose dispatcher is woken either way.
        if others_due {
            self.notify_after_commit(&wake).await;
        }
        if others_due || leased_ahead {
            self.wake_local(&wake);
        }
        Ok(answers)
    }

    /// The batch's statements inside the open transaction (see [`Written`]).
    async fn write_batch(
        &self,
        tx: &impl GenericClient,
        batch: &[ClientWrite],
        counts: &mut CountDeltas,
    ) -> Result<Written, StoreError> {
        let mut statuses = self.batch_statuses(tx, batch).await?;
        let mut answers = Vec::with_capacity(batch.len());
        let mut reused: Vec<&str> = Vec::new();
        let mut created: Vec<&NewInstance> = Vec::new();
        let mut messages: Vec<OutboundMessage> = Vec::new();
        let mut moved: Vec<(&str, RuntimeStatus, RuntimeStatus)> = Vec::new();
        for write in batch {
            let id = write.instance_id().as_str();
            let answer = match write {
                ClientWrite::Create { new, .. } => match statuses.get(id).copied().flatten() {
                    Some(status) if !status.is_terminal() => {
                        Answer::Refused(StoreError::InstanceAlreadyExists {
                            instance_id: new.instance_id.clone(),
                            status,
                        })
                    }
                    existing => {
                        if existing.is_some() {
                            // A finished instance's id is reused: the old instance goes
                            // first, with what was queued for it earlier in this batch (as
                            // the same writes one by one would delete it).
                            if !reused.contains(&id) {
                                reused.push(id);
                            }
                            messages.retain(|m| m.instance_id.as_str() != id);
                            moved.retain(|(m, _, _)| *m != id);
                        }
                        statuses.insert(id, Some(RuntimeStatus::Pending));
                        created.push(new);
                        messages.push(OutboundMessage {
                            instance_id: new.instance_id.clone(),
                            execution_id: Some(new.execution_id.clone()),
                            visible_at: new.created_at,
                            event: new.started.clone(),
                        });
                        Answer::Created
                    }
                },
                ClientWrite::Enqueue {
                    message, accept, ..
                } => {
                    let is_entity = EntityId::from_instance_id(id).is_some();
                    match statuses.get(id).copied().flatten() {
                        // An entity is created by its first message (in `insert_messages`).
                        None if is_entity && !accept.contains(&RuntimeStatus::Pending) => {
                            Answer::Refused(StoreError::InstanceState {
                                instance_id: message.instance_id.clone(),
                                status: RuntimeStatus::Pending,
                            })
                        }
                        None if is_entity => {
                            statuses.insert(id, Some(RuntimeStatus::Pending));
                            messages.push(message.clone());
                            Answer::Enqueued(RuntimeStatus::Pending)
                        }
                        None => Answer::Refused(StoreError::InstanceNotFound(
                            message.instance_id.clone(),
                        )),
                        Some(status) if !accept.contains(&status) => {
                            Answer::Refused(StoreError::InstanceState {
                                instance_id: message.instance_id.clone(),
                                status,
                            })
                        }
                        Some(status) => {
                            if let Some(next) = status_on_enqueue(&message.event) {
                                moved.push((id, status, next));
                                statuses.insert(id, Some(next));
                            }
                            messages.push(message.clone());
                            Answer::Enqueued(status)
                        }
                    }
                }
            };
            answers.push(answer);
        }
        if !reused.is_empty() {
            self.delete_instance(tx, &reused, counts).await?;
        }
        // A new instance's row is written due at its earliest message (its start, or one
        // queued for it later in the batch), so its messages need no `MARK_DUE`.
        let mut due: HashMap<&str, i64> = created
            .iter()
            .map(|new| (new.instance_id.as_str(), i64::MAX))
            .collect();
        for message in &messages {
            if let Some(at) = due.get_mut(message.instance_id.as_str()) {
                *at = (*at).min(message.visible_at.timestamp_millis());
            }
        }
        self.insert_instances(tx, &created, &due, counts).await?;
        for (id, from, to) in moved {
            let statement = tx
                .prepare_cached(&self.sql(
                    "UPDATE {s}.instances SET status = $2, failure = NULL WHERE instance_id = $1",
                ))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&id, &to.code()])
                .await
                .map_err(backend)?;
            counts.moved(id, from.code(), to.code());
        }
        // The messages first, then the entity receivers' rows locked (the orchestration
        // rows are already), then the receivers that may run now leased ahead for this
        // process (`prefetch.rs`), then every other receiver's `due_at` moved but the new
        // instances'.
        let messages: Vec<&OutboundMessage> = messages.iter().collect();
        let mut receivers: Vec<&str> = messages.iter().map(|m| m.instance_id.as_str()).collect();
        receivers.sort_unstable();
        receivers.dedup();
        self.insert_messages(tx, &messages, &receivers, false, counts)
            .await?;
        let entities: Vec<&str> = receivers
            .into_iter()
            .filter(|id| EntityId::from_instance_id(id).is_some())
            .collect();
        self.lock_rows(tx, &entities).await?;
        let moved: Vec<&OutboundMessage> = messages
            .into_iter()
            .filter(|m| !due.contains_key(m.instance_id.as_str()))
            .collect();
        let ahead = self.lease_ahead(tx, &moved).await?;
        let moved: Vec<&OutboundMessage> = if ahead.items.is_empty() {
            moved
        } else {
            let leased: HashSet<&str> =
                ahead.items.iter().map(|i| i.instance_id.as_str()).collect();
            moved
                .into_iter()
                .filter(|m| !leased.contains(m.instance_id.as_str()))
                .collect()
        };
        self.mark_due(tx, &moved).await?;
        Ok(Written {
            answers,
            ahead,
            others_due: !created.is_empty() || !moved.is_empty(),
        })
    }

    /// While this process's dispatchers fetch from the store and have room (see
    /// `prefetch.rs`), leases the orchestrations that `messages` go to and may run now
    /// (not new, not suspended, not leased, every message of theirs in the batch visible),
    /// reading their messages back: their `due_at` need not move, and no fetch claims them.
    /// The caller holds their rows' locks.
    async fn lease_ahead(
        &self,
        tx: &impl GenericClient,
        messages: &[&OutboundMessage],
    ) -> Result<Ahead, StoreError> {
        let Room { lease, stale } = self.prefetched.room();
        let mut ahead = Ahead {
            items: Vec::new(),
            lease: Duration::ZERO,
            stale,
        };
        let Some((lease, room)) = lease else {
            return Ok(ahead);
        };
        let now = crate::clock::now();
        let mut later: HashSet<&str> = HashSet::new();
        let mut candidates: Vec<&str> = Vec::new();
        for message in messages {
            let id = message.instance_id.as_str();
            if EntityId::from_instance_id(id).is_some() {
                continue;
            }
            if message.visible_at > now {
                later.insert(id);
            } else {
                candidates.push(id);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|id| !later.contains(id));
        candidates.truncate(room);
        if candidates.is_empty() {
            return Ok(ahead);
        }
        let max = i64::try_from(candidates.len()).unwrap_or(i64::MAX);
        ahead.items = self
            .lease_instances(tx, Claim::Locked(&candidates), max, lease, false)
            .await?;
        ahead.lease = lease;
        Ok(ahead)
    }

    /// The status of every instance `batch` names (`None`: no row), in one statement per
    /// kind: orchestration rows locked (`FOR UPDATE`, in id order) until the commit, as a
    /// single write locks its row; entity rows only read here, and locked just before
    /// their `due_at` moves, at the end of the batch (orchestration rows before entity
    /// rows, each kind in id order: the order every writer locks rows in, so two writers
    /// never wait on each other in a cycle). Locked late, a busy entity's row (10,000
    /// signals) is held by one batch only for its last statements and its commit, so
    /// concurrent batches insert their messages side by side.
    async fn batch_statuses<'a>(
        &self,
        tx: &impl GenericClient,
        batch: &'a [ClientWrite],
    ) -> Result<HashMap<&'a str, Option<RuntimeStatus>>, StoreError> {
        let mut statuses: HashMap<&'a str, Option<RuntimeStatus>> =
            HashMap::with_capacity(batch.len());
        let mut orchestrations: Vec<&str> = Vec::new();
        let mut entities: Vec<&str> = Vec::new();
        for write in batch {
            let id = write.instance_id().as_str();
            if statuses.insert(id, None).is_none() {
                if EntityId::from_instance_id(id).is_some() {
                    entities.push(id);
                } else {
                    orchestrations.push(id);
                }
            }
        }
        orchestrations.sort_unstable();
        for (ids, sql) in [
            (
                orchestrations,
                "SELECT instance_id, status FROM {s}.instances WHERE instance_id = ANY($1)
                 ORDER BY instance_id FOR UPDATE",
            ),
            (
                entities,
                "SELECT instance_id, status FROM {s}.instances WHERE instance_id = ANY($1)",
            ),
        ] {
            if ids.is_empty() {
                continue;
            }
            let statement = tx.prepare_cached(&self.sql(sql)).await.map_err(backend)?;
            for row in tx.query(&statement, &[&ids]).await.map_err(backend)? {
                let id: &str = row.get(0);
                let status = status_from_code(row.get(1))?;
                if let Some(entry) = statuses.get_mut(id) {
                    *entry = Some(status);
                }
            }
        }
        Ok(statuses)
    }

    /// Inserts the rows of new instances, all `Pending`, in one statement. A unique
    /// violation (another worker started the same id since the batch read the statuses)
    /// fails the batch, whose writes are then applied one by one.
    async fn insert_instances(
        &self,
        tx: &impl GenericClient,
        created: &[&NewInstance],
        due: &HashMap<&str, i64>,
        counts: &mut CountDeltas,
    ) -> Result<(), StoreError> {
        if created.is_empty() {
            return Ok(());
        }
        // In id order, as every writer locks rows: two batches inserting some of the same
        // new ids then never wait on each other's keys in a cycle.
        let mut created = created.to_vec();
        created.sort_by(|a, b| a.instance_id.as_str().cmp(b.instance_id.as_str()));
        let created = created.as_slice();
        let ids: Vec<&str> = created.iter().map(|n| n.instance_id.as_str()).collect();
        let executions: Vec<&str> = created.iter().map(|n| n.execution_id.as_str()).collect();
        let names: Vec<&str> = created.iter().map(|n| n.name.as_str()).collect();
        let versions: Vec<Option<&str>> = created.iter().map(|n| n.version.as_deref()).collect();
        let inputs: Vec<&str> = created.iter().map(|n| n.input.as_json()).collect();
        let created_at: Vec<i64> = created.iter().map(|n| micros(n.created_at)).collect();
        let parents: Vec<Option<&str>> = created
            .iter()
            .map(|n| n.parent_instance_id.as_ref().map(InstanceId::as_str))
            .collect();
        let due_at: Vec<i64> = ids
            .iter()
            .map(|id| due.get(id).copied().unwrap_or(i64::MAX))
            .collect();
        let statement = tx
            .prepare_cached(&self.sql(
                "INSERT INTO {s}.instances (instance_id, execution_id, name, version, status, input, created_at, updated_at, parent_instance_id, due_at)
                 SELECT id, ex, nm, ver, $8, inp, at, at, par, due
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $9::bigint[])
                     AS u(id, ex, nm, ver, inp, at, par, due)",
            ))
            .await
            .map_err(backend)?;
        tx.execute(
            &statement,
            &[
                &ids,
                &executions,
                &names,
                &versions,
                &inputs,
                &created_at,
                &parents,
                &RuntimeStatus::Pending.code(),
                &due_at,
            ],
        )
        .await
        .map_err(|error| match created {
            // Alone, the start gets the answer a single insert would give (beside other
            // writes, `apply` then applies each alone: `depends_on_the_batch`).
            [only] if error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                StoreError::InstanceAlreadyExists {
                    instance_id: only.instance_id.clone(),
                    status: RuntimeStatus::Pending,
                }
            }
            _ => backend(error),
        })?;
        for id in ids {
            counts.inserted(id, RuntimeStatus::Pending.code());
        }
        Ok(())
    }
}
