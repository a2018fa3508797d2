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
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::TryFuture;

/// Waits for every future and returns their outputs in input order (fan-in).
///
/// Every future is driven to completion, failed or not; the output keeps the order of
/// `futures`, not the order of completion. Like Durable Functions' `Task.WhenAll` except
/// that failures are returned per element instead of rethrown. The returned [`JoinAll`]
/// is a [`DurableFuture`](crate::DurableFuture) when the futures are.
pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    JoinAll {
        inner: futures::future::join_all(futures),
    }
}

/// Waits for every future to succeed and returns their outputs in input order, or returns
/// the first error in history order as soon as it is delivered.
///
/// Calls still running when an error is returned are not cancelled: their activities
/// still run and their results are ignored. The returned [`TryJoinAll`] is a
/// [`DurableFuture`](crate::DurableFuture) when the futures are.
pub fn try_join_all<I, T, E>(futures: I) -> TryJoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    TryJoinAll {
        inner: futures::future::try_join_all(futures),
    }
}

/// Waits for the first of two durable futures (Durable Functions' `Task.WhenAny`) and
/// resolves to its output with the other future, which is still pending:
/// `Either::Left((first_output, second))` or `Either::Right((second_output, first))`.
///
/// The winner is the future whose completion comes first in the history, on every replay;
/// if both completed in the same turn, the one applied first wins. Dropping the loser
/// cancels nothing durable: a losing activity still runs, a losing timer still fires,
/// and their results are ignored. `futures::future::Either` says which side won. The
/// returned [`Select`] is a [`DurableFuture`](crate::DurableFuture) when both futures are.
pub fn select<A, B>(first: A, second: B) -> Select<A, B>
where
    A: Future + Unpin,
    B: Future + Unpin,
{
    Select {
        inner: futures::future::select(first, second),
    }
}

pin_project_lite::pin_project! {
    /// The future of [`join_all`]: resolves to a `Vec` of the outputs, in input order.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct JoinAll<F: Future> {
        #[pin]
        inner: futures::future::JoinAll<F>,
    }
}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F: Future> std::fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinAll").finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`try_join_all`]: resolves to a `Vec` of the successes, in input
    /// order, or to the first error in history order.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct TryJoinAll<F: TryFuture> {
        #[pin]
        inner: futures::future::TryJoinAll<F>,
    }
}

impl<F: TryFuture> Future for TryJoinAll<F> {
    type Output = Result<Vec<F::Ok>, F::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F: TryFuture> std::fmt::Debug for TryJoinAll<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TryJoinAll").finish_non_exhaustive()
    }
}

/// The future of [`select`]: resolves to the winner's output and the other future.
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Select<A, B> {
    inner: futures::future::Select<A, B>,
}

impl<A: Future + Unpin, B: Future + Unpin> Future for Select<A, B> {
    type Output = futures::future::Either<(A::Output, B), (B::Output, A)>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}
