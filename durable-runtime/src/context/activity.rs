use crate::ids::InstanceId;

/// What an activity knows about the call it is serving.
///
/// Take it as the first parameter of an `#[activity]` function when you need it; it is
/// optional.
#[derive(Debug, Clone)]
pub struct ActivityContext {
    pub(crate) instance_id: InstanceId,
    pub(crate) name: String,
    pub(crate) scheduled_id: i64,
    pub(crate) attempt: u32,
}

impl ActivityContext {
    /// Makes a context by hand, for calling an activity directly in a unit test.
    pub fn for_test(instance_id: InstanceId, name: impl Into<String>) -> Self {
        Self {
            instance_id,
            name: name.into(),
            scheduled_id: 0,
            attempt: 1,
        }
    }

    /// The orchestration instance that scheduled this activity.
    pub fn instance_id(&self) -> &InstanceId {
        &self.instance_id
    }

    /// The activity's registered name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sequence number of the `ActivityScheduled` event this call answers; together
    /// with the instance id it identifies the call, which makes a good idempotency key.
    pub fn scheduled_id(&self) -> i64 {
        self.scheduled_id
    }

    /// Which delivery of this work item this is, starting at 1. Activities run at least
    /// once: a worker that dies before committing the result makes the next worker run it
    /// again with `attempt() == 2`.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}
