use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio::sync::{Notify, oneshot};

use crate::ids::InstanceId;

/// In-process wake-ups from a store to its dispatchers and waiting clients.
///
/// Stores call the `*_work` methods after a commit that made work visible and
/// [`instance_finished`](Self::instance_finished) when an instance reached a terminal
/// status, so nothing in this process sleeps in a polling loop waiting for them. Work made
/// visible by another process is found by the dispatchers' bounded fallback poll.
#[derive(Debug, Default)]
pub struct Notifier {
    orchestration_work: Notify,
    activity_work: Notify,
    finished: Mutex<HashMap<InstanceId, Vec<oneshot::Sender<()>>>>,
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
