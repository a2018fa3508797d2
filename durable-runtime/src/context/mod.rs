//! The contexts user code receives: [`OrchestrationContext`] and [`ActivityContext`].
//!
//! Architecture Invariant: every side effect of an orchestrator goes through
//! `OrchestrationContext`; this is the only API orchestrator code needs.

mod activity;
mod calls;
mod entity_calls;
mod orchestration;
mod retry;

pub use activity::ActivityContext;
pub use calls::{
    ActivityCall, DurableTimer, ExternalEvent, RetryActivityCall, RetrySubOrchestrationCall,
    SubOrchestrationCall, TimerDeadline, WaitForEvent, WaitWithTimeout,
};
pub use entity_calls::{CriticalSection, EntityCall, LockEntities};
pub use orchestration::{OrchestrationContext, ReplaySafeLogger};
pub use retry::{RetryPolicy, RetryPredicate};
