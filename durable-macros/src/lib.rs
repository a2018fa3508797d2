//! Attribute macros for `durable_runtime`: `#[orchestrator]` and `#[activity]`.
//!
//! Use them through `durable_runtime`, which re-exports them and documents them in full.

mod args;
mod codegen;
mod ctxt;
mod determinism;
mod function;
mod signature;

use proc_macro::TokenStream;

use signature::Kind;

/// Marks an `async fn` as an orchestrator function; see `durable_runtime::orchestrator`.
///
/// Generates a marker type (`hello_cities` → `HelloCities`) implementing
/// `durable_runtime::Orchestration`, a `Marker::start(&client, input)` proxy, and the
/// `inventory` registration. Arguments: `name = "..."` (registered name, default the fn
/// name), `handle = Ident` (marker name), `crate = path` (where `durable_runtime` is).
#[proc_macro_attribute]
pub fn orchestrator(args: TokenStream, item: TokenStream) -> TokenStream {
    function::expand(Kind::Orchestrator, args.into(), item.into()).into()
}

/// Marks an `async fn` as an activity function; see `durable_runtime::activity`.
///
/// Generates a marker type (`say_hello` → `SayHello`) implementing
/// `durable_runtime::Activity` and the `inventory` registration; the function stays
/// callable as a plain function. Arguments as for `#[orchestrator]`.
#[proc_macro_attribute]
pub fn activity(args: TokenStream, item: TokenStream) -> TokenStream {
    function::expand(Kind::Activity, args.into(), item.into()).into()
}
