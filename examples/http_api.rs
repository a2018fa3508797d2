//! The Durable Functions async HTTP API pattern: serve the hello sequence, the backup
//! sample and the approval workflow over Durable Functions' HTTP management API, with the
//! web dashboard beside it at `/dashboard/`.
//!
//! ```text
//! cargo run --release --example http_api -- [--address 127.0.0.1:7071] [--key SECRET]
//! ```
//! Then, from another terminal (the README has the whole session):
//! ```text
//! curl -i -X POST http://127.0.0.1:7071/runtime/webhooks/durabletask/orchestrators/hello_cities \
//!      -H 'Content-Type: application/json' -d '["Tokyo","Seattle","London"]'
//! curl -i http://127.0.0.1:7071/runtime/webhooks/durabletask/instances/INSTANCE_ID
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use durable_runtime::http::HttpOptions;
use durable_runtime::prelude::*;

// The backup and approval workflows live in the examples' library; naming them here links
// them in, so the runtime registers them.
use durable_examples::{approval::ApprovalWorkflow, backup::BackupSiteContent};

#[derive(Debug, Parser)]
#[command(about = "Serve orchestrations over Durable Functions' HTTP management API")]
struct Args {
    /// Where to listen; keep it on loopback unless a key is set.
    #[arg(long, default_value = "127.0.0.1:7071")]
    address: SocketAddr,
    /// Require this key on every request (`?code=KEY` or an `x-functions-key` header).
    #[arg(long, env = "DURABLE_HTTP_KEY")]
    key: Option<String>,
    /// The SQLite file holding the task hub.
    #[arg(long, default_value = "http_api.db")]
    db: PathBuf,
}

#[activity]
async fn say_hello(city: String) -> Result<String, ActivityError> {
    Ok(format!("Hello {city}!"))
}

/// The hello sequence, as in the quickstart.
#[orchestrator]
async fn hello_cities(
    ctx: OrchestrationContext,
    cities: Vec<String>,
) -> Result<Vec<String>, OrchestrationError> {
    let mut greetings = Vec::new();
    for city in cities {
        greetings.push(ctx.call_activity(SayHello, city).await?);
    }
    Ok(greetings)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let runtime = Runtime::builder().sqlite(&args.db).start().await?;
    let keyed = args.key.is_some();
    let mut options = HttpOptions::default().address(args.address);
    options.key = args.key;
    let server = runtime.serve_http(options).await?;
    println!(
        "serving the durable HTTP API ({}, {}, {}) on http://{}/runtime/webhooks/durabletask; Ctrl-C stops",
        <HelloCities as Orchestration>::NAME,
        <BackupSiteContent as Orchestration>::NAME,
        <ApprovalWorkflow as Orchestration>::NAME,
        server.local_addr()
    );
    println!(
        "the dashboard: http://{}{}/{}",
        server.local_addr(),
        durable_runtime::dashboard::PATH,
        if keyed { "?code=KEY" } else { "" }
    );
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    runtime.shutdown().await;
    Ok(())
}
