//! [`DurableClient`]: start instances, read their status and history, wait for results.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::entity::scheduler::SchedulerState;
use crate::entity::{EntityId, EntityMetadata, EntityPage, EntityQuery, EntitySignaler};

use crate::clock::Clock;
use crate::context::ExternalEvent;
use crate::error::ClientError;
use crate::error::StoreError;
use crate::history::{EventKind, HistoryEvent};
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::registry::Orchestration;
use crate::status::{OrchestrationStatus, RuntimeStatus};
use crate::store::{InstancePage, InstanceQuery, NewInstance, OutboundMessage, PurgeQuery, Store};
use crate::trace_context::TraceContext;

/// The statuses in which an instance still accepts events, termination, suspend and resume.
pub(crate) const LIVE: [RuntimeStatus; 4] = [
    RuntimeStatus::Running,
    RuntimeStatus::Pending,
    RuntimeStatus::Suspended,
    RuntimeStatus::ContinuedAsNew,
];

/// Maps the store's status refusals to client errors naming the operation.
fn state_error(error: StoreError, operation: &'static str) -> ClientError {
    match error {
        StoreError::InstanceNotFound(id) => ClientError::InstanceNotFound(id),
        StoreError::InstanceState {
            instance_id,
            status,
        } => ClientError::InvalidState {
            instance_id,
            status,
            operation,
        },
        other => ClientError::Store(other),
    }
}

/// The longest gap between two status reads while waiting, for instances finished by
/// another process (this process's own completions wake the waiter at once).
const MAX_WAIT_POLL: Duration = Duration::from_secs(1);

/// The gap between two status reads of a waiter whose store reports other processes'
/// changes ([`Notifier::watches_others`](crate::store::Notifier::watches_others)): a
/// safety net only, so that a hundred thousand waiters read almost nothing while they wait.
const SAFETY_WAIT_POLL: Duration = Duration::from_secs(30);

/// The first gap between two status reads while waiting. Completions in this process (and,
/// on PostgreSQL, in any process) wake the waiter at once, so the re-reads are only the
/// fallback; starting at 10 ms made a few hundred waiting clients a large share of the
/// store's reads under load.
const FIRST_WAIT_POLL: Duration = Duration::from_millis(100);

/// A client of one task hub's store: starts orchestrations and reads their state.
///
/// Cheap to clone. Get one from [`Runtime::client`](crate::Runtime::client), or build one
/// over a store with [`DurableClient::new`] to manage instances without running a worker.
#[derive(Clone)]
pub struct DurableClient {
    store: Arc<dyn Store>,
    /// The store's clock, for event and creation timestamps.
    clock: Clock,
    /// The caller's trace context, when given ([`DurableClient::with_trace_context`]).
    parent_trace: Option<TraceContext>,
    /// The runtime's tracer, when it traces (feature `otel`).
    #[cfg(feature = "otel")]
    pub(crate) telemetry: Option<Arc<crate::telemetry::Telemetry>>,
}

impl fmt::Debug for DurableClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableClient")
            .field("store", &self.store)
            .finish()
    }
}

impl DurableClient {
    /// Makes a client over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            clock: store.clock(),
            store,
            parent_trace: None,
            #[cfg(feature = "otel")]
            telemetry: None,
        }
    }

    /// A client like this one whose starts and entity signals record `context` as the
    /// caller's W3C trace context: the started instance's spans join that trace (Durable
    /// Functions' `ParentTraceContext`). The HTTP API does this with a request's
    /// `traceparent` and `tracestate` headers.
    ///
    /// Without it, a build with feature `otel` records the caller's current span
    /// (`tracing`'s, through `tracing-opentelemetry`, or OpenTelemetry's current context);
    /// a runtime that traces records its own `create_orchestration` span, the child of
    /// that context.
    pub fn with_trace_context(&self, context: TraceContext) -> Self {
        let mut client = self.clone();
        client.parent_trace = Some(context);
        client
    }

    /// The trace context a start or signal records, after emitting the client's producer
    /// span `span` when the runtime traces (feature `otel`).
    #[cfg(feature = "otel")]
    fn trace_for(
        &self,
        span: impl FnOnce() -> (String, Vec<opentelemetry::KeyValue>),
    ) -> Option<TraceContext> {
        use crate::telemetry;
        let parent = match &self.parent_trace {
            Some(context) => telemetry::remote_context(context).unwrap_or_default(),
            None => telemetry::current_context(),
        };
        match &self.telemetry {
            Some(telemetry) => {
                let (name, attributes) = span();
                telemetry.export_client_span(name, attributes, &parent, self.clock.now())
            }
            None => telemetry::trace_context_of(&parent),
        }
    }

    /// The store this client uses.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Prepares to start a new instance of orchestration `O` with `input`; `.await` it.
    ///
    /// Set an instance id with [`StartOrchestration::instance_id`]; without one a new
    /// 32-hex-digit id is generated. The generated `Marker::start(&client, input)` is the
    /// same call.
    ///
    /// # Errors
    /// Awaiting gives [`ClientError::InvalidInstanceId`] for an id that breaks the id rules,
    /// [`ClientError::Store`] with [`StoreError::InstanceAlreadyExists`](crate::StoreError::InstanceAlreadyExists) when the id belongs
    /// to an instance that has not finished (Durable Functions' `NonRunningStates` reuse
    /// rule), or [`ClientError::InputEncode`].
    pub fn start_orchestration<O: Orchestration>(
        &self,
        orchestration: O,
        input: O::Input,
    ) -> StartOrchestration<O> {
        let _ = orchestration;
        StartOrchestration {
            client: self.clone(),
            input,
            instance_id: None,
            _orchestration: PhantomData,
        }
    }

    /// A typed handle to an existing instance of `O`.
    pub fn instance<O: Orchestration>(&self, instance_id: InstanceId) -> OrchestrationHandle<O> {
        OrchestrationHandle {
            client: self.clone(),
            instance_id,
            _orchestration: PhantomData,
        }
    }

    /// Reads an instance's status; `None` when no instance has this id.
    ///
    /// # Errors
    /// [`ClientError::Store`] when the store fails.
    pub async fn get_status(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<OrchestrationStatus>, ClientError> {
        Ok(self.store.get_status(instance_id).await?)
    }

    /// Waits until the instance is Completed, Failed, Terminated or Canceled, and returns
    /// that status (whatever it is: check `runtime_status`).
    ///
    /// Does not busy-poll: a completion in this process wakes the waiter at once. Where the
    /// store reports changes by other processes (memory; SQLite, whose writer watches the
    /// file's data version; PostgreSQL while its listener is connected), such a change wakes
    /// the waiter, which then re-reads no more often than a back-off from 100 ms doubling up
    /// to 1 s, and otherwise only every 30 s as a safety net; elsewhere the status is
    /// re-read on that back-off. `timeout` may be `Duration::MAX` (no deadline).
    ///
    /// # Errors
    /// [`ClientError::InstanceNotFound`], [`ClientError::Timeout`] (with the status at the
    /// deadline), or [`ClientError::Store`].
    pub async fn wait_for_completion(
        &self,
        instance_id: &InstanceId,
        timeout: Duration,
    ) -> Result<OrchestrationStatus, ClientError> {
        let now = tokio::time::Instant::now();
        // `Instant + Duration::MAX` would overflow: a deadline past any real wait is none.
        let deadline = now.checked_add(timeout);
        let notifier = self.store.notifier();
        let mut poll = FIRST_WAIT_POLL;
        loop {
            // Registered before the read, so a finish or change between the two still wakes.
            let finished = notifier.watch_instance(instance_id);
            let mut changed = std::pin::pin!(notifier.other_change());
            changed.as_mut().enable();
            let read_at = tokio::time::Instant::now();
            let status = self
                .get_status(instance_id)
                .await?
                .ok_or_else(|| ClientError::InstanceNotFound(instance_id.clone()))?;
            if status.runtime_status.is_terminal() {
                return Ok(status);
            }
            let now = tokio::time::Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                return Err(ClientError::Timeout {
                    instance_id: instance_id.clone(),
                    timeout,
                    status: status.runtime_status,
                });
            }
            // A store that reports other processes' changes wakes us when one may matter; we
            // then re-read no sooner than the back-off allows. Otherwise re-read on the
            // back-off alone.
            let watched = notifier.watches_others();
            let gap = if watched { SAFETY_WAIT_POLL } else { poll };
            let until = deadline.map_or(now + gap, |deadline| deadline.min(now + gap));
            let told = async {
                if watched {
                    changed.await;
                    tokio::time::sleep_until(read_at + poll).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = finished => {}
                () = told => {}
                () = tokio::time::sleep_until(until) => {}
            }
            poll = (poll * 2).min(MAX_WAIT_POLL);
        }
    }

    /// How many instances and entities the task hub holds in each runtime status, and how
    /// much work is queued (due and future messages, queued and running activities); see
    /// [`TaskHubStats`](crate::store::TaskHubStats). The counts by status are kept by the
    /// store as instances change, so this costs the same on a store of a million instances
    /// as on an empty one; the backlog is counted from the queues' indexes.
    ///
    /// # Errors
    /// [`ClientError::Store`].
    pub async fn task_hub_stats(&self) -> Result<crate::store::TaskHubStats, ClientError> {
        Ok(self.store.task_hub_stats().await?)
    }

    /// Lists instances that match `query`, one page at a time (Durable Functions'
    /// `ListInstancesAsync`); pass the returned continuation token to get the next page.
    /// Pages come in creation order, or in instance-id order with
    /// [`InstanceQuery::instance_id_prefix`].
    ///
    /// # Errors
    /// [`ClientError::Store`], including a malformed continuation token.
    pub async fn list_instances(&self, query: &InstanceQuery) -> Result<InstancePage, ClientError> {
        Ok(self.store.list_instances(query).await?)
    }

    /// Reads the current execution's history.
    ///
    /// # Errors
    /// [`ClientError::InstanceNotFound`] or [`ClientError::Store`].
    pub async fn read_history(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Vec<HistoryEvent>, ClientError> {
        self.store
            .read_history(instance_id)
            .await?
            .ok_or_else(|| ClientError::InstanceNotFound(instance_id.clone()))
    }

    /// Raises event `name` with `data` on an instance (Durable Functions'
    /// `RaiseEventAsync`). The event is kept until the orchestrator waits for it; while the
    /// instance is suspended it waits and is applied on resume.
    ///
    /// # Errors
    /// [`ClientError::InstanceNotFound`]; [`ClientError::InvalidState`] when the instance
    /// has finished (the event would be lost, so it is refused rather than dropped);
    /// [`ClientError::InputEncode`] when `data` cannot be encoded.
    pub async fn raise_event<T: Serialize + ?Sized>(
        &self,
        instance_id: &InstanceId,
        name: &str,
        data: &T,
    ) -> Result<(), ClientError> {
        let input = Payload::encode(data).map_err(|source| ClientError::InputEncode {
            name: "event data",
            source,
        })?;
        let event = HistoryEvent::new(
            self.clock.now(),
            EventKind::EventRaised {
                name: name.to_owned(),
                input,
            },
        );
        // The raise's span (the event itself carries no trace context: the waiting
        // orchestration's `event` span covers the wait).
        #[cfg(feature = "otel")]
        if self.telemetry.is_some() {
            let _ = self.trace_for(|| {
                use crate::telemetry::attributes;
                use opentelemetry::KeyValue;
                (
                    format!("orchestration_event:{name}"),
                    vec![
                        KeyValue::new(attributes::TYPE, "event"),
                        KeyValue::new(attributes::NAME, name.to_owned()),
                        KeyValue::new(
                            attributes::EVENT_TARGET_INSTANCE_ID,
                            instance_id.to_string(),
                        ),
                    ],
                )
            });
        }
        self.control(instance_id, event, &LIVE, "raise an event to")
            .await
    }

    /// Raises the typed event `E` (under `E::NAME`); see [`raise_event`](Self::raise_event).
    ///
    /// # Errors
    /// As [`raise_event`](Self::raise_event).
    pub async fn raise<E: ExternalEvent>(
        &self,
        instance_id: &InstanceId,
        event: &E,
    ) -> Result<(), ClientError> {
        self.raise_event(instance_id, E::NAME, event).await
    }

    /// Terminates an instance: it ends as `Terminated` with `reason` as its output
    /// (Durable Functions' `TerminateAsync`). Activities already running are not stopped.
    /// With [`TerminateScope::WithSubOrchestrations`], its unfinished sub-orchestrations
    /// (and theirs) are terminated too (the HTTP API's `recursive=true`).
    ///
    /// # Errors
    /// [`ClientError::InstanceNotFound`], or [`ClientError::InvalidState`] when it has
    /// already finished.
    pub async fn terminate(
        &self,
        instance_id: &InstanceId,
        reason: Option<&str>,
        scope: TerminateScope,
    ) -> Result<(), ClientError> {
        let event = HistoryEvent::new(
            self.clock.now(),
            EventKind::ExecutionTerminated {
                reason: reason.map(str::to_owned),
            },
        );
        // The parent first: were a child terminated first, the parent could see that
        // failure and finish on its own before its own termination arrived.
        self.control(instance_id, event, &LIVE, "terminate").await?;
        if scope == TerminateScope::WithSubOrchestrations {
            for child in self.unfinished_children(instance_id).await? {
                match Box::pin(self.terminate(&child, reason, scope)).await {
                    Ok(())
                    | Err(ClientError::InvalidState { .. } | ClientError::InstanceNotFound(_)) => {}
                    Err(other) => return Err(other),
                }
            }
        }
        Ok(())
    }

    /// Suspends an instance: it makes no progress, and events that arrive meanwhile wait,
    /// until [`resume`](Self::resume). As in Durable Functions (`SuspendAsync`), the request is
    /// queued for any instance that has not finished and applied in order with the other
    /// control requests, so a suspend followed at once by a resume ends Running; suspending
    /// a suspended instance is a no-op when applied.
    ///
    /// # Errors
    /// [`ClientError::InstanceNotFound`], or [`ClientError::InvalidState`] when it has
    /// finished.
    pub async fn suspend(
        &self,
        instance_id: &InstanceId,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        let event = HistoryEvent::new(
            self.clock.now(),
            EventKind::ExecutionSuspended {
                reason: reason.map(str::to_owned),
            },
        );
        self.control(instance_id, event, &LIVE, "suspend").await
    }

    /// Resumes a suspended instance; the events that arrived while it was suspended are
    /// applied in arrival order. Queued like [`suspend`](Self::suspend) for any instance that
    /// has not finished (Durable Functions' `ResumeAsync`); resuming one that is not
    /// suspended is a no-op when applied.
    ///
    /// # Errors
    /// [`ClientError::InstanceNotFound`], or [`ClientError::InvalidState`] when it has
    /// finished.
    pub async fn resume(
        &self,
        instance_id: &InstanceId,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        let event = HistoryEvent::new(
            self.clock.now(),
            EventKind::ExecutionResumed {
                reason: reason.map(str::to_owned),
            },
        );
        self.control(instance_id, event, &LIVE, "resume").await
    }

    /// Rewinds a Failed instance (Durable Functions' `RewindAsync`): it becomes Running
    /// again and re-runs what failed, keeping what succeeded. Failed activities and entity
    /// calls run again; failed sub-orchestrations are rewound the same way (recursively)
    /// and keep their own results; work that completed before the first failure is not
    /// run again. `reason` is recorded in history (`ExecutionRewound`).
    ///
    /// Replay reads history up to the rewind as if its failures had not happened: all of
    /// it before the first failure, and after that only the results of work scheduled
    /// before it, raised events and suspend/resume markers. What the orchestrator
    /// scheduled in response to a failure (a retry's backoff timer, a compensation) is
    /// scheduled again only if the code still asks for it. Typical use: fix the cause
    /// (a configuration, a downstream service, a bug in an activity), deploy, rewind.
    ///
    /// Applied by a worker as a queued request, like [`terminate`](Self::terminate); the
    /// instance reads `Pending` from this call on. The worker waits until the failed
    /// execution's activities still running have finished, and drops their results: an
    /// activity or entity call whose result never reached history (it arrived while the
    /// instance was Failed, as with a fan-out that failed at its first error) runs again.
    /// A durable timer that fired meanwhile fires again; a sub-orchestration that ended
    /// meanwhile answers again (a purged one answers with
    /// `durable::SubOrchestrationNotFound`). An entity operation may so run twice.
    ///
    /// # Errors
    /// [`ClientError::InstanceNotFound`], or [`ClientError::InvalidState`] when the
    /// instance is not Failed (Durable Functions rewinds only Failed instances).
    pub async fn rewind(
        &self,
        instance_id: &InstanceId,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        let event = HistoryEvent::new(
            self.clock.now(),
            EventKind::ExecutionRewound {
                reason: reason.map(str::to_owned),
            },
        );
        self.control(instance_id, event, &[RuntimeStatus::Failed], "rewind")
            .await
    }

    /// Deletes a finished instance with its history (Durable Functions'
    /// `PurgeInstanceHistoryAsync`).
    ///
    /// # Errors
    /// [`ClientError::InstanceNotFound`], or [`ClientError::InvalidState`] when it has not
    /// finished (terminate it first).
    pub async fn purge(&self, instance_id: &InstanceId) -> Result<(), ClientError> {
        self.store
            .purge_instance(instance_id)
            .await
            .map_err(|error| state_error(error, "purge"))
    }

    /// Deletes every finished instance matching `query`; returns how many.
    ///
    /// # Errors
    /// [`ClientError::Store`].
    pub async fn purge_instances(&self, query: &PurgeQuery) -> Result<usize, ClientError> {
        Ok(self.store.purge_instances(query).await?)
    }

    /// Starts an instance again with the same orchestration, version and input (Durable
    /// Functions' `RestartAsync`): under a new instance id ([`RestartAs::NewInstanceId`],
    /// Durable Functions' default), or under the same one ([`RestartAs::SameInstanceId`],
    /// allowed once the old instance has finished). Returns the id it runs under.
    ///
    /// # Errors
    /// [`ClientError::InstanceNotFound`]; with the same id,
    /// [`StoreError::InstanceAlreadyExists`](crate::StoreError::InstanceAlreadyExists) while
    /// it is still running.
    pub async fn restart(
        &self,
        instance_id: &InstanceId,
        restart_as: RestartAs,
    ) -> Result<InstanceId, ClientError> {
        let status = self
            .get_status(instance_id)
            .await?
            .ok_or_else(|| ClientError::InstanceNotFound(instance_id.clone()))?;
        let id = (restart_as == RestartAs::SameInstanceId).then(|| instance_id.to_string());
        self.start_raw(
            status.name,
            status.version,
            id,
            status.input.unwrap_or_else(Payload::null),
        )
        .await
    }

    async fn unfinished_children(
        &self,
        parent: &InstanceId,
    ) -> Result<Vec<InstanceId>, ClientError> {
        let mut children = Vec::new();
        let mut query = InstanceQuery {
            parent_instance_id: Some(parent.clone()),
            statuses: RuntimeStatus::ALL
                .into_iter()
                .filter(|s| !s.is_terminal())
                .collect(),
            page_size: 1000,
            ..InstanceQuery::default()
        };
        loop {
            let page = self.store.list_instances(&query).await?;
            children.extend(page.instances.into_iter().map(|s| s.instance_id));
            match page.continuation_token {
                Some(token) => query.continuation_token = Some(token),
                None => return Ok(children),
            }
        }
    }

    async fn control(
        &self,
        instance_id: &InstanceId,
        event: HistoryEvent,
        accept: &[RuntimeStatus],
        operation: &'static str,
    ) -> Result<(), ClientError> {
        let message = OutboundMessage {
            instance_id: instance_id.clone(),
            execution_id: None,
            visible_at: event.timestamp,
            event,
        };
        self.store
            .enqueue_message(message, accept)
            .await
            .map(drop)
            .map_err(|error| state_error(error, operation))
    }

    /// Starts orchestration `name` (at `version`) with an already-encoded input, for
    /// callers that only know the name (the HTTP API, tools). Nothing checks the input
    /// here: check it first with
    /// [`Registry::check_orchestration_input`](crate::Registry::check_orchestration_input),
    /// or a mismatch fails the instance on its first turn.
    ///
    /// # Errors
    /// As [`start_orchestration`](Self::start_orchestration).
    pub async fn start_orchestration_by_name(
        &self,
        name: &str,
        version: Option<&str>,
        instance_id: Option<String>,
        input: Payload,
    ) -> Result<InstanceId, ClientError> {
        self.start_raw(name, version.map(str::to_owned), instance_id, input)
            .await
    }

    async fn start_raw(
        &self,
        name: impl Into<String>,
        version: Option<String>,
        instance_id: Option<String>,
        input: Payload,
    ) -> Result<InstanceId, ClientError> {
        let name = name.into();
        let instance_id = match instance_id {
            Some(id) => InstanceId::new(id)?,
            None => InstanceId::generate(),
        };
        let execution_id = ExecutionId::generate();
        let created_at = self.clock.now();
        #[cfg(feature = "otel")]
        let trace_context = self.trace_for(|| {
            use crate::telemetry::attributes;
            use opentelemetry::KeyValue;
            let mut attributes = vec![
                KeyValue::new(attributes::TYPE, "orchestration"),
                KeyValue::new(attributes::NAME, name.clone()),
                KeyValue::new(attributes::INSTANCE_ID, instance_id.to_string()),
                KeyValue::new(attributes::EXECUTION_ID, execution_id.as_str().to_owned()),
            ];
            if let Some(version) = &version {
                attributes.push(KeyValue::new(attributes::VERSION, version.clone()));
            }
            let span = match &version {
                Some(version) => format!("create_orchestration:{name}@({version})"),
                None => format!("create_orchestration:{name}"),
            };
            (span, attributes)
        });
        #[cfg(not(feature = "otel"))]
        let trace_context = self.parent_trace.clone();
        let started = HistoryEvent::new(
            created_at,
            EventKind::ExecutionStarted {
                name: name.clone(),
                version: version.clone(),
                execution_id: execution_id.clone(),
                input: input.clone(),
                parent: None,
                scheduled_start: None,
                trace_context,
            },
        );
        self.store
            .create_instance(NewInstance {
                instance_id: instance_id.clone(),
                execution_id,
                name: name.clone(),
                version,
                input,
                created_at,
                started,
                parent_instance_id: None,
            })
            .await?;
        tracing::debug!(%instance_id, orchestration = %name, "instance created");
        Ok(instance_id)
    }
}

/// A pending start of an orchestration; `.await` it. See
/// [`DurableClient::start_orchestration`].
#[must_use = "nothing starts until the request is awaited"]
pub struct StartOrchestration<O: Orchestration> {
    client: DurableClient,
    input: O::Input,
    instance_id: Option<String>,
    _orchestration: PhantomData<fn() -> O>,
}

impl<O: Orchestration> StartOrchestration<O> {
    /// Uses `instance_id` instead of a generated id; checked against the id rules when
    /// awaited.
    pub fn instance_id(mut self, instance_id: impl Into<String>) -> Self {
        self.instance_id = Some(instance_id.into());
        self
    }
}

impl<O: Orchestration> fmt::Debug for StartOrchestration<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartOrchestration")
            .field("orchestration", &O::NAME)
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

impl<O: Orchestration> IntoFuture for StartOrchestration<O> {
    type Output = Result<OrchestrationHandle<O>, ClientError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let input =
                Payload::encode(&self.input).map_err(|source| ClientError::InputEncode {
                    name: O::NAME,
                    source,
                })?;
            let instance_id = self
                .client
                .start_raw(
                    O::NAME,
                    O::VERSION.map(str::to_owned),
                    self.instance_id,
                    input,
                )
                .await?;
            Ok(self.client.instance(instance_id))
        })
    }
}

/// A typed handle to one instance of orchestration `O`.
pub struct OrchestrationHandle<O: Orchestration> {
    client: DurableClient,
    instance_id: InstanceId,
    _orchestration: PhantomData<fn() -> O>,
}

impl<O: Orchestration> Clone for OrchestrationHandle<O> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            instance_id: self.instance_id.clone(),
            _orchestration: PhantomData,
        }
    }
}

impl<O: Orchestration> fmt::Debug for OrchestrationHandle<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrchestrationHandle")
            .field("orchestration", &O::NAME)
            .field("instance_id", &self.instance_id)
            .finish()
    }
}

impl<O: Orchestration> OrchestrationHandle<O> {
    /// The instance id.
    pub fn instance_id(&self) -> &InstanceId {
        &self.instance_id
    }

    /// Reads the instance's status.
    ///
    /// # Errors
    /// [`ClientError::InstanceNotFound`] (for example after a purge) or
    /// [`ClientError::Store`].
    pub async fn status(&self) -> Result<OrchestrationStatus, ClientError> {
        self.client
            .get_status(&self.instance_id)
            .await?
            .ok_or_else(|| ClientError::InstanceNotFound(self.instance_id.clone()))
    }

    /// Waits up to `timeout` for the instance to finish and returns its typed output.
    ///
    /// # Errors
    /// [`ClientError::Timeout`], [`ClientError::OrchestrationFailed`] (with the failure
    /// details), [`ClientError::OrchestrationTerminated`], [`ClientError::OutputDecode`],
    /// [`ClientError::InstanceNotFound`] or [`ClientError::Store`].
    pub async fn wait_for_completion(&self, timeout: Duration) -> Result<O::Output, ClientError> {
        let status = self
            .client
            .wait_for_completion(&self.instance_id, timeout)
            .await?;
        let instance_id = self.instance_id.clone();
        match status.runtime_status {
            RuntimeStatus::Completed => status
                .output
                .unwrap_or_else(Payload::null)
                .decode()
                .map_err(|source| ClientError::OutputDecode {
                    instance_id,
                    source,
                }),
            RuntimeStatus::Terminated => Err(ClientError::OrchestrationTerminated {
                instance_id,
                reason: status.output.and_then(|p| p.decode::<String>().ok()),
            }),
            _ => Err(ClientError::OrchestrationFailed {
                instance_id,
                failure: status.failure.unwrap_or_else(|| {
                    crate::status::FailureDetails::new(
                        "unknown",
                        format!("instance ended as {}", status.runtime_status),
                    )
                }),
            }),
        }
    }
}

/// The future a client's entity signal returns; see [`EntitySignaler`].
#[must_use = "a signal is sent only when this future is awaited"]
pub struct SignalEntity {
    inner: Pin<Box<dyn Future<Output = Result<(), ClientError>> + Send + 'static>>,
}

impl fmt::Debug for SignalEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalEntity").finish_non_exhaustive()
    }
}

impl Future for SignalEntity {
    type Output = Result<(), ClientError>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl EntitySignaler for DurableClient {
    type Signal = SignalEntity;

    fn signal_operation(
        &self,
        entity: EntityId,
        operation: &'static str,
        input: Result<Payload, serde_json::Error>,
        at: Option<DateTime<Utc>>,
    ) -> SignalEntity {
        let client = self.clone();
        SignalEntity {
            inner: Box::pin(async move {
                let input = input.map_err(|source| ClientError::InputEncode {
                    name: operation,
                    source,
                })?;
                client
                    .signal_entity_raw(&entity, operation, input, at)
                    .await
            }),
        }
    }
}

/// Entities: signal, read, list, delete. The typed proxies generated by
/// [`#[entity]`](macro@crate::entity) (`Counter::signal(&client, key)`, `Counter::read(&client, key)`)
/// call these.
impl DurableClient {
    /// Signals `operation` with an already-encoded `input` to `entity`, to run at `at` (or
    /// at once): DF's `SignalEntityAsync`. The entity is created by its first operation.
    /// Returns once the signal is stored; signals from one client call sequence run in the
    /// order they were sent. Prefer the typed `Counter::signal(&client, key).add(1)`; this
    /// form serves callers that only have names (HTTP API, tools).
    ///
    /// # Errors
    /// [`ClientError::Store`] when the store fails; nothing is sent.
    pub async fn signal_entity_raw(
        &self,
        entity: &EntityId,
        operation: &str,
        input: Payload,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), ClientError> {
        let now = self.clock.now();
        #[cfg(feature = "otel")]
        let trace_context = self.trace_for(|| {
            use crate::telemetry::attributes;
            use opentelemetry::KeyValue;
            (
                format!("entity_operation:{}:{operation}", entity.name()),
                vec![
                    KeyValue::new(attributes::TYPE, "entity"),
                    KeyValue::new(attributes::NAME, entity.name().to_owned()),
                    KeyValue::new(attributes::ENTITY_OPERATION, operation.to_owned()),
                    KeyValue::new(attributes::TARGET_INSTANCE_ID, entity.to_string()),
                ],
            )
        });
        #[cfg(not(feature = "otel"))]
        let trace_context = self.parent_trace.clone();
        let message = OutboundMessage {
            instance_id: entity.instance_id(),
            execution_id: None,
            visible_at: at.unwrap_or(now),
            event: HistoryEvent::new(
                now,
                EventKind::EntityRequest {
                    operation: operation.to_owned(),
                    input,
                    caller: None,
                    trace_context,
                },
            ),
        };
        self.store
            .enqueue_message(message, &RuntimeStatus::ALL)
            .await
            .map(drop)
            .map_err(ClientError::Store)
    }

    /// Reads an entity's state: `None` when it does not exist (never operated on, or
    /// deleted). DF's `ReadEntityStateAsync`; the state can be stale by the time it returns.
    ///
    /// # Errors
    /// [`ClientError::Store`], or [`ClientError::OutputDecode`] when the state does not
    /// decode as `T`.
    pub async fn read_entity_state<T: DeserializeOwned>(
        &self,
        entity: &EntityId,
    ) -> Result<Option<T>, ClientError> {
        let Some(metadata) = self.get_entity(entity, true).await? else {
            return Ok(None);
        };
        metadata
            .state
            .map(|state| {
                state.decode().map_err(|source| ClientError::OutputDecode {
                    instance_id: entity.instance_id(),
                    source,
                })
            })
            .transpose()
    }

    /// Reads an entity's metadata, with its state as JSON when `include_state`: `None` when
    /// it does not exist. DF's `GetEntityAsync`.
    ///
    /// # Errors
    /// [`ClientError::Store`].
    pub async fn get_entity(
        &self,
        entity: &EntityId,
        include_state: bool,
    ) -> Result<Option<EntityMetadata>, ClientError> {
        let status = self.store.get_status(&entity.instance_id()).await?;
        match status {
            Some(status) => entity_metadata(entity.clone(), &status, include_state),
            None => Ok(None),
        }
    }

    /// Lists existing entities, optionally of one name and key prefix, one page at a time
    /// (DF's `ListEntitiesAsync`), in id order (`@name@key`: by name, then key); pass the
    /// page's `continuation_token` back for the next. A page reads the store's id range of
    /// the name and key prefix only, whatever else the task hub holds.
    /// Pages are cut before the last-modified filters apply, so a filtered page can hold
    /// fewer than `page_size` entities while more follow.
    ///
    /// # Errors
    /// [`ClientError::Store`] (also for a malformed continuation token).
    pub async fn list_entities(&self, query: &EntityQuery) -> Result<EntityPage, ClientError> {
        let prefix = match &query.name {
            Some(name) => format!(
                "@{}@{}",
                name.to_lowercase(),
                query.key_prefix.as_deref().unwrap_or_default()
            ),
            None => "@".to_owned(),
        };
        let page = self
            .store
            .list_instances(&InstanceQuery {
                statuses: vec![RuntimeStatus::Running],
                instance_id_prefix: Some(prefix),
                page_size: query.page_size,
                continuation_token: query.continuation_token.clone(),
                ..InstanceQuery::default()
            })
            .await?;
        let mut entities = Vec::with_capacity(page.instances.len());
        for status in &page.instances {
            let Some(id) = EntityId::from_instance_id(status.instance_id.as_str()) else {
                continue;
            };
            let in_range = query
                .last_modified_from
                .is_none_or(|from| status.last_updated_time >= from)
                && query
                    .last_modified_to
                    .is_none_or(|to| status.last_updated_time < to);
            if !in_range {
                continue;
            }
            if let Some(metadata) = entity_metadata(id, status, query.include_state)? {
                entities.push(metadata);
            }
        }
        Ok(EntityPage {
            entities,
            continuation_token: page.continuation_token,
        })
    }

    /// Deletes an entity's state by signalling its `delete` operation: the entity's own
    /// `delete` if it has one, otherwise the implicit one (as in DF's isolated entities). It
    /// runs in order with the entity's other operations.
    ///
    /// # Errors
    /// As [`signal_entity_raw`](Self::signal_entity_raw).
    pub async fn delete_entity(&self, entity: &EntityId) -> Result<(), ClientError> {
        self.signal_entity_raw(entity, "delete", Payload::null(), None)
            .await
    }
}

/// Reads an entity row: `None` when the entity does not exist.
fn entity_metadata(
    id: EntityId,
    status: &OrchestrationStatus,
    include_state: bool,
) -> Result<Option<EntityMetadata>, ClientError> {
    let scheduler = SchedulerState::from_output(status.output.as_ref()).map_err(|error| {
        ClientError::Store(StoreError::Corrupt {
            what: format!("the scheduler state of entity {id}"),
            reason: error.to_string(),
        })
    })?;
    let Some(state) = scheduler.state else {
        return Ok(None);
    };
    Ok(Some(EntityMetadata {
        id,
        last_modified: status.last_updated_time,
        state: include_state.then_some(state),
        locked_by: scheduler.locked_by.map(|owner| owner.instance_id),
        backlog_queue_size: scheduler.deferred.len(),
    }))
}

/// Which instances [`DurableClient::terminate`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TerminateScope {
    /// Only the instance named (Durable Functions' `TerminateAsync`).
    #[default]
    Instance,
    /// The instance and its unfinished sub-orchestrations, and theirs, parent first (the
    /// HTTP API's `recursive=true`).
    WithSubOrchestrations,
}

impl TerminateScope {
    /// [`WithSubOrchestrations`](Self::WithSubOrchestrations) when `recursive`, as the HTTP
    /// API's and the CLI's `recursive` flag reads.
    pub fn recursive(recursive: bool) -> Self {
        if recursive {
            Self::WithSubOrchestrations
        } else {
            Self::Instance
        }
    }
}

/// Under which instance id [`DurableClient::restart`] starts an instance again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartAs {
    /// A new instance id (Durable Functions' `restartWithNewInstanceId = true`, its default).
    #[default]
    NewInstanceId,
    /// The same instance id, once the old instance has finished (its history is replaced).
    SameInstanceId,
}

impl RestartAs {
    /// [`NewInstanceId`](Self::NewInstanceId) when `new_instance_id`, as the HTTP API's
    /// `restartWithNewInstanceId` flag reads.
    pub fn new_instance_id(new_instance_id: bool) -> Self {
        if new_instance_id {
            Self::NewInstanceId
        } else {
            Self::SameInstanceId
        }
    }
}
