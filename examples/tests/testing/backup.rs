//! `backup_site_content` (fan-out/fan-in): every copy goes out in one turn, the sizes add
//! up, and one failing copy fails the backup.

use std::path::PathBuf;

use durable_examples::backup::{
    BackupRequest, BackupSiteContent, CopyFile, CopyRequest, GetFileList,
};
use durable_runtime::prelude::*;
use durable_runtime::testing::{DurableCall, TestEnvironment, TestError};

fn request() -> BackupRequest {
    BackupRequest {
        source: PathBuf::from("/site"),
        destination: PathBuf::from("/backup"),
    }
}

fn copy(file: &str) -> CopyRequest {
    CopyRequest {
        file: PathBuf::from(file),
        source_root: PathBuf::from("/site"),
        destination_root: PathBuf::from("/backup"),
    }
}

const FILES: [&str; 3] = [
    "/site/index.html",
    "/site/css/site.css",
    "/site/img/logo.png",
];

#[tokio::test]
async fn every_file_is_copied_in_parallel_and_the_bytes_add_up() {
    let env = TestEnvironment::start().await.unwrap();
    let lists = env.fake_activity(GetFileList, |_root: PathBuf| {
        Ok(FILES.iter().map(PathBuf::from).collect())
    });
    // Each "copy" reports the length of the file's path as its size.
    let copies = env.fake_activity(CopyFile, |request: CopyRequest| {
        Ok(request.file.as_os_str().len() as u64)
    });
    let instance = BackupSiteContent::start(&env.client(), request())
        .await
        .unwrap();
    let summary = env.run_until_complete(&instance).await.unwrap();
    assert_eq!(summary.files, 3);
    assert_eq!(
        summary.bytes,
        FILES.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(lists.calls(), [PathBuf::from("/site")]);
    let mut copied: Vec<PathBuf> = copies.calls().into_iter().map(|c| c.file).collect();
    copied.sort();
    let mut expected: Vec<PathBuf> = FILES.iter().map(PathBuf::from).collect();
    expected.sort();
    assert_eq!(copied, expected);

    let id = instance.instance_id();
    let mut calls = vec![DurableCall::activity(GetFileList, PathBuf::from("/site"))];
    calls.extend(
        FILES
            .iter()
            .map(|f| DurableCall::activity(CopyFile, copy(f))),
    );
    env.assert_durable_calls(id, &calls).await;
    // Fan-out: all three copies were scheduled in the same turn (one timestamp, between
    // the same two `OrchestratorStarted` events).
    let history = env.history(id).await.unwrap();
    let turns_with_copies: std::collections::BTreeSet<usize> = history
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(&e.kind, durable_runtime::history::EventKind::ActivityScheduled { name, .. } if name == "copy_file"))
        .map(|(at, _)| {
            history[..at]
                .iter()
                .filter(|e| matches!(e.kind, durable_runtime::history::EventKind::OrchestratorStarted))
                .count()
        })
        .collect();
    assert_eq!(
        turns_with_copies.len(),
        1,
        "copies spread over turns {turns_with_copies:?}"
    );
    env.shutdown().await;
}

#[tokio::test]
async fn a_copy_that_fails_fails_the_backup_with_its_message() {
    let env = TestEnvironment::start().await.unwrap();
    env.fake_activity(GetFileList, |_root: PathBuf| {
        Ok(FILES.iter().map(PathBuf::from).collect())
    });
    env.fake_activity(CopyFile, |request: CopyRequest| {
        if request.file.ends_with("logo.png") {
            Err(ActivityError::new("disk full").non_retriable())
        } else {
            Ok(1)
        }
    });
    let instance = BackupSiteContent::start(&env.client(), request())
        .await
        .unwrap();
    match env.run_until_complete(&instance).await {
        Err(TestError::Failed { failure, .. }) => {
            let text = format!("{failure:?}");
            assert!(text.contains("disk full"), "{text}");
        }
        other => panic!("expected the backup to fail, got {other:?}"),
    }
    env.shutdown().await;
}

#[tokio::test]
async fn the_real_file_list_runs_beside_a_faked_copy() {
    let root = std::env::temp_dir().join(format!("durable-kit-backup-{}", std::process::id()));
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("a.txt"), "a").unwrap();
    std::fs::write(root.join("sub/b.txt"), "bb").unwrap();
    let env = TestEnvironment::start().await.unwrap();
    // `get_file_list` is not faked: it lists the directory for real.
    let copies = env.fake_activity(CopyFile, |request: CopyRequest| {
        Ok(std::fs::metadata(&request.file)
            .map(|m| m.len())
            .unwrap_or(0))
    });
    let instance = BackupSiteContent::start(
        &env.client(),
        BackupRequest {
            source: root.clone(),
            destination: root.join("never-written"),
        },
    )
    .await
    .unwrap();
    let summary = env.run_until_complete(&instance).await.unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!((summary.files, summary.bytes), (2, 3));
    assert_eq!(copies.call_count(), 2);
    env.shutdown().await;
}
