//! The Durable Functions backup sample (fan-out/fan-in): list the files under a directory,
//! copy each one to a destination directory in its own activity, all in parallel, and sum
//! the bytes copied. Used by the `fan_out_fan_in` and `http_api` examples.

use std::path::{Path, PathBuf};

use durable_runtime::prelude::*;

/// Directory names the file list skips: build output and version control.
const SKIPPED: &[&str] = &["target", ".git"];

/// The orchestration's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupRequest {
    /// The directory to back up.
    pub source: PathBuf,
    /// Where to copy the files.
    pub destination: PathBuf,
}

/// One file to copy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyRequest {
    /// The file.
    pub file: PathBuf,
    /// The directory it is under.
    pub source_root: PathBuf,
    /// The directory to copy to.
    pub destination_root: PathBuf,
}

/// The orchestration's output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupSummary {
    /// How many files were copied.
    pub files: usize,
    /// How many bytes were copied.
    pub bytes: u64,
}

fn list_files(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !SKIPPED.iter().any(|s| entry.file_name() == *s) {
                list_files(&path, files)?;
            }
        } else if kind.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// Lists every file under `root`, sorted (Durable Functions' `E2_GetFileList`).
#[activity]
pub async fn get_file_list(root: PathBuf) -> Result<Vec<PathBuf>, ActivityError> {
    let mut files = tokio::task::spawn_blocking(move || {
        let mut files = Vec::new();
        list_files(&root, &mut files).map(|()| files)
    })
    .await??;
    files.sort();
    Ok(files)
}

/// Copies one file under the destination root, keeping its relative path; returns its
/// size in bytes (Durable Functions' `E2_CopyFileToBlob`).
#[activity]
pub async fn copy_file(request: CopyRequest) -> Result<u64, ActivityError> {
    let relative = request
        .file
        .strip_prefix(&request.source_root)
        .map_err(|_| {
            ActivityError::new(format!(
                "{} is not under {}",
                request.file.display(),
                request.source_root.display()
            ))
            .non_retriable()
        })?;
    let target = request.destination_root.join(relative);
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    Ok(tokio::fs::copy(&request.file, &target).await?)
}

/// Lists the files, copies them all in parallel, and sums the bytes
/// (Durable Functions' `E2_BackupSiteContent`).
#[orchestrator]
pub async fn backup_site_content(
    ctx: OrchestrationContext,
    request: BackupRequest,
) -> Result<BackupSummary, OrchestrationError> {
    let files = ctx
        .call_activity(GetFileList, request.source.clone())
        .await?;
    ctx.logger()
        .info(format_args!("copying {} files", files.len()));
    // Every call is recorded when it is made, so all copies go out in one turn.
    let copies: Vec<_> = files
        .into_iter()
        .map(|file| {
            ctx.call_activity(
                CopyFile,
                CopyRequest {
                    file,
                    source_root: request.source.clone(),
                    destination_root: request.destination.clone(),
                },
            )
        })
        .collect();
    let sizes = try_join_all(copies).await?;
    Ok(BackupSummary {
        files: sizes.len(),
        bytes: sizes.iter().sum(),
    })
}
