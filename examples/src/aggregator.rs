//! The aggregator pattern (Durable Functions' stateful entities): count the words in every
//! file under a directory, one activity per file, with one counter entity per word.
//!
//! [`count_words`] lists the files (reusing the backup sample's file list) and fans out one
//! [`count_file_words`] sub-orchestration per file, which runs the [`count_file`] activity
//! and signals [`WordCount`] `add` for every word of its file. Signals are recorded in the
//! sender's history and applied exactly once, one at a time per entity, however the files
//! interleave. Used by the `aggregator` example.

use std::collections::BTreeMap;
use std::path::PathBuf;

use durable_runtime::prelude::*;

use crate::backup::GetFileList;

/// How many times one word was seen, across every file counted so far.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct WordCount {
    /// The number of occurrences.
    pub count: u64,
    /// In how many files it occurs.
    pub files: u64,
}

#[entity(name = "word")]
impl WordCount {
    /// Adds the `count` occurrences of the word in one file.
    pub fn add(&mut self, count: u64) {
        self.count += count;
        self.files += 1;
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.count
    }

    /// Starts over from zero.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Splits text into lower-case words: runs of ASCII letters, at least three long.
pub fn words(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3)
    {
        *counts.entry(word.to_ascii_lowercase()).or_insert(0) += 1;
    }
    counts
}

/// Counts the words of one file; a file that is not UTF-8 text counts as empty.
#[activity]
pub async fn count_file(path: PathBuf) -> Result<BTreeMap<String, u64>, ActivityError> {
    let bytes = tokio::fs::read(&path).await?;
    Ok(match std::str::from_utf8(&bytes) {
        Ok(text) => words(text),
        Err(_) => BTreeMap::new(),
    })
}

/// What [`count_words`] did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CountSummary {
    /// How many files were read.
    pub files: usize,
    /// How many `add` signals were sent (one per distinct word per file).
    pub signals: u64,
    /// How many word occurrences were counted in all.
    pub occurrences: u64,
}

/// Counts the words of one file and signals each word's [`WordCount`] entity: one
/// sub-orchestration per file keeps each history small.
#[orchestrator]
pub async fn count_file_words(
    ctx: OrchestrationContext,
    file: PathBuf,
) -> Result<(u64, u64), OrchestrationError> {
    let counts = ctx.call_activity(CountFile, file).await?;
    let (mut signals, mut occurrences) = (0, 0);
    for (word, count) in counts {
        WordCount::signal(&ctx, word).add(count);
        signals += 1;
        occurrences += count;
    }
    Ok((signals, occurrences))
}

/// Counts the words under `root`: one [`count_file_words`] sub-orchestration per file, in
/// parallel (each runs one [`count_file`] activity and signals the word entities).
#[orchestrator]
pub async fn count_words(
    ctx: OrchestrationContext,
    root: PathBuf,
) -> Result<CountSummary, OrchestrationError> {
    let files = ctx.call_activity(GetFileList, root).await?;
    let calls: Vec<_> = files
        .iter()
        .map(|file| ctx.call_sub_orchestrator(CountFileWords, file.clone()))
        .collect();
    let per_file = try_join_all(calls).await?;
    Ok(CountSummary {
        files: files.len(),
        signals: per_file.iter().map(|(s, _)| s).sum(),
        occurrences: per_file.iter().map(|(_, o)| o).sum(),
    })
}
