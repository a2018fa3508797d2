//! `watch_file` (monitor): a durable timer loop with continue-as-new, skipped through in
//! virtual time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use durable_examples::monitor::{CheckFile, WatchFile, WatchOutcome, WatchRequest};
use durable_runtime::testing::{DurableCall, TestEnvironment};

fn request(interval_ms: u64, expiry_secs: u64) -> WatchRequest {
    WatchRequest {
        file: PathBuf::from("/var/log/app.log"),
        word: "ready".into(),
        interval_ms,
        expires_at: None,
        expiry_secs,
        checks: 0,
    }
}

#[tokio::test]
async fn the_word_appearing_on_the_third_check_ends_the_watch() {
    let env = TestEnvironment::start().await.unwrap();
    let checks = Arc::new(AtomicU32::new(0));
    let seen = checks.clone();
    let fake = env.fake_activity(CheckFile, move |(_file, _word): (PathBuf, String)| {
        Ok(seen.fetch_add(1, Ordering::SeqCst) + 1 >= 3)
    });
    let started = env.now();
    let instance = WatchFile::start(&env.client(), request(60_000, 3600))
        .await
        .unwrap();
    let outcome = env.run_until_complete(&instance).await.unwrap();
    assert_eq!(outcome, WatchOutcome::Found { checks: 3 });
    // Two one-minute waits between three checks.
    assert_eq!(env.now() - started, chrono::TimeDelta::minutes(2));
    assert_eq!(fake.call_count(), 3);
    // Continue-as-new keeps the history to the last generation: one check.
    env.assert_durable_calls(
        instance.instance_id(),
        &[DurableCall::activity(
            CheckFile,
            (PathBuf::from("/var/log/app.log"), "ready".into()),
        )],
    )
    .await;
    env.shutdown().await;
}

#[tokio::test]
async fn a_word_that_never_appears_expires_at_the_deadline() {
    let env = TestEnvironment::start().await.unwrap();
    let fake = env.fake_activity(CheckFile, |_: (PathBuf, String)| Ok(false));
    let started = env.now();
    let instance = WatchFile::start(&env.client(), request(10 * 60_000, 3600))
        .await
        .unwrap();
    let outcome = env.run_until_complete(&instance).await.unwrap();
    // Checks at 0, 10, .., 50 minutes; the last waits until the expiry at 60.
    assert_eq!(outcome, WatchOutcome::Expired { checks: 6 });
    assert_eq!(fake.call_count(), 6);
    assert_eq!(env.now() - started, chrono::TimeDelta::hours(1));
    env.shutdown().await;
}
