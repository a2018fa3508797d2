//! Proves the macros' expansions are clean under strict lints: clippy (run by `.ci/run` with
//! `--all-targets`) compiles this file with every lint group denied.

#![deny(warnings, clippy::all, clippy::pedantic)]

use durable_runtime::prelude::*;

/// An activity with a context and a tuple input.
///
/// # Errors
/// Never; the signature shows the fallible form.
#[activity]
pub async fn with_context(ctx: ActivityContext, (a, b): (u32, u32)) -> Result<u32, ActivityError> {
    Ok(a + b + ctx.attempt())
}

/// An activity with no input and a plain output.
#[activity(name = "renamed_activity", handle = Renamed)]
async fn no_input() -> String {
    String::from("x")
}

/// An orchestrator with no input and a unit output.
///
/// # Errors
/// When an activity fails.
#[orchestrator]
pub async fn unit(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let _ = ctx.call_activity(WithContext, (1, 2)).await?;
    let _ = ctx.call_activity(Renamed, ()).await?;
    Ok(())
}

/// An orchestrator with an escape hatch and a plain output.
#[orchestrator(allow(hash_iteration))]
async fn plain_output(_ctx: OrchestrationContext, values: Vec<u32>) -> u32 {
    let set: std::collections::HashSet<u32> = values.into_iter().collect();
    set.iter().sum()
}

/// An orchestrator whose loops carry the `hash_iteration` type probes (a `Vec` input and
/// an activity's output, neither a hash collection): the probes must be lint-clean too.
///
/// # Errors
/// When an activity fails.
#[orchestrator]
pub async fn probed(
    ctx: OrchestrationContext,
    values: Vec<u32>,
) -> Result<u32, OrchestrationError> {
    let mut total = 0;
    for value in &values {
        total += ctx.call_activity(WithContext, (*value, 1)).await?;
    }
    let calls: Vec<_> = values
        .iter()
        .map(|value| ctx.call_activity(WithContext, (*value, 2)))
        .collect();
    for result in join_all(calls).await {
        total += result?;
    }
    for (index, value) in values.into_iter().enumerate() {
        let index = u32::try_from(index).unwrap_or_default();
        total += ctx.call_activity(WithContext, (value, index)).await?;
    }
    Ok(total)
}

#[test]
fn markers_carry_the_registered_names() {
    use durable_runtime::{Activity, Orchestration};
    assert_eq!(<WithContext as Activity>::NAME, "with_context");
    assert_eq!(<Renamed as Activity>::NAME, "renamed_activity");
    assert_eq!(<Unit as Orchestration>::NAME, "unit");
    assert_eq!(<PlainOutput as Orchestration>::NAME, "plain_output");
}
