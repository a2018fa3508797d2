//! Deterministic combinators for waiting on several durable calls (fan-out/fan-in).
//!
//! Durable futures resolve in history order on every replay, so any combinator that polls
//! its children when woken, and picks among ready children in a fixed order, is
//! deterministic. These three are the ones to use; they are thin wrappers over `futures`'
//! combinators with their semantics pinned down here.
//!
//! Safe as well: `futures::join!`, `futures::try_join!`, `futures::future::{join, try_join,
//! select, select_all, join_all, try_join_all}`. Not safe: `tokio::select!` and
//! `futures::select!` (they pick among ready branches at random; the `select` lint rejects
//! them), and anything that awaits a non-durable future (a runtime error, see
//! `durable::NonDurableAwait`).

use std::future::Future;

/// Waits for every future and returns their outputs in input order (fan-in).
///
/// Every future is driven to completion, failed or not; the output keeps the order of
/// `futures`, not the order of completion. Like Durable Functions' `Task.WhenAll` except
/// that failures are returned per element instead of rethrown.
pub async fn join_all<I>(futures: I) -> Vec<<I::Item as Future>::Output>
where
    I: IntoIterator,
    I::Item: Future,
{
    futures::future::join_all(futures).await
}

/// Waits for every future to succeed and returns their outputs in input order, or returns
/// the first error in history order as soon as it is delivered.
///
/// Calls still running when an error is returned are not cancelled: their activities
/// still run and their results are ignored.
pub async fn try_join_all<I, T, E>(futures: I) -> Result<Vec<T>, E>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    futures::future::try_join_all(futures).await
}

/// Waits for the first of two durable futures (Durable Functions' `Task.WhenAny`) and
/// returns its output with the other future, which is still pending.
///
/// The winner is the future whose completion comes first in the history, on every replay;
/// if both completed in the same turn, the one applied first wins. Dropping the loser
/// cancels nothing durable: a losing activity still runs, a losing timer still fires,
/// and their results are ignored. `futures::future::Either` says which side won.
pub async fn select<A, B>(
    first: A,
    second: B,
) -> futures::future::Either<(A::Output, B), (B::Output, A)>
where
    A: Future + Unpin,
    B: Future + Unpin,
{
    futures::future::select(first, second).await
}
