//! The contexts user code receives: [`OrchestrationContext`] and [`ActivityContext`].
//!
//! Architecture Invariant: every side effect of an orchestrator goes through
//! `OrchestrationContext`; this is the only API orchestrator code needs.

mod activity;
mod entity_calls;
mod orchestration;
mod retry;

pub use activity::ActivityContext;
pub use entity_calls::{CriticalSection, EntityCall, LockEntities};
pub use orchestration::{
    ActivityCall, DurableTimer, ExternalEvent, OrchestrationContext, ReplaySafeLogger,
    RetryActivityCall, RetrySubOrchestrationCall, SubOrchestrationCall, TimerDeadline,
    WaitForEvent, WaitWithTimeout,
};
pub use retry::{RetryPolicy, RetryPredicate};
