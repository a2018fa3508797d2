//! The aggregator pattern: count the words in every file under a directory with one
//! counter entity per word, then print the ten most frequent words from the entities' state.
//!
//! ```text
//! cargo run --release --example aggregator -- [DIR] [--db FILE]
//! ```
//! DIR defaults to this repository (skipping `target/` and `.git/`). Running it again on
//! the same database adds to the counts: entities keep their state.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use durable_examples::aggregator::{CountWords, WordCount};
use durable_runtime::prelude::*;
use durable_runtime::{EntityMetadata, EntityQuery};

#[derive(Debug, Parser)]
#[command(
    about = "Count words with one durable entity per word (Durable Functions' aggregator pattern)"
)]
struct Args {
    /// The directory whose files to count (default: this repository).
    dir: Option<PathBuf>,
    /// The SQLite file holding the task hub (default: a fresh file under the system temp dir).
    #[arg(long)]
    db: Option<PathBuf>,
}

/// Every `word` entity with its state, page by page.
async fn all_words(client: &DurableClient) -> anyhow::Result<Vec<(String, WordCount)>> {
    let mut query = EntityQuery::default()
        .name(WordCount::entity_id("").name().to_owned())
        .include_state(true)
        .page_size(1_000);
    let mut words = Vec::new();
    loop {
        let page = client.list_entities(&query).await?;
        for EntityMetadata { id, state, .. } in page.entities {
            if let Some(state) = state {
                words.push((id.key().to_owned(), state.decode()?));
            }
        }
        match page.continuation_token {
            Some(token) => query.continuation_token = Some(token),
            None => return Ok(words),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = match args.dir {
        Some(dir) => dir,
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
    }
    .canonicalize()?;
    let db = args.db.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("durable-aggregator-{}.db", std::process::id()))
    });
    let runtime = Runtime::builder().sqlite(&db).start().await?;
    let client = runtime.client();
    let before: u64 = all_words(&client).await?.iter().map(|(_, w)| w.count).sum();

    let started = Instant::now();
    let instance = CountWords::start(&client, dir.clone()).await?;
    let summary = instance
        .wait_for_completion(Duration::from_secs(600))
        .await?;
    // The signals are sent; wait until the entities have applied every one of them.
    let expected = before + summary.occurrences;
    let words = loop {
        let words = all_words(&client).await?;
        if words.iter().map(|(_, w)| w.count).sum::<u64>() == expected {
            break words;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let elapsed = started.elapsed();

    println!(
        "counted {} word occurrences in {} files under {} with {} signals to {} word entities in {:.2} s",
        summary.occurrences,
        summary.files,
        dir.display(),
        summary.signals,
        words.len(),
        elapsed.as_secs_f64()
    );
    let mut top = words;
    top.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
    println!(
        "{:>4}  {:<20} {:>8} {:>6}",
        "rank", "word", "count", "files"
    );
    for (rank, (word, count)) in top.iter().take(10).enumerate() {
        println!(
            "{:>4}  {:<20} {:>8} {:>6}",
            rank + 1,
            word,
            count.count,
            count.files
        );
    }
    println!("task hub: {}", db.display());
    runtime.shutdown().await;
    Ok(())
}
