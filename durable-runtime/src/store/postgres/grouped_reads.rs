//! Grouped reads: [`Store::get_status`] and [`Store::read_history`] calls from many
//! concurrent callers (clients waiting for completion, status polls over HTTP, a worker's
//! batch of turns loading their histories) share one statement per kind.
//!
//! Each call queues its instance id and waits for its own answer. A few reader tasks per
//! kind take what is queued (up to [`MAX_BATCH`] ids) and read them in one statement on the
//! primary keys (`instance_id = ANY($1)`), then answer each caller from its rows (or with
//! `None` when the instance does not exist). A lone caller pays one statement (a history
//! read used to be two: the status, then the history) plus a hand-off to a reader task; a
//! burst of ten thousand waiting clients woken at once, or a batch of 256 turns, pays a few
//! statements instead of one round trip each, which cost the server and this process about
//! as much as the rows' work itself.
//!
//! A batch reads the rows as they are when its statement starts, which is after every
//! read in it was queued, so no caller sees a state older than the one committed when it
//! asked (the guarantee of a read of its own). A history event that does not decode fails
//! only the calls for its instance (an unknown status code reads as
//! [`RuntimeStatus::Unknown`](crate::status::RuntimeStatus::Unknown), as everywhere). When
//! a batch's statement fails with an error from the server (a timeout, a row too large), each
//! of its ids is read again alone, so only the calls that fail alone fail; an error without
//! an answer from the server (no connection, a lost server) fails every call of the batch.
//!
//! The readers run as tasks of their own on the Tokio runtime that connected the store, so
//! a caller that is cancelled never cancels a statement others wait for. Once that runtime
//! has shut down (its tasks are gone), each call reads alone on the caller's runtime.
//!
//! [`Store::get_status`]: crate::store::Store::get_status
//! [`Store::read_history`]: crate::store::Store::read_history

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::sql::read_status;
use super::{Core, postgres_error};
use crate::error::StoreError;
use crate::history::HistoryEvent;
use crate::ids::InstanceId;
use crate::status::OrchestrationStatus;
use crate::store::codec::{STATUS_COLUMNS, backend, corrupt, decode_event, reason};

/// The most ids one status statement reads.
pub(super) const MAX_STATUS_BATCH: usize = 512;

/// The most ids one history statement reads: histories are longer than status rows, and a
/// long one holds up the reads batched with it.
pub(super) const MAX_HISTORY_BATCH: usize = 128;

/// How many statements of one kind may be in flight at once (each holds one pooled
/// connection).
const READERS: usize = 2;

/// The statement of a batch of status reads (`{s}` is the task hub's schema).
pub(super) fn status_batch_sql() -> String {
    format!("SELECT {STATUS_COLUMNS} FROM {{s}}.instances WHERE instance_id = ANY($1)")
}

/// The statement of a batch of history reads: a row per event (the instance's id, the
/// event's `seq` and text), one row with NULL `seq` and event for an instance that exists
/// with no history yet, none for an id that does not exist. Both sides by primary key.
/// Unordered: the reader sorts each history by `seq` (an `ORDER BY` over the join would put
/// a sort of the whole batch in the plan; the rows usually come in `seq` order already).
pub(super) const HISTORY_BATCH: &str = "SELECT i.instance_id, h.seq, h.event
     FROM {s}.instances i LEFT JOIN {s}.history h ON h.instance_id = i.instance_id
     WHERE i.instance_id = ANY($1)";

/// What one batch found: each existing instance's id and its answer (or why its rows do
/// not decode).
type Found<T> = Vec<(String, Result<T, StoreError>)>;

/// Reads one batch of (sorted, distinct) ids.
type ReadBatch<T> = fn(
    Arc<Core>,
    Vec<String>,
) -> Pin<Box<dyn Future<Output = Result<Found<T>, StoreError>> + Send>>;

type Answer<T> = Result<Option<T>, StoreError>;

/// One queued read and where its answer goes.
struct Read<T> {
    instance_id: InstanceId,
    reply: oneshot::Sender<Answer<T>>,
}

/// The queue of one kind of read; dropping it (with the store) ends its reader tasks once
/// they have answered what was queued.
pub(super) struct GroupedReads<T> {
    queue: mpsc::UnboundedSender<Read<T>>,
    core: Arc<Core>,
    read: ReadBatch<T>,
}

impl GroupedReads<OrchestrationStatus> {
    /// Status reads ([`Store::get_status`](crate::store::Store::get_status)), readers
    /// started on the current Tokio runtime.
    pub(super) fn statuses(core: Arc<Core>) -> Self {
        Self::start(core, MAX_STATUS_BATCH, |core, ids| {
            Box::pin(read_statuses(core, ids))
        })
    }
}

impl GroupedReads<Vec<HistoryEvent>> {
    /// History reads ([`Store::read_history`](crate::store::Store::read_history)), readers
    /// started on the current Tokio runtime.
    pub(super) fn histories(core: Arc<Core>) -> Self {
        Self::start(core, MAX_HISTORY_BATCH, |core, ids| {
            Box::pin(read_histories(core, ids))
        })
    }
}

impl<T: Clone + Send + 'static> GroupedReads<T> {
    fn start(core: Arc<Core>, max_batch: usize, read: ReadBatch<T>) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..READERS {
            tokio::spawn(reader(core.clone(), receiver.clone(), max_batch, read));
        }
        Self { queue, core, read }
    }

    /// Queues a read of `instance_id` and waits for its answer (`None`: no such instance).
    pub(super) async fn get(&self, instance_id: &InstanceId) -> Answer<T> {
        let (reply, answer) = oneshot::channel();
        let queued = self.queue.send(Read {
            instance_id: instance_id.clone(),
            reply,
        });
        if queued.is_ok()
            && let Ok(answer) = answer.await
        {
            return answer;
        }
        // The readers are gone with the runtime that started them: read alone, here.
        read_alone(&self.core, self.read, instance_id.as_str()).await
    }
}

/// Reads one id in a statement of its own.
async fn read_alone<T>(core: &Arc<Core>, read: ReadBatch<T>, instance_id: &str) -> Answer<T> {
    let found = read(core.clone(), vec![instance_id.to_owned()]).await?;
    found
        .into_iter()
        .find(|(id, _)| id == instance_id)
        .map(|(_, answer)| answer)
        .transpose()
}

/// Whether `error` came from the server's answer to the statement (so the same ids read
/// one by one may succeed), rather than from having no connection.
fn answered_by_the_server(error: &StoreError) -> bool {
    postgres_error(error).is_some_and(|error| error.as_db_error().is_some())
}

/// One reader: takes up to `max_batch` queued reads (waiting for the first), reads them
/// in one statement and answers each; ends when the queue is closed and empty.
async fn reader<T: Clone + Send + 'static>(
    core: Arc<Core>,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<Read<T>>>>,
    max_batch: usize,
    read: ReadBatch<T>,
) {
    loop {
        let mut batch = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, max_batch).await == 0 {
                return;
            }
        }
        // Callers that gave up need no answer.
        batch.retain(|read| !read.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        // In id order, so the callers of one id are next to each other.
        batch.sort_unstable_by(|a, b| a.instance_id.cmp(&b.instance_id));
        let mut ids: Vec<String> = batch.iter().map(|r| r.instance_id.to_string()).collect();
        ids.dedup();
        let distinct = ids.len();
        match read(core.clone(), ids).await {
            Err(error) if distinct > 1 && answered_by_the_server(&error) => {
                tracing::debug!(%error, reads = batch.len(), "a batch of reads failed; reading them one by one");
                for read_one in batch {
                    let answer = read_alone(&core, read, read_one.instance_id.as_str()).await;
                    let _ = read_one.reply.send(answer);
                }
            }
            Ok(found) => {
                let mut found: HashMap<String, Result<T, StoreError>> = found.into_iter().collect();
                let mut reads = batch.into_iter().peekable();
                while let Some(read) = reads.next() {
                    let id = read.instance_id.as_str();
                    // The last caller of an id takes its answer; the others get copies.
                    let last = reads
                        .peek()
                        .is_none_or(|next| next.instance_id != read.instance_id);
                    let answer = if last {
                        found.remove(id).transpose()
                    } else {
                        match found.get(id) {
                            None => Ok(None),
                            Some(Ok(value)) => Ok(Some(value.clone())),
                            Some(Err(error)) => Err(error.copy_for_another_caller()),
                        }
                    };
                    let _ = read.reply.send(answer);
                }
            }
            Err(error) => {
                let copy = error.copy_for_another_caller();
                let mut error = Some(error);
                for read in batch {
                    let answer = error
                        .take()
                        .unwrap_or_else(|| copy.copy_for_another_caller());
                    let _ = read.reply.send(Err(answer));
                }
            }
        }
    }
}

async fn read_statuses(
    core: Arc<Core>,
    ids: Vec<String>,
) -> Result<Found<OrchestrationStatus>, StoreError> {
    let client = core.client().await?;
    let statement = client
        .prepare_cached(&core.sql(&status_batch_sql()))
        .await
        .map_err(backend)?;
    let rows = client.query(&statement, &[&ids]).await.map_err(backend)?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0).map_err(backend)?;
            Ok((id, read_status(row)))
        })
        .collect()
}

async fn read_histories(
    core: Arc<Core>,
    ids: Vec<String>,
) -> Result<Found<Vec<HistoryEvent>>, StoreError> {
    let client = core.client().await?;
    let statement = client
        .prepare_cached(&core.sql(HISTORY_BATCH))
        .await
        .map_err(backend)?;
    let rows = client.query(&statement, &[&ids]).await.map_err(backend)?;
    let mut histories: HashMap<String, Result<Vec<(i64, HistoryEvent)>, StoreError>> =
        HashMap::new();
    for row in &rows {
        let id: String = row.try_get(0).map_err(backend)?;
        let seq: Option<i64> = row.try_get(1).map_err(backend)?;
        let event: Option<&str> = row.try_get(2).map_err(backend)?;
        let entry = histories
            .entry(id.clone())
            .or_insert_with(|| Ok(Vec::new()));
        // The instance's own row when it has no history yet.
        let (Some(seq), Some(event)) = (seq, event) else {
            continue;
        };
        let Ok(events) = entry else {
            continue;
        };
        match decode_event(event) {
            Ok(event) => events.push((seq, event)),
            Err(error) => {
                *entry = Err(corrupt(
                    format!("history row (instance {id}, seq {seq})"),
                    reason(error),
                ));
            }
        }
    }
    Ok(histories
        .into_iter()
        .map(|(id, events)| {
            let events = events.map(|mut events| {
                events.sort_by_key(|(seq, _)| *seq);
                events.into_iter().map(|(_, event)| event).collect()
            });
            (id, events)
        })
        .collect())
}
