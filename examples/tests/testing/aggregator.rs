//! `count_words` (aggregator): sub-orchestrations per file signalling word entities; and
//! the same with the sub-orchestration or the entity faked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use durable_examples::aggregator::{CountFile, CountFileWords, CountWords, WordCount};
use durable_examples::backup::GetFileList;
use durable_runtime::testing::{DurableCall, TestEnvironment};

fn words(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(w, n)| ((*w).to_owned(), *n)).collect()
}

fn two_files(env: &TestEnvironment) {
    env.fake_activity(GetFileList, |_root: PathBuf| {
        Ok(vec![
            PathBuf::from("/docs/a.md"),
            PathBuf::from("/docs/b.md"),
        ])
    });
}

#[tokio::test]
async fn the_counts_of_every_file_add_up_in_the_word_entities() {
    let env = TestEnvironment::start().await.unwrap();
    two_files(&env);
    env.fake_activity(CountFile, |file: PathBuf| {
        Ok(if file.ends_with("a.md") {
            words(&[("apple", 2), ("pear", 1)])
        } else {
            words(&[("apple", 1)])
        })
    });
    let instance = CountWords::start(&env.client(), PathBuf::from("/docs"))
        .await
        .unwrap();
    let summary = env.run_until_complete(&instance).await.unwrap();
    assert_eq!(
        (summary.files, summary.signals, summary.occurrences),
        (2, 3, 4)
    );
    // The signals are one-way: let the entities apply them.
    env.wait_idle().await.unwrap();
    let client = env.client();
    let apple: WordCount = client
        .read_entity_state(&WordCount::entity_id("apple"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((apple.count, apple.files), (3, 2));
    let pear: WordCount = client
        .read_entity_state(&WordCount::entity_id("pear"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((pear.count, pear.files), (1, 1));
    env.assert_durable_calls(
        instance.instance_id(),
        &[
            DurableCall::activity(GetFileList, PathBuf::from("/docs")),
            DurableCall::sub_orchestration(CountFileWords, PathBuf::from("/docs/a.md")),
            DurableCall::sub_orchestration(CountFileWords, PathBuf::from("/docs/b.md")),
        ],
    )
    .await;
    env.shutdown().await;
}

#[tokio::test]
async fn a_faked_sub_orchestration_stands_in_for_the_per_file_count() {
    let env = TestEnvironment::start().await.unwrap();
    two_files(&env);
    let counted = env.fake_activity(CountFile, |_file: PathBuf| Ok(BTreeMap::new()));
    let per_file = env.fake_orchestration(CountFileWords, |_file: PathBuf| Ok((5, 10)));
    let instance = CountWords::start(&env.client(), PathBuf::from("/docs"))
        .await
        .unwrap();
    let summary = env.run_until_complete(&instance).await.unwrap();
    assert_eq!((summary.signals, summary.occurrences), (10, 20));
    let mut files = per_file.calls();
    files.sort();
    assert_eq!(
        files,
        [PathBuf::from("/docs/a.md"), PathBuf::from("/docs/b.md")]
    );
    // The real sub-orchestration did not run, so neither did its activity.
    assert_eq!(counted.call_count(), 0);
    env.shutdown().await;
}

#[tokio::test]
async fn a_faked_entity_records_the_signals_it_receives() {
    let env = TestEnvironment::start().await.unwrap();
    env.fake_activity(GetFileList, |_root: PathBuf| {
        Ok(vec![PathBuf::from("/docs/a.md")])
    });
    env.fake_activity(CountFile, |_file: PathBuf| {
        Ok(words(&[("apple", 2), ("pear", 1)]))
    });
    let counters = env.fake_entity::<WordCount>(|_call| Ok(serde_json::Value::Null));
    let instance = CountWords::start(&env.client(), PathBuf::from("/docs"))
        .await
        .unwrap();
    env.run_until_complete(&instance).await.unwrap();
    env.wait_idle().await.unwrap();
    let mut received: Vec<(String, String, u64)> = counters
        .calls()
        .into_iter()
        .map(|call| {
            let count = call.input::<u64>().unwrap();
            (call.key, call.operation, count)
        })
        .collect();
    received.sort();
    assert_eq!(
        received,
        [
            ("apple".to_owned(), "add".to_owned(), 2),
            ("pear".to_owned(), "add".to_owned(), 1)
        ]
    );
    env.shutdown().await;
}
