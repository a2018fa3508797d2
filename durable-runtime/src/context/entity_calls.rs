//! Entity calls, signals and critical sections from an orchestration.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::calls::{OpenHandle, decode_output};
use crate::OrchestrationContext;
use crate::entity::{EntityId, EntitySignaler};
use crate::error::EntityOperationFailed;
use crate::error_types::INPUT_ENCODE_ERROR;
use crate::payload::Payload;
use crate::replay::{Action, CriticalSectionState, Shared};
use crate::status::FailureDetails;

impl OrchestrationContext {
    /// Calls `operation` on `entity` and returns a future of its result: DF's `CallEntityAsync`.
    /// Use the generated proxy instead: `Counter::call(&ctx, key).get()`.
    ///
    /// Inside a critical section only the locked entities may be called, one call at a time
    /// per entity; breaking that rule fails the instance with
    /// [`LOCKING_RULES_VIOLATION`](crate::error_types::LOCKING_RULES_VIOLATION).
    ///
    /// # Determinism
    /// Writes `EntityOperationCalled` with the next sequence number; the result comes from
    /// the recorded `EntityOperationCompleted`/`EntityOperationFailed`.
    #[doc(hidden)]
    pub fn call_entity_operation<T: DeserializeOwned>(
        &self,
        entity: EntityId,
        operation: &'static str,
        input: Result<Payload, serde_json::Error>,
    ) -> EntityCall<T> {
        let input = match input {
            Ok(input) => input,
            Err(error) => {
                return EntityCall {
                    handle: OpenHandle::none(),
                    early: Some(FailureDetails::new(
                        INPUT_ENCODE_ERROR,
                        format!(
                            "could not encode the input of operation `{operation}` on {entity}: {error}"
                        ),
                    )),
                    entity,
                    operation,
                    _output: PhantomData,
                };
            }
        };
        let mut state = self.shared.lock();
        let mut violation = None;
        if let Some(section) = &state.section {
            if !section.entities.contains(&entity) {
                violation = Some(format!(
                    "instance {} called `{operation}` on {entity} inside a critical section that did \
                     not lock it; inside a critical section only the locked entities ({}) may be called",
                    self.shared.instance_id,
                    list(&section.entities)
                ));
            } else if section.in_use.contains(&entity) {
                violation = Some(format!(
                    "instance {} called `{operation}` on {entity} while another call to it was still \
                     running; inside a critical section await each call to a locked entity before \
                     calling it again",
                    self.shared.instance_id
                ));
            }
        }
        let in_section = state.section.is_some();
        if let Some(message) = violation {
            state.violate(message);
        }
        let seq = state.schedule(Action::CallEntity {
            entity: entity.clone(),
            operation: operation.to_owned(),
            input,
        });
        if in_section {
            state.section_calls.insert(seq, entity.clone());
            if let Some(section) = state.section.as_mut() {
                section.in_use.insert(entity.clone());
            }
        }
        drop(state);
        EntityCall {
            handle: OpenHandle::new(self.shared.clone(), seq),
            early: None,
            entity,
            operation,
            _output: PhantomData,
        }
    }

    /// Locks `entities` for a critical section and resolves once every one is locked for
    /// this orchestration: DF's `LockAsync`.
    ///
    /// The ids are sorted into the global order ([`EntityId`]'s `Ord`) and locked one after
    /// the other, so two orchestrations locking overlapping sets never deadlock. While
    /// locked, an entity runs only this orchestration's calls; everyone else's operations
    /// wait. The section ends when the returned [`CriticalSection`] is dropped (or the
    /// orchestration ends).
    ///
    /// The reference's locking rules are enforced; breaking one fails the instance with
    /// [`LOCKING_RULES_VIOLATION`](crate::error_types::LOCKING_RULES_VIOLATION) and a message
    /// naming the rule: no locking while already in a section, no sub-orchestrations inside
    /// one, only locked entities may be called (one call at a time each), and locked
    /// entities may not be signalled. An empty set is also refused.
    ///
    /// # Determinism
    /// Writes `EntityLockRequested` with the next sequence number, and `EntityUnlockSent`
    /// (another one) when the section ends.
    pub fn lock_entities(&self, entities: impl IntoIterator<Item = EntityId>) -> LockEntities {
        let mut entities: Vec<EntityId> = entities.into_iter().collect();
        entities.sort();
        entities.dedup();
        let mut state = self.shared.lock();
        if entities.is_empty() {
            state.violate(format!(
                "instance {} called `lock_entities` with no entities; name at least one",
                self.shared.instance_id
            ));
        } else if let Some(section) = &state.section {
            let held = list(&section.entities);
            state.violate(format!(
                "instance {} tried to lock entities while already holding locks on {held}; \
                 critical sections cannot be nested: lock every entity you need in one \
                 `lock_entities` call",
                self.shared.instance_id
            ));
        }
        let seq = state.schedule(Action::LockEntities {
            entities: entities.clone(),
        });
        if state.section.is_none() {
            state.section = Some(CriticalSectionState {
                seq,
                entities,
                in_use: std::collections::HashSet::new(),
                abandoned: false,
            });
        }
        drop(state);
        LockEntities {
            handle: OpenHandle::new(self.shared.clone(), seq),
            shared: self.shared.clone(),
            seq,
            done: false,
        }
    }

    /// The entities this orchestration holds locked, in lock order; empty outside a
    /// critical section. DF's `IsLocked`.
    pub fn locked_entities(&self) -> Vec<EntityId> {
        self.shared
            .lock()
            .section
            .as_ref()
            .map(|s| s.entities.clone())
            .unwrap_or_default()
    }
}

fn list(entities: &[EntityId]) -> String {
    entities
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl EntitySignaler for OrchestrationContext {
    type Signal = ();

    /// Records a one-way signal, sent when the turn commits: DF's `SignalEntity`. Writes
    /// `EntityOperationSignaled` with the next sequence number.
    fn signal_operation(
        &self,
        entity: EntityId,
        operation: &'static str,
        input: Result<Payload, serde_json::Error>,
        at: Option<DateTime<Utc>>,
    ) {
        let mut state = self.shared.lock();
        let input = match input {
            Ok(input) => input,
            Err(error) => {
                state.violate(format!(
                    "instance {} could not encode the input of signal `{operation}` to {entity}: {error}",
                    self.shared.instance_id
                ));
                return;
            }
        };
        if let Some(section) = &state.section
            && section.entities.contains(&entity)
        {
            let message = format!(
                "instance {} signalled {entity} inside a critical section that locked it; locked \
                 entities can only be called (`Counter::call`), not signalled",
                self.shared.instance_id
            );
            state.violate(message);
        }
        let seq = state.schedule(Action::SignalEntity {
            entity,
            operation: operation.to_owned(),
            input,
            at,
        });
        state.open.remove(&seq);
    }
}

/// The future of an entity call; see the generated `Counter::call(&ctx, key)` proxy.
///
/// Resolves to the operation's result, or to [`EntityOperationFailed`].
#[must_use = "an entity call does nothing for the orchestrator unless awaited"]
pub struct EntityCall<T> {
    handle: OpenHandle,
    early: Option<FailureDetails>,
    entity: EntityId,
    operation: &'static str,
    _output: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for EntityCall<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntityCall")
            .field("entity", &self.entity)
            .field("operation", &self.operation)
            .finish_non_exhaustive()
    }
}

impl<T> Unpin for EntityCall<T> {}

impl<T: DeserializeOwned> Future for EntityCall<T> {
    type Output = Result<T, EntityOperationFailed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let failed = |details| EntityOperationFailed {
            entity: this.entity.clone(),
            operation: this.operation.to_owned(),
            details,
        };
        if let Some(failure) = this.early.take() {
            return Poll::Ready(Err(failed(failure)));
        }
        let operation = this.operation;
        match this.handle.poll_result(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => Poll::Ready(
                result
                    .and_then(|payload| decode_output("entity operation", operation, &payload))
                    .map_err(failed),
            ),
        }
    }
}

/// The future of [`OrchestrationContext::lock_entities`]; resolves to the
/// [`CriticalSection`] once every entity is locked.
#[must_use = "locking does nothing for the orchestrator unless awaited"]
pub struct LockEntities {
    handle: OpenHandle,
    shared: Arc<Shared>,
    seq: i64,
    done: bool,
}

impl fmt::Debug for LockEntities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockEntities")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Future for LockEntities {
    type Output = CriticalSection;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.handle.poll_result(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => {
                this.done = true;
                Poll::Ready(CriticalSection {
                    shared: this.shared.clone(),
                    seq: this.seq,
                })
            }
        }
    }
}

impl Drop for LockEntities {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Dropped before the lock was granted (a timeout won a `select`): release the
        // entities as soon as the grant arrives, so nobody waits on an abandoned lock.
        let mut state = self.shared.lock();
        if let Some(section) = state.section.as_mut()
            && section.seq == self.seq
        {
            section.abandoned = true;
        }
    }
}

/// A held critical section; see [`OrchestrationContext::lock_entities`]. Dropping it (or
/// calling [`release`](Self::release)) unlocks the entities.
#[must_use = "dropping the critical section releases its locks at once"]
pub struct CriticalSection {
    shared: Arc<Shared>,
    seq: i64,
}

impl fmt::Debug for CriticalSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CriticalSection")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl CriticalSection {
    /// The locked entities, in lock order.
    pub fn entities(&self) -> Vec<EntityId> {
        self.shared
            .lock()
            .section
            .as_ref()
            .filter(|s| s.seq == self.seq)
            .map(|s| s.entities.clone())
            .unwrap_or_default()
    }

    /// Ends the critical section now: the same as dropping it.
    pub fn release(self) {}
}

impl Drop for CriticalSection {
    fn drop(&mut self) {
        self.shared.lock().release_section(self.seq);
    }
}
