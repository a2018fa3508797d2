//! Deterministic combinators for waiting on several durable calls (fan-out/fan-in).
//!
//! Durable futures resolve in history order on every replay, so any combinator that
//! polls its children when woken is deterministic. These two are the ones to use; both
//! are thin wrappers over `futures`' combinators with their semantics pinned down here.
//! Do not use `tokio::select!` or `futures::select!` (random branch order) in orchestrators.

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
