//! `#[entity]`: an `impl` block of a state type becomes a durable entity.
//!
//! Checks mirror Durable Functions' entity analyzers (DF0301–DF0307) at compile time: at
//! least one operation, methods only, no generics, `&self`/`&mut self` receivers, owned
//! inputs. Every problem in the block is reported at once; the block itself is always kept
//! so the rest of the crate still type-checks.

mod args;
mod codegen;
mod model;

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemImpl;

use crate::ctxt::Ctxt;
use args::{EntityArgs, parse_args};
use codegen::generate;
use model::Model;

/// Expands `#[entity]`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item_impl: ItemImpl = match syn::parse2(item.clone()) {
        Ok(item_impl) => item_impl,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                "`#[entity]` goes on an `impl` block of the entity's state type: \
                 `#[entity] impl Counter { fn add(&mut self, amount: i64) { .. } }`",
            );
            let mut out = item;
            out.extend(error.into_compile_error());
            return out;
        }
    };
    let cx = Ctxt::new();
    let args = parse_args(&cx, args);
    let Model {
        self_ident,
        operations,
    } = Model::from_impl(&cx, &item_impl);
    match (cx.check(), self_ident) {
        (Ok(()), Some(self_ident)) => {
            let out = generate(&item_impl, &self_ident, &operations, &args);
            if std::env::var_os("DURABLE_MACROS_DEBUG").is_some() {
                eprintln!("{out}");
            }
            out
        }
        (Err(error), _) => {
            let mut out = quote!(#item_impl);
            out.extend(error.into_compile_error());
            out
        }
        (Ok(()), None) => quote!(#item_impl),
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn errors(args: TokenStream, item: TokenStream) -> Vec<String> {
        let out = expand(args, item).to_string();
        out.split("compile_error !")
            .skip(1)
            .map(|chunk| {
                let start = chunk.find('"').map_or(0, |s| s + 1);
                let end = chunk[start..]
                    .find("\" }")
                    .map_or(chunk.len(), |e| start + e);
                chunk[start..end].to_owned()
            })
            .collect()
    }

    #[test]
    fn a_valid_entity_expands_to_its_impl_proxies_and_registration() {
        let out = expand(
            quote!(name = "Counter"),
            quote!(
                impl Counter {
                    fn add(&mut self, amount: i64) {
                        self.value += amount;
                    }
                    fn get(&self) -> i64 {
                        self.value
                    }
                }
            ),
        )
        .to_string();
        for needle in [
            "impl :: durable_runtime :: Entity for Counter",
            // Entity names are case-insensitive in Durable Functions: stored lowercased.
            "const NAME : & 'static str = \"counter\"",
            "& [\"add\" , \"get\"]",
            "fn signal",
            "fn call",
            "fn read",
            "fn entity_id",
        ] {
            assert!(out.contains(needle), "{needle:?} missing in {out}");
        }
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn every_bad_argument_is_reported_at_once() {
        let found = errors(
            quote!(
                name = "a@b",
                colour = "red",
                crate = ::x,
                crate = ::y,
                shape(round)
            ),
            quote!(
                impl Counter {
                    fn add(&mut self, amount: i64) {}
                }
            ),
        );
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].contains("must not contain `@`"), "{found:#?}");
        assert!(
            found
                .iter()
                .any(|e| e.contains("unknown `#[entity]` argument `colour`"))
        );
        assert!(
            found
                .iter()
                .any(|e| e.contains("`crate` given more than once"))
        );
        assert!(
            found
                .iter()
                .any(|e| e.contains("unknown `#[entity]` argument `shape`"))
        );
    }

    #[test]
    fn every_bad_operation_is_reported_at_once() {
        let found = errors(
            quote!(),
            quote!(
                impl<T> Counter<T> {
                    const MAX: i64 = 3;
                    fn take(self) {}
                    fn add<U>(&mut self, amount: U) {}
                    fn signal(&mut self) {}
                    fn Get(&self) -> i64 {
                        0
                    }
                    fn get(&self) -> i64 {
                        0
                    }
                }
            ),
        );
        for needle in [
            "cannot be generic",
            "only methods (operations)",
            "clashes with",
            "signal",
        ] {
            assert!(
                found.iter().any(|e| e.contains(needle)),
                "{needle:?} not among {found:#?}"
            );
        }
        assert!(found.len() >= 6, "{found:#?}");
    }

    #[test]
    fn an_impl_without_operations_is_refused_and_kept() {
        let out = expand(quote!(), quote!(impl Counter {})).to_string();
        assert!(
            out.contains("an entity needs at least one operation"),
            "{out}"
        );
        assert!(out.starts_with("impl Counter"), "the block is kept: {out}");
    }
}
