//! Durable orchestrations for Rust, in the model of Azure Durable Functions.
//!
//! Write workflows as ordinary `async fn`s. The runtime records every step in an
//! append-only history, replays the function to rebuild its state after any crash or
//! restart, and never loses committed progress.
//!
//! - `#[orchestrator]` marks a replayable orchestrator function; its first parameter is an
//!   [`OrchestrationContext`], through which it calls activities.
//! - `#[activity]` marks an activity: side-effecting work that runs at least once.
//! - [`Runtime`] runs a worker over a [`Store`](store::Store): the embedded SQLite file by
//!   default, or memory for tests.
//! - [`DurableClient`] starts instances and reads their status, output and history.
//!
//! Every public item has one path. What an orchestration program uses is at the root
//! (contexts, durable calls, entities, the client, the runtime, errors, ids); the modules
//! behind those names are private. A topic with an audience of its own is a public module
//! whose items are **not** also at the root: [`store`] (the [`Store`](store::Store) trait,
//! its protocol types and the back-ends, for back-end authors), [`history`],
//! [`error_types`], and with their features `testing`, `telemetry`, `metrics`, `http` and
//! `dashboard`. [`prelude`] gathers root items only (no topic module's item is in it), so it
//! is the one deliberate second path.
//!
//! ```standalone_crate
//! use std::time::Duration;
//! use durable_runtime::prelude::*;
//!
//! #[activity]
//! async fn say_hello(city: String) -> Result<String, ActivityError> {
//!     Ok(format!("Hello {city}!"))
//! }
//!
//! #[orchestrator]
//! async fn hello_cities(ctx: OrchestrationContext, cities: Vec<String>) -> Result<Vec<String>, OrchestrationError> {
//!     let mut greetings = Vec::new();
//!     for city in cities {
//!         greetings.push(ctx.call_activity(SayHello, city).await?);
//!     }
//!     Ok(greetings)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::builder().in_memory().start().await?;
//! let instance = HelloCities::start(&runtime.client(), vec!["Tokyo".into(), "London".into()]).await?;
//! let greetings = instance.wait_for_completion(Duration::from_secs(10)).await?;
//! assert_eq!(greetings, ["Hello Tokyo!", "Hello London!"]);
//! runtime.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![doc(test(attr(deny(warnings))))]

// Lets the macros' `::durable_runtime::` paths resolve inside this crate's own tests.
#[allow(unused_extern_crates)]
extern crate self as durable_runtime;

mod client;
mod clock;
mod context;
#[cfg(feature = "dashboard")]
pub mod dashboard;
mod durable_future;
mod entity;
mod error;
pub mod history;
#[cfg(feature = "http")]
pub mod http;
mod ids;
mod join;
#[cfg(feature = "metrics")]
pub mod metrics;
mod outbound;
mod payload;
mod registry;
mod replay;
mod runtime;
mod setters;
mod status;
pub mod store;
#[cfg(feature = "otel")]
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
mod trace_context;
mod worker;

pub use client::{
    DurableClient, OrchestrationHandle, RestartAs, SignalEntity, StartOrchestration, TerminateScope,
};
pub use clock::{Clock, VirtualClock};
pub use context::{
    ActivityCall, ActivityContext, CriticalSection, DurableTimer, EntityCall, ExternalEvent,
    LockEntities, OrchestrationContext, ReplaySafeLogger, RetryActivityCall, RetryPolicy,
    RetryPredicate, RetrySubOrchestrationCall, SubOrchestrationCall, TimerDeadline, WaitForEvent,
    WaitWithTimeout,
};
pub use durable_future::{AssumeDurable, DurableFuture, DurableStream, assume_durable};
#[doc(inline)]
#[doc = include_str!("docs/activity.md")]
pub use durable_macros::activity;
#[doc(inline)]
#[doc = include_str!("docs/entity.md")]
pub use durable_macros::entity;
#[doc(inline)]
#[doc = include_str!("docs/orchestrator.md")]
pub use durable_macros::orchestrator;
pub use entity::{
    Entity, EntityContext, EntityId, EntityMetadata, EntityPage, EntityQuery, EntitySignaler,
    EntityState, InvalidEntityId,
};
pub use error::{
    ActivityError, ActivityFailed, ClientError, EntityOperationFailed, EventError,
    NonDeterminismError, OrchestrationError, RegistryError, RuntimeError, StoreError,
    SubOrchestrationFailed,
};
pub use ids::{ExecutionId, InstanceId, InvalidInstanceId, MAX_INSTANCE_ID_LEN};
pub use join::{JoinAll, Select, TryJoinAll, join_all, select, try_join_all};
pub use payload::Payload;
pub use registry::{
    Activity, ActivityInput, FunctionKind, InputCheckError, Orchestration, Registration, Registry,
    RegistryBuilder,
};
pub use runtime::{Runtime, RuntimeBuilder};
pub use status::{FailureDetails, OrchestrationStatus, RuntimeStatus, UnknownRuntimeStatus};
pub use trace_context::{InvalidTraceContext, MAX_TRACESTATE_LEN, TraceContext};
pub use worker::WorkerOptions;

pub mod error_types;

/// Everything an orchestration program usually needs, in one `use`.
pub mod prelude {
    pub use crate::{
        Activity, ActivityContext, ActivityError, ActivityFailed, DurableClient, Entity,
        EntityContext, EntityId, EntityOperationFailed, EventError, ExternalEvent, InstanceId,
        Orchestration, OrchestrationContext, OrchestrationError, RestartAs, RetryPolicy, Runtime,
        RuntimeStatus, SubOrchestrationFailed, TerminateScope, activity, entity, join_all,
        orchestrator, try_join_all,
    };
    pub use serde::{Deserialize, Serialize};
}

// Not public API. Used by generated code.
#[doc(hidden)]
pub mod __private {
    pub use crate::durable_future::durable_await;
    pub use crate::entity::{EntityOperation, decode_operation_input, encode_operation_output};
    pub use crate::registry::Registration;
    pub use chrono;
    pub use inventory;
}
