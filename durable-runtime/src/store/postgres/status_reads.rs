//! Grouped status reads: [`Store::get_status`] calls from many concurrent callers (clients
//! waiting for completion, status polls over HTTP) share one statement.
//!
//! Each call queues its instance id and waits for its own answer. A few reader tasks take
//! what is queued (up to [`MAX_BATCH`] ids) and read them in one `SELECT … WHERE
//! instance_id = ANY($1)` on the primary key, then answer each caller from its row (or
//! with `None` when there is none). A lone caller pays one statement, as before, plus a
//! hand-off to a reader task; a burst of ten thousand waiting clients woken at once pays a
//! few dozen statements instead of ten thousand round trips, each of which cost the server
//! and this process about as much as the row's work itself.
//!
//! A batch reads the rows as they are when its statement starts, which is after every
//! read in it was queued, so no caller sees a status older than the one committed when it
//! asked (the guarantee of a read of its own). A row that does not decode (a corrupt
//! status) fails only the calls for that row; a failed statement (no connection, a lost
//! server) fails every call of the batch.
//!
//! The readers run as tasks of their own on the Tokio runtime that connected the store, so
//! a caller that is cancelled never cancels a statement others wait for.
//!
//! [`Store::get_status`]: crate::store::Store::get_status

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::Core;
use super::sql::read_status;
use crate::error::StoreError;
use crate::ids::InstanceId;
use crate::status::OrchestrationStatus;
use crate::store::codec::{STATUS_COLUMNS, backend};

/// The most ids one statement reads.
pub(super) const MAX_BATCH: usize = 512;

/// How many statements may be in flight at once (each holds one pooled connection).
const READERS: usize = 2;

/// The statement of a batch (`{s}` is the task hub's schema).
pub(super) fn status_batch_sql() -> String {
    format!("SELECT {STATUS_COLUMNS} FROM {{s}}.instances WHERE instance_id = ANY($1)")
}

type Answer = Result<Option<OrchestrationStatus>, StoreError>;

/// One queued read and where its answer goes.
struct StatusRead {
    instance_id: InstanceId,
    reply: oneshot::Sender<Answer>,
}

/// The queue of status reads; dropping it (with the store) ends the reader tasks once they
/// have answered what was queued.
pub(super) struct StatusReads {
    queue: mpsc::UnboundedSender<StatusRead>,
}

impl StatusReads {
    /// Starts the reader tasks on the current Tokio runtime.
    pub(super) fn start(core: Arc<Core>) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..READERS {
            tokio::spawn(reader(core.clone(), receiver.clone()));
        }
        Self { queue }
    }

    /// Queues a read of `instance_id`'s status and waits for its answer.
    pub(super) async fn get(&self, instance_id: &InstanceId) -> Answer {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(StatusRead {
                instance_id: instance_id.clone(),
                reply,
            })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// One reader: takes up to [`MAX_BATCH`] queued reads (waiting for the first), reads them
/// in one statement and answers each; ends when the queue is closed and empty.
async fn reader(core: Arc<Core>, receiver: Arc<Mutex<mpsc::UnboundedReceiver<StatusRead>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
        }
        // Callers that gave up need no answer.
        batch.retain(|read| !read.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        match read_batch(&core, &batch).await {
            Ok(rows) => {
                let by_id: HashMap<String, &tokio_postgres::Row> = rows
                    .iter()
                    .filter_map(|row| row.try_get::<_, String>(0).ok().map(|id| (id, row)))
                    .collect();
                for read in batch {
                    let answer = by_id
                        .get(read.instance_id.as_str())
                        .map(|row| read_status(row))
                        .transpose();
                    let _ = read.reply.send(answer);
                }
            }
            Err(error) => {
                let message = error.to_string();
                let mut error = Some(error);
                for read in batch {
                    let answer = error
                        .take()
                        .unwrap_or_else(|| StoreError::Backend(message.clone().into()));
                    let _ = read.reply.send(Err(answer));
                }
            }
        }
    }
}

async fn read_batch(
    core: &Core,
    batch: &[StatusRead],
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let mut ids: Vec<&str> = batch.iter().map(|r| r.instance_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let client = core.client().await?;
    let statement = client
        .prepare_cached(&core.sql(&status_batch_sql()))
        .await
        .map_err(backend)?;
    client.query(&statement, &[&ids]).await.map_err(backend)
}
