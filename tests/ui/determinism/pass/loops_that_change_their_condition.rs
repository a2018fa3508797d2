#![deny(warnings)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use durable_runtime::prelude::*;

#[activity]
async fn next_page(cursor: u64) -> Result<(bool, u64), ActivityError> {
    Ok((cursor > 3, cursor + 1))
}

fn drain_one(pending: &mut Vec<u64>) {
    pending.pop();
}

fn finish(done: &Mutex<bool>) {
    *done.lock().expect("not poisoned") = true;
}

/// Bounded `while` loops whose condition the body changes in ways other than `x += 1`:
/// none is an unbounded loop.
#[orchestrator]
async fn loops_that_change_their_condition(
    ctx: OrchestrationContext,
    mut pending: Vec<u64>,
) -> Result<String, OrchestrationError> {
    // `write!` writes to its first argument.
    let mut buf = String::new();
    while buf.len() < 8 {
        let (_, page) = ctx.call_activity(NextPage, 0).await?;
        write!(buf, "{page}").expect("writing to a String");
    }
    // A destructuring assignment.
    let (mut done, mut cursor) = (false, 0);
    while !done {
        (done, cursor) = ctx.call_activity(NextPage, cursor).await?;
    }
    // A `&mut` local reborrowed by a call.
    let queue = &mut pending;
    while !queue.is_empty() {
        drain_one(queue);
        ctx.call_activity(NextPage, cursor).await?;
    }
    // A flag set through a shared reference.
    let stop = Mutex::new(false);
    while !*stop.lock().expect("not poisoned") {
        ctx.call_activity(NextPage, cursor).await?;
        finish(&stop);
    }
    // An alias made with `clone`.
    let flag = Arc::new(Mutex::new(false));
    while !*flag.lock().expect("not poisoned") {
        let alias = flag.clone();
        ctx.call_activity(NextPage, cursor).await?;
        *alias.lock().expect("not poisoned") = true;
    }
    // A `ref mut` binding.
    let mut count = Some(0u32);
    while count.is_some_and(|n| n < 3) {
        if let Some(ref mut n) = count {
            *n += 1;
        }
        ctx.call_activity(NextPage, cursor).await?;
    }
    Ok(buf)
}

fn main() {}
