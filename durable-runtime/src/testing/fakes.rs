//! Fakes: activities, orchestrations and entities replaced for one test environment by a
//! closure, with every call recorded.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::entity::{Entity, EntityContext, EntityId, LiveEntity};
use crate::error::{ActivityError, OrchestrationError};
use crate::payload::Payload;
use crate::registry::{Activity, Orchestration, input_decode_failure, output_encode_failure};
use crate::status::FailureDetails;

/// Recorded inputs, shared by a fake and its handle.
type Recorded<T> = Arc<Mutex<Vec<T>>>;

fn push<T>(recorded: &Recorded<T>, value: T) {
    recorded
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(value);
}

fn decode_all<T: DeserializeOwned>(recorded: &Recorded<Payload>) -> Vec<T> {
    recorded
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(|input| input.decode().ok())
        .collect()
}

fn count<T>(recorded: &Recorded<T>) -> usize {
    recorded
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len()
}

/// The handle of an activity faked with
/// [`TestEnvironment::fake_activity`](super::TestEnvironment::fake_activity): the inputs
/// it was called with, in call order. Cheap to clone; clones share the record.
pub struct FakeActivity<A: Activity> {
    calls: Recorded<Payload>,
    _activity: PhantomData<fn() -> A>,
}

impl<A: Activity> FakeActivity<A> {
    /// The inputs of every call so far, oldest first (a retried activity appears once
    /// per attempt).
    pub fn calls(&self) -> Vec<A::Input> {
        decode_all(&self.calls)
    }

    /// How many times it was called.
    pub fn call_count(&self) -> usize {
        count(&self.calls)
    }
}

impl<A: Activity> Clone for FakeActivity<A> {
    fn clone(&self) -> Self {
        Self {
            calls: self.calls.clone(),
            _activity: PhantomData,
        }
    }
}

impl<A: Activity> std::fmt::Debug for FakeActivity<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeActivity")
            .field("activity", &A::NAME)
            .field("calls", &self.call_count())
            .finish()
    }
}

/// The handle of an orchestration faked with
/// [`TestEnvironment::fake_orchestration`](super::TestEnvironment::fake_orchestration):
/// the inputs of the instances it ran for, in start order.
pub struct FakeOrchestration<O: Orchestration> {
    calls: Recorded<Payload>,
    _orchestration: PhantomData<fn() -> O>,
}

impl<O: Orchestration> FakeOrchestration<O> {
    /// The inputs of every instance run so far, oldest first.
    pub fn calls(&self) -> Vec<O::Input> {
        decode_all(&self.calls)
    }

    /// How many instances it ran for.
    pub fn call_count(&self) -> usize {
        count(&self.calls)
    }
}

impl<O: Orchestration> Clone for FakeOrchestration<O> {
    fn clone(&self) -> Self {
        Self {
            calls: self.calls.clone(),
            _orchestration: PhantomData,
        }
    }
}

impl<O: Orchestration> std::fmt::Debug for FakeOrchestration<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeOrchestration")
            .field("orchestration", &O::NAME)
            .field("calls", &self.call_count())
            .finish()
    }
}

/// One operation a faked entity received; see
/// [`TestEnvironment::fake_entity`](super::TestEnvironment::fake_entity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityOperationCall {
    /// The entity's key (`@name@key`'s key).
    pub key: String,
    /// The operation name as sent.
    pub operation: String,
    /// The operation's input.
    pub input: Payload,
}

impl EntityOperationCall {
    /// Decodes the input as `T`.
    ///
    /// # Errors
    /// The decoder's error when the input is not a `T`.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        self.input.decode()
    }
}

/// The handle of an entity faked with
/// [`TestEnvironment::fake_entity`](super::TestEnvironment::fake_entity): every operation
/// it received, in the order it applied them.
pub struct FakeEntity<E: Entity> {
    calls: Recorded<EntityOperationCall>,
    _entity: PhantomData<fn() -> E>,
}

impl<E: Entity> FakeEntity<E> {
    /// Every operation so far, oldest first.
    pub fn calls(&self) -> Vec<EntityOperationCall> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many operations it received.
    pub fn call_count(&self) -> usize {
        count(&self.calls)
    }
}

impl<E: Entity> Clone for FakeEntity<E> {
    fn clone(&self) -> Self {
        Self {
            calls: self.calls.clone(),
            _entity: PhantomData,
        }
    }
}

impl<E: Entity> std::fmt::Debug for FakeEntity<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeEntity")
            .field("entity", &E::NAME)
            .field("calls", &self.call_count())
            .finish()
    }
}

pub(super) fn activity<A, F>(fake: F) -> (crate::registry::DynActivityFn, FakeActivity<A>)
where
    A: Activity,
    F: Fn(A::Input) -> Result<A::Output, ActivityError> + Send + Sync + 'static,
{
    let calls: Recorded<Payload> = Recorded::default();
    let recorded = calls.clone();
    let fake = Arc::new(fake);
    let body: crate::registry::DynActivityFn = Arc::new(move |_ctx, input: Payload| {
        let (fake, recorded) = (fake.clone(), recorded.clone());
        Box::pin(async move {
            push(&recorded, input.clone());
            let input: A::Input = input
                .decode()
                .map_err(|e| input_decode_failure::<A::Input>("activity", A::NAME, &e))?;
            let output = fake(input).map_err(ActivityError::into_details)?;
            Payload::encode(&output).map_err(|e| output_encode_failure("activity", A::NAME, &e))
        })
    });
    (
        body,
        FakeActivity {
            calls,
            _activity: PhantomData,
        },
    )
}

pub(super) fn orchestration<O, F>(
    fake: F,
) -> (crate::registry::DynOrchestratorFn, FakeOrchestration<O>)
where
    O: Orchestration,
    F: Fn(O::Input) -> Result<O::Output, OrchestrationError> + Send + Sync + 'static,
{
    let calls: Recorded<Payload> = Recorded::default();
    let recorded = calls.clone();
    let fake = Arc::new(fake);
    let body: crate::registry::DynOrchestratorFn = Arc::new(move |ctx, input: Payload| {
        let (fake, recorded) = (fake.clone(), recorded.clone());
        Box::pin(async move {
            // Record each instance once, not on every replay of it.
            if !ctx.is_replaying() {
                push(&recorded, input.clone());
            }
            let input: O::Input = input
                .decode()
                .map_err(|e| input_decode_failure::<O::Input>("orchestration", O::NAME, &e))?;
            let output = fake(input).map_err(OrchestrationError::into_details)?;
            Payload::encode(&output)
                .map_err(|e| output_encode_failure("orchestration", O::NAME, &e))
        })
    });
    (
        body,
        FakeOrchestration {
            calls,
            _orchestration: PhantomData,
        },
    )
}

type EntityFake =
    Arc<dyn Fn(&EntityOperationCall) -> Result<Payload, FailureDetails> + Send + Sync>;

/// A faked entity's live state: the stored state is kept as it is.
struct FakeLive {
    key: String,
    state: Option<Payload>,
    fake: EntityFake,
    calls: Recorded<EntityOperationCall>,
}

impl LiveEntity for FakeLive {
    fn apply<'a>(
        &'a mut self,
        _ctx: &'a EntityContext,
        operation: &'a str,
        input: Payload,
    ) -> Pin<Box<dyn Future<Output = Result<Payload, FailureDetails>> + Send + 'a>> {
        let call = EntityOperationCall {
            key: self.key.clone(),
            operation: operation.to_owned(),
            input,
        };
        push(&self.calls, call.clone());
        let result = (self.fake)(&call);
        Box::pin(async move { result })
    }

    fn snapshot(&self) -> Option<Payload> {
        self.state.clone()
    }
}

pub(super) fn entity<E, R, F>(fake: F) -> (crate::registry::DynEntityFactory, FakeEntity<E>)
where
    E: Entity,
    R: Serialize,
    F: Fn(&EntityOperationCall) -> Result<R, ActivityError> + Send + Sync + 'static,
{
    let calls: Recorded<EntityOperationCall> = Recorded::default();
    let recorded = calls.clone();
    let fake: EntityFake = Arc::new(move |call: &EntityOperationCall| {
        let output = fake(call).map_err(ActivityError::into_details)?;
        Payload::encode(&output).map_err(|e| output_encode_failure("entity", E::NAME, &e))
    });
    let factory: crate::registry::DynEntityFactory =
        Arc::new(move |id: &EntityId, state: Option<Payload>| {
            Box::new(FakeLive {
                key: id.key().to_owned(),
                state,
                fake: fake.clone(),
                calls: recorded.clone(),
            }) as Box<dyn LiveEntity>
        });
    (
        factory,
        FakeEntity {
            calls,
            _entity: PhantomData,
        },
    )
}
