use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::{Notify, oneshot};

use crate::ids::InstanceId;

/// In-process wake-ups from a store to its dispatchers and waiting clients.
///
/// Stores call the `*_work` methods after a commit that made work visible and
/// [`instance_finished`](Self::instance_finished) when an instance reached a terminal
/// status, so nothing in this process sleeps in a polling loop waiting for them.
///
/// Changes made by other processes on the same store: a store that notices them calls
/// [`others_changed`](Self::others_changed) and says so with
/// [`set_watches_others`](Self::set_watches_others); waiting clients then re-read only when
/// told (plus a rare safety re-read), so a hundred thousand waiters cost nothing while they
/// wait. Without that promise, waiters re-read on a bounded back-off, and work made visible
/// by another process is found by the dispatchers' bounded fallback poll.
#[derive(Debug, Default)]
pub struct Notifier {
    orchestration_work: Notify,
    activity_work: Notify,
    finished: Mutex<HashMap<InstanceId, Vec<oneshot::Sender<()>>>>,
    others: Notify,
    watches_others: AtomicBool,
}

impl Notifier {
    /// Signals that orchestration messages became visible.
    pub fn orchestration_work(&self) {
        self.orchestration_work.notify_one();
    }

    /// Signals that activity work items became visible.
    pub fn activity_work(&self) {
        self.activity_work.notify_one();
    }

    /// Signals that `instance_id` reached a terminal status.
    pub fn instance_finished(&self, instance_id: &InstanceId) {
        let waiters = self
            .finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(instance_id);
        for waiter in waiters.into_iter().flatten() {
            let _ = waiter.send(());
        }
    }

    /// Signals that another process changed the store (another worker on the same SQLite
    /// file committed, or a PostgreSQL listener reconnected and may have missed
    /// notifications): every waiting client re-reads, and the dispatchers look for work.
    pub fn others_changed(&self) {
        self.others.notify_waiters();
        self.orchestration_work();
        self.activity_work();
    }

    /// Declares whether the store reports every change by another process through
    /// [`others_changed`](Self::others_changed) (memory: none can happen; SQLite: its writer
    /// watches the file's data version; PostgreSQL: while its listener is connected).
    pub fn set_watches_others(&self, watches: bool) {
        self.watches_others.store(watches, Ordering::SeqCst);
    }

    /// Whether the store reports changes by other processes (see
    /// [`set_watches_others`](Self::set_watches_others)).
    pub fn watches_others(&self) -> bool {
        self.watches_others.load(Ordering::SeqCst)
    }

    /// A future that completes at the next [`others_changed`](Self::others_changed) after
    /// it was enabled (`Notified::enable`) or first polled.
    pub fn other_change(&self) -> tokio::sync::futures::Notified<'_> {
        self.others.notified()
    }

    /// Waits for orchestration work (a permit is kept if it was signalled meanwhile).
    pub async fn wait_orchestration_work(&self) {
        self.orchestration_work.notified().await;
    }

    /// Waits for activity work.
    pub async fn wait_activity_work(&self) {
        self.activity_work.notified().await;
    }

    /// Registers interest in `instance_id` finishing; the receiver fires once it does.
    pub fn watch_instance(&self, instance_id: &InstanceId) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        let waiters = finished.entry(instance_id.clone()).or_default();
        waiters.retain(|w| !w.is_closed());
        waiters.push(sender);
        receiver
    }
}
