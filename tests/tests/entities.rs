//! End-to-end tests of durable entities through the public API, on the memory store and
//! on SQLite: typed proxies (signal, call, read), ordering per sender, rollback of failed
//! operations, critical sections and their rules, queries and deletion.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::time::Duration;

use durable_runtime::error_types::{LOCKING_RULES_VIOLATION, UNKNOWN_OPERATION};
use durable_runtime::prelude::*;
use durable_runtime::{EntityQuery, Registry, WorkerOptions};

const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Sqlite,
}

const BACKENDS: [Backend; 2] = [Backend::Memory, Backend::Sqlite];

// ---- entities ----

#[derive(Debug, Default, Serialize, Deserialize)]
struct Account {
    balance: i64,
    history: Vec<i64>,
}

#[derive(Debug)]
struct Overdrawn;

impl std::fmt::Display for Overdrawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("insufficient funds")
    }
}

impl std::error::Error for Overdrawn {}

#[entity]
impl Account {
    /// Adds `amount` (may be negative) and records it.
    fn deposit(&mut self, amount: i64) {
        self.balance += amount;
        self.history.push(amount);
    }

    /// Takes `amount`; fails after changing the state, to prove the change is rolled back.
    fn withdraw(&mut self, amount: i64) -> Result<i64, Overdrawn> {
        self.balance -= amount;
        self.history.push(-amount);
        if self.balance < 0 {
            return Err(Overdrawn);
        }
        Ok(self.balance)
    }

    /// Panics after changing the state.
    fn explode(&mut self) {
        self.balance = -1_000_000;
        panic!("boom");
    }

    fn balance(&self) -> i64 {
        self.balance
    }

    /// Two arguments travel as one tuple input.
    fn transfer_out(&mut self, ctx: &EntityContext, to: String, amount: i64) {
        self.balance -= amount;
        self.history.push(-amount);
        Account::signal(ctx, to).deposit(amount);
    }

    /// Starts an orchestration from an entity.
    fn audit(&self, ctx: &EntityContext) -> String {
        ctx.start_orchestration(AuditBalance, ctx.entity_id().key().to_owned())
            .unwrap()
            .to_string()
    }

    fn close(&mut self, ctx: &EntityContext) {
        ctx.delete_state();
    }

    async fn slow_deposit(&mut self, amount: i64) {
        tokio::task::yield_now().await;
        self.balance += amount;
        self.history.push(amount);
    }
}

// ---- orchestrations ----

#[orchestrator]
async fn withdraw_twice(
    ctx: OrchestrationContext,
    key: String,
) -> Result<(Option<i64>, String, i64), OrchestrationError> {
    let first = Account::call(&ctx, key.clone()).withdraw(5).await.ok();
    // Both calls go out in one turn, so the entity runs them in one batch: the read sees
    // the state as the failed withdrawal left it.
    let mut results = join_all(vec![
        Account::call(&ctx, key.clone()).withdraw(1_000),
        Account::call(&ctx, key).balance(),
    ])
    .await
    .into_iter();
    let second = match results.next().unwrap() {
        Ok(_) => "unexpected success".to_owned(),
        Err(failed) => format!("{}: {}", failed.details.error_type, failed.details.message),
    };
    let balance = results.next().unwrap()?;
    Ok((first, second, balance))
}

#[orchestrator]
async fn explode_and_read(
    ctx: OrchestrationContext,
    key: String,
) -> Result<(String, i64), OrchestrationError> {
    // Both calls go out in one turn and run in one batch.
    let explode = Account::call(&ctx, key.clone()).explode();
    let balance = Account::call(&ctx, key).balance();
    let error = match explode.await {
        Ok(()) => "no panic".to_owned(),
        Err(failed) => failed.details.error_type,
    };
    Ok((error, balance.await?))
}

#[orchestrator]
async fn signal_in_order(
    ctx: OrchestrationContext,
    (key, count): (String, i64),
) -> Result<(), OrchestrationError> {
    for i in 0..count {
        Account::signal(&ctx, key.clone()).deposit(i);
        if i % 7 == 0 {
            // Spread the signals over several turns.
            ctx.create_timer(Duration::from_millis(1)).await;
        }
    }
    Ok(())
}

#[orchestrator]
async fn audit_balance(ctx: OrchestrationContext, key: String) -> Result<i64, OrchestrationError> {
    Ok(Account::call(&ctx, key).balance().await?)
}

/// Moves `amount` from `from` to `to` inside a critical section, reading both first.
#[orchestrator]
async fn locked_transfer(
    ctx: OrchestrationContext,
    (from, to, amount, rounds): (String, String, i64, u32),
) -> Result<(), OrchestrationError> {
    for _ in 0..rounds {
        let section = ctx
            .lock_entities([
                Account::entity_id(to.clone()),
                Account::entity_id(from.clone()),
            ])
            .await;
        assert_eq!(ctx.locked_entities().len(), 2);
        let available = Account::call(&ctx, from.clone()).balance().await?;
        let moved = amount.min(available);
        Account::call(&ctx, from.clone()).deposit(-moved).await?;
        Account::call(&ctx, to.clone()).deposit(moved).await?;
        drop(section);
    }
    Ok(())
}

#[orchestrator]
async fn nested_lock(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let _outer = ctx.lock_entities([Account::entity_id("n1")]).await;
    let _inner = ctx.lock_entities([Account::entity_id("n2")]).await;
    Ok(())
}

#[orchestrator]
async fn call_unlocked(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let _section = ctx.lock_entities([Account::entity_id("u1")]).await;
    Account::call(&ctx, "u2").balance().await?;
    Ok(())
}

#[orchestrator]
async fn signal_locked(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let _section = ctx.lock_entities([Account::entity_id("s1")]).await;
    Account::signal(&ctx, "s1").deposit(1);
    Ok(())
}

#[orchestrator]
async fn parallel_locked_calls(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let _section = ctx.lock_entities([Account::entity_id("p1")]).await;
    let a = Account::call(&ctx, "p1").balance();
    let b = Account::call(&ctx, "p1").balance();
    let _ = join_all(vec![a, b]).await;
    Ok(())
}

#[orchestrator]
async fn sub_in_section(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let _section = ctx.lock_entities([Account::entity_id("q1")]).await;
    ctx.call_sub_orchestrator(AuditBalance, "q1".to_owned())
        .await?;
    Ok(())
}

#[orchestrator]
async fn hold_lock_forever(
    ctx: OrchestrationContext,
    key: String,
) -> Result<(), OrchestrationError> {
    let _section = ctx.lock_entities([Account::entity_id(key)]).await;
    ctx.wait_for_external_event::<()>("never").await?;
    Ok(())
}

fn registry() -> Registry {
    Registry::builder()
        .entity::<Account>()
        .orchestration::<WithdrawTwice>()
        .orchestration::<ExplodeAndRead>()
        .orchestration::<SignalInOrder>()
        .orchestration::<AuditBalance>()
        .orchestration::<LockedTransfer>()
        .orchestration::<NestedLock>()
        .orchestration::<CallUnlocked>()
        .orchestration::<SignalLocked>()
        .orchestration::<ParallelLockedCalls>()
        .orchestration::<SubInSection>()
        .orchestration::<HoldLockForever>()
        .build()
        .unwrap()
}

async fn runtime_with(backend: Backend, options: WorkerOptions) -> Runtime {
    let builder = Runtime::builder().registry(registry()).options(options);
    match backend {
        Backend::Memory => builder.in_memory(),
        Backend::Sqlite => builder.sqlite(durable_tests::temp_dir("entities").join("durable.db")),
    }
    .start()
    .await
    .unwrap()
}

async fn runtime(backend: Backend) -> Runtime {
    runtime_with(backend, WorkerOptions::default()).await
}

/// Reads `key` until `done` holds for its state (entities are updated asynchronously).
async fn read_until(
    client: &DurableClient,
    key: &str,
    done: impl Fn(Option<&Account>) -> bool,
) -> Option<Account> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let state = Account::read(client, key).await.unwrap();
        if done(state.as_ref()) || tokio::time::Instant::now() > deadline {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_signals_and_reads_through_typed_proxies() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        assert!(
            Account::read(&client, "alice").await.unwrap().is_none(),
            "{backend:?}: no entity before the first operation"
        );
        Account::signal(&client, "alice").deposit(10).await.unwrap();
        Account::signal(&client, "alice")
            .slow_deposit(5)
            .await
            .unwrap();
        Account::signal(&client, "alice")
            .transfer_out("bob".to_owned(), 3)
            .await
            .unwrap();
        let alice = read_until(&client, "alice", |a| {
            a.is_some_and(|a| a.history.len() == 3)
        })
        .await
        .unwrap();
        assert_eq!(alice.balance, 12, "{backend:?}");
        assert_eq!(alice.history, [10, 5, -3], "{backend:?}");
        let bob = read_until(&client, "bob", |a| a.is_some()).await.unwrap();
        assert_eq!(
            bob.balance, 3,
            "{backend:?}: the entity-to-entity signal arrived"
        );
        let metadata = client
            .get_entity(&Account::entity_id("alice"), true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(metadata.id.name(), "account");
        assert_eq!(metadata.locked_by, None);
        assert_eq!(
            metadata
                .state
                .unwrap()
                .decode::<serde_json::Value>()
                .unwrap()["balance"],
            12
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrations_call_entities_and_failed_operations_roll_back() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        Account::signal(&client, "carol").deposit(20).await.unwrap();
        let instance = WithdrawTwice::start(&client, "carol".to_owned())
            .await
            .unwrap();
        let (first, second, balance) = instance.wait_for_completion(WAIT).await.unwrap();
        assert_eq!(first, Some(15), "{backend:?}");
        assert!(
            second.contains("insufficient funds"),
            "{backend:?}: {second}"
        );
        assert_eq!(
            balance, 15,
            "{backend:?}: the failed withdrawal changed nothing"
        );
        let carol = Account::read(&client, "carol").await.unwrap().unwrap();
        assert_eq!(
            carol.history,
            [20, -5],
            "{backend:?}: the failed operation's history entry was rolled back"
        );

        let instance = ExplodeAndRead::start(&client, "carol".to_owned())
            .await
            .unwrap();
        let (error, balance) = instance.wait_for_completion(WAIT).await.unwrap();
        assert_eq!(error, "panic", "{backend:?}");
        assert_eq!(
            balance, 15,
            "{backend:?}: a panicking operation is rolled back too"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_run_in_the_order_each_sender_sent_them() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        // From a client: one signal after the other.
        for i in 0..50 {
            Account::signal(&client, "ordered-client")
                .deposit(i)
                .await
                .unwrap();
        }
        // From an orchestration, across several turns.
        let instance = SignalInOrder::start(&client, ("ordered-orch".to_owned(), 40))
            .await
            .unwrap();
        instance.wait_for_completion(WAIT).await.unwrap();
        let from_client = read_until(&client, "ordered-client", |a| {
            a.is_some_and(|a| a.history.len() == 50)
        })
        .await
        .unwrap();
        assert_eq!(
            from_client.history,
            (0..50).collect::<Vec<_>>(),
            "{backend:?}"
        );
        let from_orch = read_until(&client, "ordered-orch", |a| {
            a.is_some_and(|a| a.history.len() == 40)
        })
        .await
        .unwrap();
        assert_eq!(
            from_orch.history,
            (0..40).collect::<Vec<_>>(),
            "{backend:?}"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_start_orchestrations_and_can_be_deleted_and_listed() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        for key in ["k1", "k2", "k3", "k4", "k5"] {
            Account::signal(&client, key).deposit(1).await.unwrap();
        }
        read_until(&client, "k5", |a| a.is_some()).await.unwrap();
        for key in ["k1", "k2", "k3", "k4"] {
            read_until(&client, key, |a| a.is_some()).await.unwrap();
        }
        // Paging through every `account` entity, with state.
        let mut query = EntityQuery::default()
            .name("Account")
            .include_state(true)
            .page_size(2);
        let mut keys = Vec::new();
        loop {
            let page = client.list_entities(&query).await.unwrap();
            assert!(page.entities.len() <= 2);
            for entity in &page.entities {
                assert!(entity.state.is_some());
                keys.push(entity.id.key().to_owned());
            }
            match page.continuation_token {
                Some(token) => query.continuation_token = Some(token),
                None => break,
            }
        }
        keys.sort();
        assert_eq!(keys, ["k1", "k2", "k3", "k4", "k5"], "{backend:?}");
        // Entities never show up among orchestration instances.
        let instances = client.list_instances(&Default::default()).await.unwrap();
        assert!(
            instances.instances.is_empty(),
            "{backend:?}: {:?}",
            instances.instances
        );

        // Deleting: the implicit `delete` operation and the entity's own `ctx.delete_state()`.
        client
            .delete_entity(&Account::entity_id("k1"))
            .await
            .unwrap();
        Account::signal(&client, "k2").close().await.unwrap();
        read_until(&client, "k1", |a| a.is_none()).await;
        assert!(
            read_until(&client, "k2", |a| a.is_none()).await.is_none(),
            "{backend:?}"
        );
        let page = client
            .list_entities(&EntityQuery::default().name("account"))
            .await
            .unwrap();
        assert_eq!(
            page.entities.len(),
            3,
            "{backend:?}: deleted entities are not listed"
        );
        assert!(
            page.entities.iter().all(|e| e.state.is_none()),
            "state only when asked for"
        );
        // A deleted entity comes back from `Default` with its next operation.
        Account::signal(&client, "k1").deposit(7).await.unwrap();
        let k1 = read_until(&client, "k1", |a| a.is_some()).await.unwrap();
        assert_eq!(k1.history, [7], "{backend:?}");

        // An entity starting an orchestration.
        let audit = Account::signal(&client, "k3").audit().await;
        audit.unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        let completed = loop {
            let page = client.list_instances(&Default::default()).await.unwrap();
            if let Some(status) = page
                .instances
                .iter()
                .find(|s| s.runtime_status == RuntimeStatus::Completed)
            {
                break status.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{backend:?}: the audit orchestration never completed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(completed.name, "audit_balance");
        assert_eq!(completed.output.unwrap().decode::<i64>().unwrap(), 1);
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_operation_fails_without_touching_state() {
    let runtime = runtime(Backend::Sqlite).await;
    let client = runtime.client();
    Account::signal(&client, "u").deposit(2).await.unwrap();
    client
        .signal_entity_raw(
            &Account::entity_id("u"),
            "no_such_op",
            durable_runtime::Payload::null(),
            None,
        )
        .await
        .unwrap();
    Account::signal(&client, "u").deposit(3).await.unwrap();
    let state = read_until(&client, "u", |a| a.is_some_and(|a| a.history.len() == 2))
        .await
        .unwrap();
    assert_eq!(state.balance, 5);
    assert!(!UNKNOWN_OPERATION.is_empty());
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::disallowed_methods,
    reason = "the test compares a scheduled time with the real clock"
)]
async fn a_scheduled_signal_waits_for_its_time() {
    let runtime = runtime(Backend::Sqlite).await;
    let client = runtime.client();
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(400);
    Account::signal_at(&client, "later", at)
        .deposit(1)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        Account::read(&client, "later").await.unwrap().is_none(),
        "ran before its time"
    );
    let state = read_until(&client, "later", |a| a.is_some()).await.unwrap();
    assert_eq!(state.balance, 1);
    assert!(chrono::Utc::now() >= at);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_sections_contending_for_the_same_entities_finish_without_deadlock() {
    for backend in BACKENDS {
        for always_replay in [false, true] {
            let options = WorkerOptions::default().always_replay(always_replay);
            let runtime = runtime_with(backend, options).await;
            let client = runtime.client();
            Account::signal(&client, "left").deposit(100).await.unwrap();
            Account::signal(&client, "right")
                .deposit(100)
                .await
                .unwrap();
            read_until(&client, "right", |a| a.is_some()).await.unwrap();
            // Opposite directions, opposite argument order: the global lock order prevents a
            // deadlock; the locks keep each read-modify-write atomic.
            let a = LockedTransfer::start(&client, ("left".into(), "right".into(), 7, 5))
                .await
                .unwrap();
            let b = LockedTransfer::start(&client, ("right".into(), "left".into(), 3, 5))
                .await
                .unwrap();
            // Meanwhile, client signals queue behind the locks and still apply.
            for _ in 0..5 {
                Account::signal(&client, "left").deposit(1).await.unwrap();
            }
            a.wait_for_completion(WAIT).await.unwrap();
            b.wait_for_completion(WAIT).await.unwrap();
            let left = read_until(&client, "left", |a| {
                a.is_some_and(|a| a.history.len() == 1 + 5 + 10)
            })
            .await
            .unwrap();
            let right = read_until(&client, "right", |a| {
                a.is_some_and(|a| a.history.len() == 1 + 10)
            })
            .await
            .unwrap();
            assert_eq!(
                left.balance + right.balance,
                205,
                "{backend:?} replay={always_replay}: no lost update"
            );
            assert_eq!(
                right.balance,
                100 + 5 * 7 - 5 * 3,
                "{backend:?} replay={always_replay}"
            );
            // The unlock is sent with the orchestration's last turn and applied soon after.
            let deadline = tokio::time::Instant::now() + WAIT;
            for key in ["left", "right"] {
                while client
                    .get_entity(&Account::entity_id(key), false)
                    .await
                    .unwrap()
                    .unwrap()
                    .locked_by
                    .is_some()
                {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{backend:?}: {key} never released"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            runtime.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locking_rules_are_enforced_with_clear_errors() {
    let runtime = runtime(Backend::Memory).await;
    let client = runtime.client();
    let cases: Vec<(InstanceId, &str)> = vec![
        (
            NestedLock::start(&client, ())
                .await
                .unwrap()
                .instance_id()
                .clone(),
            "cannot be nested",
        ),
        (
            CallUnlocked::start(&client, ())
                .await
                .unwrap()
                .instance_id()
                .clone(),
            "only the locked entities",
        ),
        (
            SignalLocked::start(&client, ())
                .await
                .unwrap()
                .instance_id()
                .clone(),
            "not signalled",
        ),
        (
            ParallelLockedCalls::start(&client, ())
                .await
                .unwrap()
                .instance_id()
                .clone(),
            "another call to it was still running",
        ),
        (
            SubInSection::start(&client, ())
                .await
                .unwrap()
                .instance_id()
                .clone(),
            "inside a critical section",
        ),
    ];
    for (id, expected) in cases {
        let status = client.wait_for_completion(&id, WAIT).await.unwrap();
        assert_eq!(status.runtime_status, RuntimeStatus::Failed, "{id}");
        let failure = status.failure.unwrap();
        assert_eq!(failure.error_type, LOCKING_RULES_VIOLATION, "{id}");
        assert!(
            failure.message.contains(expected),
            "{id}: {}",
            failure.message
        );
    }
    // Every failed section released its locks: each entity takes a new operation.
    for key in ["n1", "u1", "s1", "p1", "q1"] {
        Account::signal(&client, key).deposit(1).await.unwrap();
        let state = read_until(&client, key, |a| a.is_some_and(|a| !a.history.is_empty())).await;
        assert!(state.is_some(), "{key} stayed locked");
        let metadata = client
            .get_entity(&Account::entity_id(key), false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(metadata.locked_by, None, "{key}");
    }
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_an_orchestration_releases_its_locks() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        Account::signal(&client, "held").deposit(1).await.unwrap();
        read_until(&client, "held", |a| a.is_some()).await.unwrap();
        let holder = HoldLockForever::start(&client, "held".to_owned())
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let metadata = client
                .get_entity(&Account::entity_id("held"), false)
                .await
                .unwrap();
            if metadata.is_some_and(|m| m.locked_by.as_ref() == Some(holder.instance_id())) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{backend:?}: never locked"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Operations from others wait behind the lock.
        Account::signal(&client, "held").deposit(2).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let metadata = client
            .get_entity(&Account::entity_id("held"), true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(metadata.backlog_queue_size, 1, "{backend:?}");
        client
            .terminate(holder.instance_id(), Some("stop"), TerminateScope::Instance)
            .await
            .unwrap();
        let audit = AuditBalance::start(&client, "held".to_owned())
            .await
            .unwrap();
        assert_eq!(
            audit.wait_for_completion(WAIT).await.unwrap(),
            3,
            "{backend:?}: the deferred deposit ran after the release"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_left_over_by_a_full_entity_turn_run_without_waiting_for_a_poll() {
    for backend in BACKENDS {
        // Turns of two operations, and polls and leases far longer than the wait below:
        // only a wake-up at each turn's commit, for the signals it left queued, gets them
        // all run in time.
        let options = WorkerOptions::default()
            .entity_batch_size(2)
            .poll_interval(Duration::from_secs(120))
            .orchestration_lease(Duration::from_secs(120));
        let runtime = runtime_with(backend, options).await;
        let client = runtime.client();
        let signals = (1..=7).map(|amount| Account::signal(&client, "busy").deposit(amount));
        for sent in futures::future::join_all(signals).await {
            sent.unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut state = None;
        while tokio::time::Instant::now() < deadline {
            state = Account::read(&client, "busy").await.unwrap();
            if state.as_ref().is_some_and(|a| a.history.len() == 7) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            state.map(|a| a.balance),
            Some(28),
            "{backend:?}: every signal ran, two per turn, each turn woken by the last"
        );
        runtime.shutdown().await;
    }
}
