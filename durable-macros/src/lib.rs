//! Attribute macros for `durable_runtime`: `#[orchestrator]`, `#[activity]` and `#[entity]`.
//!
//! Use them through `durable_runtime`, which re-exports them and documents them in full.

mod args;
mod codegen;
mod ctxt;
mod determinism;
mod entity;
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

/// Makes an `impl` block of a state type a durable entity; see `durable_runtime::Entity`.
///
/// Implements `durable_runtime::Entity` on the state type, generates the proxies
/// `Type::entity_id`, `Type::signal`, `Type::signal_at`, `Type::call`, `Type::read` with
/// the proxy types `TypeSignal` and `TypeCall`, and the `inventory` registration.
/// Arguments: `name = "..."` (registered name, default the type name lower-cased),
/// `crate = path`.
#[proc_macro_attribute]
pub fn entity(args: TokenStream, item: TokenStream) -> TokenStream {
    entity::expand(args.into(), item.into()).into()
}
