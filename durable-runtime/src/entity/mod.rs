//! Durable entities: small pieces of state addressed by [`EntityId`], changed only by
//! operations that run one at a time.
//!
//! Follows Durable Functions' entities (`durable-functions-entities`): an entity is created
//! implicitly by its first operation; operations on one entity run serially, in the order
//! each sender sent them; a batch of queued operations runs in one turn, and the new state,
//! the consumed messages, the results for calling orchestrations and any outgoing signals
//! commit in one transaction, so an operation takes effect exactly once even when a worker
//! dies mid-batch. An operation that returns an error or panics leaves the state as it was
//! before that operation (DF's `RollbackEntityOperationsOnExceptions`, on by default).
//!
//! Write one with [`#[entity]`](macro@crate::entity) on an `impl` block of the state type; it
//! implements [`Entity`] and generates typed proxies (`Counter::signal`, `Counter::call`,
//! `Counter::read`, `Counter::entity_id`).

pub(crate) mod scheduler;

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ActivityError;
use crate::error_types::{ENTITY_STATE_DECODE_ERROR, ENTITY_STATE_ENCODE_ERROR, UNKNOWN_OPERATION};
use crate::history::{EventKind, HistoryEvent};
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::registry::Orchestration;
use crate::setters::setters;
use crate::status::FailureDetails;
use crate::store::{NewInstance, OutboundMessage};

pub use crate::ids::{EntityId, InvalidEntityId};

/// What an entity's state type must be: `Default` (the state of a new entity) and serde
/// (the state is stored as JSON between batches).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an entity's state: it must implement `Default`, `Serialize` and `Deserialize`",
    label = "used as entity state by `#[entity]`",
    note = "add `#[derive(Default, Serialize, Deserialize)]` to `{Self}` (the state of a new entity is `Default::default()`, and state is stored as JSON)"
)]
pub trait EntityState: Default + Serialize + DeserializeOwned + Send + 'static {}

impl<T: Default + Serialize + DeserializeOwned + Send + 'static> EntityState for T {}

/// A durable entity: a state type whose methods are operations.
///
/// Implemented by [`#[entity]`](macro@crate::entity) on an `impl` block; write it by hand only
/// where the macro cannot be used.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an entity",
    label = "expected a state type with an `#[entity]` impl block",
    note = "annotate an `impl {Self} {{ .. }}` block with `#[entity]`"
)]
pub trait Entity: EntityState {
    /// The registered name, lower-case; persisted in entity ids, so renaming it orphans
    /// existing entities.
    const NAME: &'static str;
    /// The operation names, as declared.
    const OPERATIONS: &'static [&'static str];

    /// Starts operation `operation` (matched case-insensitively) with `input` on `self`;
    /// `None` when there is no such operation.
    fn dispatch<'a>(
        &'a mut self,
        ctx: &'a EntityContext,
        operation: &str,
        input: Payload,
    ) -> Option<EntityOperation<'a>>;
}

/// One running operation, returned by [`Entity::dispatch`].
pub struct EntityOperation<'a> {
    mutates: bool,
    future: Pin<Box<dyn Future<Output = Result<Payload, ActivityError>> + Send + 'a>>,
}

impl fmt::Debug for EntityOperation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntityOperation")
            .field("mutates", &self.mutates)
            .finish_non_exhaustive()
    }
}

impl<'a> EntityOperation<'a> {
    /// Wraps an operation's future; `mutates` is true for a `&mut self` operation (its
    /// state is saved after it succeeds and restored when it fails).
    pub fn new(
        mutates: bool,
        future: impl Future<Output = Result<Payload, ActivityError>> + Send + 'a,
    ) -> Self {
        Self {
            mutates,
            future: Box::pin(future),
        }
    }
}

/// Decodes an operation's input; used by generated code.
#[doc(hidden)]
pub fn decode_operation_input<T: DeserializeOwned>(
    entity: &str,
    operation: &str,
    input: &Payload,
) -> Result<T, ActivityError> {
    input.decode().map_err(|error| {
        let mut details = FailureDetails::new(
            crate::error_types::INPUT_DECODE_ERROR,
            format!(
                "the input of operation `{operation}` of entity `{entity}` does not decode as `{}`: {error}",
                std::any::type_name::<T>()
            ),
        );
        details.non_retriable = true;
        ActivityError::from_details(details)
    })
}

/// Encodes an operation's result; used by generated code.
#[doc(hidden)]
pub fn encode_operation_output<T: Serialize>(
    operation: &str,
    output: &T,
) -> Result<Payload, ActivityError> {
    Payload::encode(output).map_err(|error| {
        ActivityError::from_details(FailureDetails::new(
            crate::error_types::OUTPUT_ENCODE_ERROR,
            format!("the result of operation `{operation}` could not be encoded as JSON: {error}"),
        ))
    })
}

/// What an operation did besides changing state; committed only if it succeeds.
#[derive(Debug, Default)]
struct Effects {
    operation: String,
    messages: Vec<OutboundMessage>,
    new_instances: Vec<NewInstance>,
    delete: bool,
    error: Option<String>,
}

/// An entity operation's handle on the runtime: the entity's id, signals to other
/// entities, new orchestrations, and deleting the entity's state.
///
/// Durable Functions' `IDurableEntityContext` / `Entity.Current`. Signals and new
/// orchestrations take effect only if the operation succeeds, in the same transaction as
/// its state change.
pub struct EntityContext {
    id: EntityId,
    now: DateTime<Utc>,
    effects: Mutex<Effects>,
}

impl fmt::Debug for EntityContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntityContext")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl EntityContext {
    pub(crate) fn new(id: EntityId, now: DateTime<Utc>) -> Self {
        Self {
            id,
            now,
            effects: Mutex::new(Effects::default()),
        }
    }

    fn effects(&self) -> MutexGuard<'_, Effects> {
        self.effects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This entity's id.
    pub fn entity_id(&self) -> &EntityId {
        &self.id
    }

    /// The name of the operation running now.
    pub fn operation_name(&self) -> String {
        self.effects().operation.clone()
    }

    /// The time the current batch of operations started.
    pub fn current_time(&self) -> DateTime<Utc> {
        self.now
    }

    /// Deletes the entity's state when this operation succeeds: the entity then no longer
    /// exists (reads return `None`, listings skip it) until an operation changes it again,
    /// starting from `Default`. DF's `DeleteState`.
    pub fn delete_state(&self) {
        self.effects().delete = true;
    }

    /// Starts a new instance of orchestration `O` when this operation succeeds; returns its
    /// (new, random) instance id. DF's `StartNewOrchestration`.
    ///
    /// # Errors
    /// A [`serde_json::Error`] when `input` cannot be encoded; nothing is started.
    pub fn start_orchestration<O: Orchestration>(
        &self,
        orchestration: O,
        input: O::Input,
    ) -> Result<InstanceId, serde_json::Error> {
        let _ = orchestration;
        let input = Payload::encode(&input)?;
        let instance_id = InstanceId::generate();
        let execution_id = ExecutionId::generate();
        self.effects().new_instances.push(NewInstance {
            instance_id: instance_id.clone(),
            execution_id: execution_id.clone(),
            name: O::NAME.to_owned(),
            version: O::VERSION.map(str::to_owned),
            input: input.clone(),
            created_at: self.now,
            started: HistoryEvent::new(
                self.now,
                EventKind::ExecutionStarted {
                    name: O::NAME.to_owned(),
                    version: O::VERSION.map(str::to_owned),
                    execution_id,
                    input,
                    parent: None,
                    scheduled_start: None,
                    trace_context: None,
                },
            ),
            parent_instance_id: None,
        });
        Ok(instance_id)
    }

    /// Starts the next operation: clears the effects of the previous one.
    fn begin(&self, operation: &str) {
        *self.effects() = Effects {
            operation: operation.to_owned(),
            ..Effects::default()
        };
    }

    fn take_effects(&self) -> Effects {
        std::mem::take(&mut *self.effects())
    }
}

mod sealed {
    #[allow(
        unreachable_pub,
        reason = "the sealed-trait pattern needs a public trait"
    )]
    pub trait Sealed {}
    impl Sealed for crate::DurableClient {}
    impl Sealed for crate::OrchestrationContext {}
    impl Sealed for super::EntityContext {}
}

/// Something that can signal an entity operation: a [`DurableClient`](crate::DurableClient),
/// an [`OrchestrationContext`](crate::OrchestrationContext) or an [`EntityContext`].
///
/// The generated `Counter::signal(&sender, key)` proxy works with each; what a signal
/// returns depends on the sender: from a client a future of `Result<(), ClientError>` that
/// resolves once the signal is stored; from an orchestration or entity nothing, because the
/// signal is recorded and sent when the turn commits (one-way, as in Durable Functions).
pub trait EntitySignaler: sealed::Sealed {
    /// What sending a signal returns.
    type Signal;

    /// Sends `operation` with `input` to `entity`, at `at` or at once. Used by the
    /// generated proxies; call those instead.
    #[doc(hidden)]
    fn signal_operation(
        &self,
        entity: EntityId,
        operation: &'static str,
        input: Result<Payload, serde_json::Error>,
        at: Option<DateTime<Utc>>,
    ) -> Self::Signal;
}

impl EntitySignaler for EntityContext {
    type Signal = ();

    fn signal_operation(
        &self,
        entity: EntityId,
        operation: &'static str,
        input: Result<Payload, serde_json::Error>,
        at: Option<DateTime<Utc>>,
    ) {
        let mut effects = self.effects();
        match input {
            Ok(input) => effects.messages.push(crate::outbound::entity_request(
                &entity,
                operation.to_owned(),
                input,
                None,
                None,
                at.unwrap_or(self.now),
                self.now,
            )),
            Err(error) => {
                effects.error = Some(format!(
                    "could not encode the input of signal `{operation}` to {entity}: {error}"
                ));
            }
        }
    }
}

/// A type-erased entity state with its last committed snapshot.
pub(crate) trait LiveEntity: Send {
    /// Runs one operation, restoring the state when it fails.
    fn apply<'a>(
        &'a mut self,
        ctx: &'a EntityContext,
        operation: &'a str,
        input: Payload,
    ) -> Pin<Box<dyn Future<Output = Result<Payload, FailureDetails>> + Send + 'a>>;

    /// The state to store: `None` when the entity does not exist.
    fn snapshot(&self) -> Option<Payload>;
}

/// Makes a [`LiveEntity`] from stored state.
pub(crate) type EntityFactory = fn(&EntityId, Option<Payload>) -> Box<dyn LiveEntity>;

struct Live<E: Entity> {
    id: EntityId,
    /// The live state; `None` when the entity does not exist.
    state: Option<E>,
    /// The encoded state after the last successful operation (what a failure restores).
    snapshot: Option<Payload>,
    /// Set when the stored state does not decode: every operation fails, state kept.
    broken: Option<String>,
}

pub(crate) fn make_live<E: Entity>(id: &EntityId, stored: Option<Payload>) -> Box<dyn LiveEntity> {
    let (state, broken) = match stored.as_ref().map(Payload::decode::<E>) {
        None => (None, None),
        Some(Ok(state)) => (Some(state), None),
        Some(Err(error)) => (
            None,
            Some(format!(
                "the stored state of entity {id} does not decode as `{}`: {error}; the state is \
                 kept unchanged until the code can read it again",
                std::any::type_name::<E>()
            )),
        ),
    };
    Box::new(Live::<E> {
        id: id.clone(),
        state,
        snapshot: stored,
        broken,
    })
}

impl<E: Entity> Live<E> {
    fn restore(&mut self) {
        self.state = self.snapshot.as_ref().and_then(|s| s.decode().ok());
    }

    async fn run(
        &mut self,
        ctx: &EntityContext,
        operation: &str,
        input: Payload,
    ) -> Result<Payload, FailureDetails> {
        if let Some(message) = &self.broken {
            return Err(FailureDetails::new(
                ENTITY_STATE_DECODE_ERROR,
                message.clone(),
            ));
        }
        let unknown = || {
            FailureDetails::new(
                UNKNOWN_OPERATION,
                format!(
                    "entity `{}` has no operation `{operation}`; its operations are [{}]",
                    E::NAME,
                    E::OPERATIONS.join(", ")
                ),
            )
        };
        if !E::OPERATIONS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(operation))
        {
            if operation.eq_ignore_ascii_case("delete") {
                // The implicit `delete` operation of DF's isolated entities.
                self.state = None;
                self.snapshot = None;
                return Ok(Payload::null());
            }
            return Err(unknown());
        }
        let existed = self.state.is_some();
        // The operation borrows the state; the block ends that borrow before the state is
        // saved or restored.
        let (mutates, outcome) = {
            let state = self.state.get_or_insert_with(E::default);
            match state.dispatch(ctx, operation, input) {
                Some(EntityOperation { mutates, future }) => {
                    (mutates, AssertUnwindSafe(future).catch_unwind().await)
                }
                None => return Err(unknown()),
            }
        };
        let result = match outcome {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(error)) => Err(error.into_details()),
            Err(panic) => Err(crate::error_types::panic_failure(panic)),
        };
        let error = ctx.effects().error.take();
        let result = match (result, error) {
            (Ok(_), Some(message)) => Err(FailureDetails::new(
                crate::error_types::INPUT_ENCODE_ERROR,
                message,
            )),
            (result, _) => result,
        };
        match result {
            Ok(result) => {
                if ctx.effects().delete {
                    self.state = None;
                    self.snapshot = None;
                } else if mutates {
                    match self.state.as_ref().map(Payload::encode).transpose() {
                        Ok(snapshot) => self.snapshot = snapshot,
                        Err(error) => {
                            self.restore();
                            return Err(FailureDetails::new(
                                ENTITY_STATE_ENCODE_ERROR,
                                format!(
                                    "the state of entity {} could not be encoded after operation `{operation}`: {error}",
                                    self.id
                                ),
                            ));
                        }
                    }
                } else if !existed {
                    // A read on an entity that does not exist does not create it.
                    self.state = None;
                }
                Ok(result)
            }
            Err(failure) => {
                self.restore();
                Err(failure)
            }
        }
    }
}

impl<E: Entity> LiveEntity for Live<E> {
    fn apply<'a>(
        &'a mut self,
        ctx: &'a EntityContext,
        operation: &'a str,
        input: Payload,
    ) -> Pin<Box<dyn Future<Output = Result<Payload, FailureDetails>> + Send + 'a>> {
        Box::pin(self.run(ctx, operation, input))
    }

    fn snapshot(&self) -> Option<Payload> {
        self.snapshot.clone()
    }
}

/// An entity's metadata and, when asked for, its state; see
/// [`DurableClient::get_entity`](crate::DurableClient::get_entity).
///
/// DF's `EntityMetadata` (isolated) / `DurableEntityStatus` (in-proc).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EntityMetadata {
    /// The entity.
    pub id: EntityId,
    /// When its last batch of operations committed.
    pub last_modified: DateTime<Utc>,
    /// The state as JSON, when it exists and was asked for.
    pub state: Option<Payload>,
    /// The orchestration holding it in a critical section, if any.
    pub locked_by: Option<InstanceId>,
    /// Operations waiting for the lock to be released.
    pub backlog_queue_size: usize,
}

/// Filters and paging for [`DurableClient::list_entities`](crate::DurableClient::list_entities).
///
/// DF's `EntityQuery`. Start from [`EntityQuery::default`] and chain the setters (one per
/// field, named as it): `EntityQuery::default().name("counter").include_state(true)`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EntityQuery {
    /// Only entities of this name (case-insensitive); `None` for every name.
    pub name: Option<String>,
    /// Only keys starting with this prefix (needs `name`).
    pub key_prefix: Option<String>,
    /// Include each entity's state.
    pub include_state: bool,
    /// Only entities whose last operation batch committed at or after this time.
    pub last_modified_from: Option<DateTime<Utc>>,
    /// Only entities whose last operation batch committed before this time.
    pub last_modified_to: Option<DateTime<Utc>>,
    /// At most this many per page (default 100).
    pub page_size: usize,
    /// The token of the previous page's end.
    pub continuation_token: Option<String>,
}

impl Default for EntityQuery {
    fn default() -> Self {
        Self {
            name: None,
            key_prefix: None,
            include_state: false,
            last_modified_from: None,
            last_modified_to: None,
            page_size: 100,
            continuation_token: None,
        }
    }
}

setters! {
    impl EntityQuery {
        /// Sets the entity name to list (case-insensitive; default: every name).
        name: Some(String);
        /// Sets the key prefix to list (needs `name`; default: every key).
        key_prefix: Some(String);
        /// Sets whether each entity's state is read too (default false).
        include_state: bool;
        /// Lists only entities whose last operation batch committed at or after this time
        /// (default: no bound).
        last_modified_from: Some(DateTime<Utc>);
        /// Lists only entities whose last operation batch committed before this time
        /// (default: no bound).
        last_modified_to: Some(DateTime<Utc>);
        /// Sets the most entities per page (a count; default 100).
        page_size: usize;
        /// Sets where the page starts: the previous page's
        /// `continuation_token` (default `None`: the first page).
        continuation_token: Option<String>;
    }
}

/// One page of [`DurableClient::list_entities`](crate::DurableClient::list_entities),
/// ordered by creation time then id.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EntityPage {
    /// The entities.
    pub entities: Vec<EntityMetadata>,
    /// The token for the next page; `None` on the last.
    pub continuation_token: Option<String>,
}
