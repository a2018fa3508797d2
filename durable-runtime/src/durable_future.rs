//! The type layer of the `non_durable_await` rule: [`DurableFuture`], the marker every
//! future an orchestrator may await carries, and [`DurableStream`], its counterpart for
//! streams whose items come from durable calls.
//!
//! `#[orchestrator]` rewrites each `.await` in the body whose awaited expression the syntax
//! cannot show to be durable (see the `#[orchestrator]` docs, "Awaits") into
//! `durable_await(expr).await`, where `durable_await` requires `DurableFuture`. A future
//! that is not a durable call (an HTTP client's, a tokio sleep, a rate limiter's, a
//! lock's) then fails to compile with one error, spanned on the awaited expression and
//! naming the rule. This follows Durable Functions' rule that an orchestrator may only
//! await the context's own tasks (the "orchestrator code constraints" of the Durable
//! Functions documentation: "orchestrator code must never initiate any async operation
//! except by using the orchestration trigger's context object").
//!
//! What implements it is listed on [`DurableFuture`].

use std::future::{Future, IntoFuture};
use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, TryFuture, TryStream, future, stream};

/// A future an orchestrator may await: it resolves from the history (a durable call, a
/// deterministic combinator of durable calls, or a value that is ready at once).
///
/// `#[orchestrator]` requires it of awaited expressions whose durability the syntax does
/// not show (rule `non_durable_await`). Implement it for your own combinator of durable
/// futures, with the inner futures bounded by `DurableFuture`; for a single value,
/// [`assume_durable`] does the same without a type.
///
/// # Implementations
///
/// Implemented for: every future the context returns ([`ActivityCall`](crate::ActivityCall),
/// [`SubOrchestrationCall`](crate::SubOrchestrationCall), [`DurableTimer`](crate::DurableTimer),
/// [`WaitForEvent`](crate::WaitForEvent), [`EntityCall`](crate::EntityCall) — what the
/// generated `Counter::call(&ctx, key)` proxies return — and
/// [`LockEntities`](crate::LockEntities)) and the options that wrap them
/// ([`RetryActivityCall`](crate::RetryActivityCall),
/// [`RetrySubOrchestrationCall`](crate::RetrySubOrchestrationCall),
/// [`WaitWithTimeout`](crate::WaitWithTimeout)); the crate's combinators ([`JoinAll`](crate::JoinAll),
/// [`TryJoinAll`](crate::TryJoinAll), [`Select`](crate::Select)); `futures`' combinators
/// over durable futures (`select`, `select_all`, `select_ok`, `join`..`join5`, `try_join`,
/// `join_all`, `try_join_all`, `Either`, `OptionFuture`, `Fuse`, `FutureExt::map` /
/// `then` / `inspect`, `TryFutureExt::map_ok` / `map_err` / `and_then` / `or_else`);
/// futures that are ready at once (`std::future::Ready`, `futures::future::Ready`);
/// `&mut F`, `Box<F>` and `Pin<P>` of a durable future; the futures of `StreamExt` /
/// `TryStreamExt` over a [`DurableStream`] (`next`, `try_next`, `select_next_some`,
/// `collect`, `try_collect`, `for_each`, `fold`, `count`, `concat`, `into_future`); and
/// [`AssumeDurable`], the escape hatch.
///
/// Type-erased futures (`dyn Future<Output = T>`, so `futures::future::BoxFuture` and
/// `Pin<Box<dyn Future<..>>>`) are accepted as well: the type no longer says what they
/// were, and refusing them would refuse the common `Vec<Pin<Box<dyn Future<..>>>>` of
/// durable calls. The replay engine's run-time check (`durable::NonDurableAwait`) still
/// catches a non-durable future hidden that way when it is awaited.
///
/// A combinator of your own over durable futures: implement `DurableFuture` for it (with
/// the inner futures bounded by `DurableFuture`), or wrap its value in
/// [`assume_durable`].
#[diagnostic::on_unimplemented(
    message = "this awaits a future that is not a durable call (`{Self}`) (rule `non_durable_await`)",
    label = "not a durable call: an orchestrator may only await `ctx`'s calls and durable combinators of them",
    note = "a future outside the history runs again on every replay and may see something else, or never resolve there; call it in an `#[activity]` and await `ctx.call_activity(..)`, or use `ctx.create_timer(..)` for waits",
    note = "a combinator of your own over durable calls: wrap it in `durable_runtime::assume_durable(..)`, or switch the rule off with `#[orchestrator(allow(non_durable_await))]`"
)]
pub trait DurableFuture {}

/// A stream whose items an orchestrator may wait for: each item is a value at hand or the
/// output of a durable future, so `StreamExt::next(..)` and the other stream futures over
/// it are [`DurableFuture`]s.
///
/// Implemented for `futures::stream::{FuturesUnordered, FuturesOrdered}` of durable
/// futures, `stream::iter`, `stream::once` of a durable future, `SelectAll` of durable
/// streams, and `StreamExt` / `TryStreamExt` adaptors of a durable stream whose futures
/// (if any) are durable (`then`, `map`, `filter`, `filter_map`, `buffered`,
/// `buffer_unordered`, `take`, `skip`, `enumerate`, `chain`, `zip`, `fuse`, `peekable`,
/// `chunks`, `take_while`, `inspect`, `and_then`, `map_ok`, `map_err`, `try_filter`,
/// `try_buffered`, `try_buffer_unordered`), and `&mut S`, `Box<S>`, `Pin<P>` of one.
/// A throttled or timed stream (`tokio_stream`'s `throttle`, `timeout`) is not one.
#[diagnostic::on_unimplemented(
    message = "this waits on a stream that is not made of durable calls (`{Self}`) (rule `non_durable_await`)",
    label = "not a durable stream",
    note = "build the stream from durable calls (`FuturesUnordered`, `stream::iter(..).then(|x| ctx.call_activity(..))`), or wrap the future in `durable_runtime::assume_durable(..)`"
)]
pub trait DurableStream {}

/// What `#[orchestrator]` wraps an awaited expression in: returns `future` unchanged, and
/// fails to compile when it is not a [`DurableFuture`]. Not public API.
#[doc(hidden)]
#[inline(always)]
pub fn durable_await<F: DurableFuture>(future: F) -> F {
    future
}

/// Marks `future` as durable for the `non_durable_await` rule: the escape hatch for a
/// combinator of your own over durable calls that has no [`DurableFuture`] impl (an
/// `async fn` helper's opaque future, a third-party combinator you checked).
///
/// It changes nothing at run time: a future that is not durable still breaks replay, and
/// the replay engine still fails the instance with `durable::NonDurableAwait` when the
/// orchestrator waits on something outside the history.
///
/// ```standalone_crate
/// use std::collections::VecDeque;
///
/// use durable_runtime::assume_durable;
/// use durable_runtime::prelude::*;
///
/// #[activity]
/// async fn charge(amount: u64) -> Result<u64, ActivityError> {
///     Ok(amount)
/// }
///
/// /// A helper that takes the context: `step(&ctx, x).await` is accepted as it is.
/// async fn step(ctx: &OrchestrationContext, amount: u64) -> Result<u64, ActivityFailed> {
///     ctx.call_activity(Charge, amount).await
/// }
///
/// #[orchestrator]
/// async fn queued(ctx: OrchestrationContext, amounts: Vec<u64>) -> Result<u64, OrchestrationError> {
///     // Taken back out of a queue, the helper's opaque future no longer shows where it
///     // came from, and its type is not a `DurableFuture`: mark it when it goes in.
///     let mut queue = VecDeque::new();
///     for amount in amounts {
///         queue.push_back(assume_durable(step(&ctx, amount)));
///     }
///     let mut total = 0;
///     while let Some(next) = queue.pop_front() {
///         total += next.await?;
///     }
///     Ok(total)
/// }
/// # fn main() {}
/// ```
pub fn assume_durable<F: IntoFuture>(future: F) -> AssumeDurable<F::IntoFuture> {
    AssumeDurable {
        inner: future.into_future(),
    }
}

pin_project_lite::pin_project! {
    /// A future marked durable by [`assume_durable`]; polls the future it wraps.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct AssumeDurable<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for AssumeDurable<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> DurableFuture for AssumeDurable<F> {}

// The context's futures.
impl<O> DurableFuture for crate::ActivityCall<O> {}
impl<O> DurableFuture for crate::SubOrchestrationCall<O> {}
impl DurableFuture for crate::DurableTimer {}
impl<T> DurableFuture for crate::WaitForEvent<T> {}
impl<T> DurableFuture for crate::WaitWithTimeout<T> {}
impl<O> DurableFuture for crate::RetryActivityCall<O> {}
impl<O> DurableFuture for crate::RetrySubOrchestrationCall<O> {}
impl<T> DurableFuture for crate::EntityCall<T> {}
impl DurableFuture for crate::LockEntities {}

// The crate's combinators.
impl<F: Future + DurableFuture> DurableFuture for crate::JoinAll<F> {}
impl<F: TryFuture + DurableFuture> DurableFuture for crate::TryJoinAll<F> {}
impl<A: DurableFuture, B: DurableFuture> DurableFuture for crate::Select<A, B> {}

// Pointers and wrappers of a durable future.
impl<F: DurableFuture + ?Sized> DurableFuture for &mut F {}
impl<F: DurableFuture + ?Sized> DurableFuture for Box<F> {}
impl<P> DurableFuture for Pin<P>
where
    P: DerefMut,
    P::Target: DurableFuture,
{
}
impl<T> DurableFuture for std::future::Ready<T> {}
impl<T> DurableFuture for future::Ready<T> {}
// Type-erased: accepted (see the module docs).
impl<T> DurableFuture for dyn Future<Output = T> + Send + '_ {}
impl<T> DurableFuture for dyn Future<Output = T> + '_ {}

// `futures`' combinators over durable futures.
impl<A: DurableFuture, B: DurableFuture> DurableFuture for future::Select<A, B> {}
impl<A: DurableFuture, B: DurableFuture> DurableFuture for future::TrySelect<A, B> {}
impl<A: DurableFuture, B: DurableFuture> DurableFuture for future::Either<A, B> {}
impl<F: DurableFuture> DurableFuture for future::SelectAll<F> {}
impl<F: DurableFuture> DurableFuture for future::SelectOk<F> {}
impl<F: Future + DurableFuture> DurableFuture for future::JoinAll<F> {}
impl<F: TryFuture + DurableFuture> DurableFuture for future::TryJoinAll<F> {}
impl<A: Future + DurableFuture, B: Future + DurableFuture> DurableFuture for future::Join<A, B> {}
impl<A, B, C> DurableFuture for future::Join3<A, B, C>
where
    A: Future + DurableFuture,
    B: Future + DurableFuture,
    C: Future + DurableFuture,
{
}
impl<A, B, C, D> DurableFuture for future::Join4<A, B, C, D>
where
    A: Future + DurableFuture,
    B: Future + DurableFuture,
    C: Future + DurableFuture,
    D: Future + DurableFuture,
{
}
impl<A, B, C, D, E> DurableFuture for future::Join5<A, B, C, D, E>
where
    A: Future + DurableFuture,
    B: Future + DurableFuture,
    C: Future + DurableFuture,
    D: Future + DurableFuture,
    E: Future + DurableFuture,
{
}
impl<A, B> DurableFuture for future::TryJoin<A, B>
where
    A: TryFuture + DurableFuture,
    B: TryFuture + DurableFuture,
{
}
impl<A, B, C> DurableFuture for future::TryJoin3<A, B, C>
where
    A: TryFuture + DurableFuture,
    B: TryFuture + DurableFuture,
    C: TryFuture + DurableFuture,
{
}
impl<F: DurableFuture> DurableFuture for future::OptionFuture<F> {}
impl<F: DurableFuture> DurableFuture for future::Fuse<F> {}
impl<F: DurableFuture, G> DurableFuture for future::Map<F, G> {}
impl<F: DurableFuture, G> DurableFuture for future::Inspect<F, G> {}
impl<A: DurableFuture, B: DurableFuture, G> DurableFuture for future::Then<A, B, G> {}
impl<F: DurableFuture, G> DurableFuture for future::MapOk<F, G> {}
impl<F: DurableFuture, G> DurableFuture for future::MapErr<F, G> {}
impl<A: DurableFuture, B: DurableFuture, G> DurableFuture for future::AndThen<A, B, G> {}
impl<A: DurableFuture, B: DurableFuture, G> DurableFuture for future::OrElse<A, B, G> {}

// The futures of `StreamExt` / `TryStreamExt` over a durable stream.
impl<S: DurableStream + ?Sized> DurableFuture for stream::Next<'_, S> {}
impl<S: DurableStream + ?Sized> DurableFuture for stream::TryNext<'_, S> {}
impl<S: DurableStream + ?Sized> DurableFuture for stream::SelectNextSome<'_, S> {}
impl<S: DurableStream> DurableFuture for stream::StreamFuture<S> {}
impl<S: DurableStream, C> DurableFuture for stream::Collect<S, C> {}
impl<S: DurableStream, C> DurableFuture for stream::TryCollect<S, C> {}
impl<S: DurableStream> DurableFuture for stream::Count<S> {}
impl<S: DurableStream + Stream> DurableFuture for stream::Concat<S> {}
impl<S: DurableStream, F: DurableFuture, G> DurableFuture for stream::ForEach<S, F, G> {}
impl<S: DurableStream, F: DurableFuture, G> DurableFuture for stream::TryForEach<S, F, G> {}
impl<S: DurableStream, F: DurableFuture, T, G> DurableFuture for stream::Fold<S, F, T, G> {}
impl<S: DurableStream, F: DurableFuture, T, G> DurableFuture for stream::TryFold<S, F, T, G> {}

// Durable streams.
impl<F: DurableFuture> DurableStream for stream::FuturesUnordered<F> {}
impl<F: Future + DurableFuture> DurableStream for stream::FuturesOrdered<F> {}
impl<S: DurableStream> DurableStream for stream::SelectAll<S> {}
impl<I> DurableStream for stream::Iter<I> {}
impl<F: DurableFuture> DurableStream for stream::Once<F> {}
impl<S: DurableStream + ?Sized> DurableStream for &mut S {}
impl<S: DurableStream + ?Sized> DurableStream for Box<S> {}
impl<P> DurableStream for Pin<P>
where
    P: DerefMut,
    P::Target: DurableStream,
{
}
impl<S: DurableStream, F: DurableFuture, G> DurableStream for stream::Then<S, F, G> {}
impl<S: DurableStream, G> DurableStream for stream::Map<S, G> {}
impl<S: DurableStream, G> DurableStream for stream::Inspect<S, G> {}
impl<S: DurableStream + Stream, F: DurableFuture, G> DurableStream for stream::Filter<S, F, G> {}
impl<S: DurableStream, F: DurableFuture, G> DurableStream for stream::FilterMap<S, F, G> {}
impl<S: DurableStream + Stream, F: DurableFuture, G> DurableStream for stream::TakeWhile<S, F, G> {}
impl<S> DurableStream for stream::Buffered<S>
where
    S: DurableStream + Stream,
    S::Item: Future + DurableFuture,
{
}
impl<S> DurableStream for stream::BufferUnordered<S>
where
    S: DurableStream + Stream,
    S::Item: DurableFuture,
{
}
impl<S: DurableStream> DurableStream for stream::Take<S> {}
impl<S: DurableStream> DurableStream for stream::Skip<S> {}
impl<S: DurableStream> DurableStream for stream::Enumerate<S> {}
impl<S: DurableStream> DurableStream for stream::Fuse<S> {}
impl<A: DurableStream, B: DurableStream> DurableStream for stream::Chain<A, B> {}
impl<A: DurableStream + Stream, B: DurableStream + Stream> DurableStream for stream::Zip<A, B> {}
impl<S: DurableStream + Stream> DurableStream for stream::Peekable<S> {}
impl<S: DurableStream + Stream> DurableStream for stream::Chunks<S> {}
impl<S: DurableStream, F: DurableFuture, G> DurableStream for stream::AndThen<S, F, G> {}
impl<S: DurableStream, G> DurableStream for stream::MapOk<S, G> {}
impl<S: DurableStream, G> DurableStream for stream::MapErr<S, G> {}
impl<S: DurableStream + TryStream, F: DurableFuture, G> DurableStream
    for stream::TryFilter<S, F, G>
{
}
impl<S> DurableStream for stream::TryBuffered<S>
where
    S: DurableStream + TryStream,
    S::Ok: TryFuture + DurableFuture,
{
}
impl<S> DurableStream for stream::TryBufferUnordered<S>
where
    S: DurableStream + TryStream,
    S::Ok: DurableFuture,
{
}
