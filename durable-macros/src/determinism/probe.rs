//! The type layer of `hash_iteration`: where the walker sees iteration whose order reaches a
//! durable call but cannot tell what is iterated (an input's field, an activity's result, a
//! helper's return value), it wraps the iterated expression in a probe that the compiler
//! resolves by type. The probe is autoref specialization: a `#[deprecated]` method that only
//! `HashMap`/`HashSet` (by value or reference) and their iterators have, beside a plain one
//! every other type has, so the warning appears exactly when the type is a hash collection,
//! however it got there (aliases included), and `#![deny(deprecated)]` makes it an error.
//!
//! ```text
//! for x in __durable_hash_probe(EXPR, |it| { (&__DurableHashProbe(it)).durable_hash_iteration(); })
//! ```
//!
//! `__durable_hash_probe` returns its argument unchanged, so temporaries, borrows and moves
//! are those of `EXPR`; the items it needs are emitted once at the top of the body.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Expr;
use syn::visit_mut::{self, VisitMut};

/// Wraps each expression of `sites` (by address, found by the walker in this same tree) and
/// adds the probe items; returns the root text of each site actually wrapped.
pub(super) fn insert(
    block: &mut syn::Block,
    sites: &HashMap<usize, (Span, String)>,
    in_place: &HashSet<usize>,
    message: &str,
) -> Vec<String> {
    let mut wrap = Wrap {
        sites,
        in_place,
        wrapped: Vec::new(),
    };
    wrap.visit_block_mut(block);
    if wrap.wrapped.is_empty() {
        return wrap.wrapped;
    }
    let items = items_of(message);
    let items: syn::Block = syn::parse_quote!({ #items });
    let mut stmts = items.stmts;
    stmts.append(&mut block.stmts);
    block.stmts = stmts;
    wrap.wrapped
}

struct Wrap<'a> {
    sites: &'a HashMap<usize, (Span, String)>,
    /// Sites that are places changed in place (`set.retain(..)`): probed through `&mut`.
    in_place: &'a HashSet<usize>,
    wrapped: Vec<String>,
}

impl VisitMut for Wrap<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        let address = std::ptr::from_ref::<Expr>(expr) as usize;
        visit_mut::visit_expr_mut(self, expr);
        if let Some((span, root)) = self.sites.get(&address) {
            let inner = std::mem::replace(expr, Expr::Verbatim(TokenStream::new()));
            let check = quote_spanned! {*span=>
                (&__DurableHashProbe(__durable_iterated)).durable_hash_iteration()
            };
            *expr = if self.in_place.contains(&address) {
                syn::parse_quote! {
                    (*__durable_hash_probe(&mut #inner, |__durable_iterated| {
                        #[allow(clippy::needless_borrow)]
                        #check;
                    }))
                }
            } else {
                syn::parse_quote! {
                    __durable_hash_probe(#inner, |__durable_iterated| {
                        #[allow(clippy::needless_borrow)]
                        #check;
                    })
                }
            };
            self.wrapped.push(root.clone());
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// The probe's items: the identity function, the probe type and its two traits.
fn items_of(message: &str) -> TokenStream {
    let map = quote!(::std::collections::hash_map);
    let set = quote!(::std::collections::hash_set);
    let hash_types = [
        (
            quote!(<K, V, S>),
            quote!(::std::collections::HashMap<K, V, S>),
        ),
        (
            quote!(<K, V, S>),
            quote!(&::std::collections::HashMap<K, V, S>),
        ),
        (
            quote!(<K, V, S>),
            quote!(&mut ::std::collections::HashMap<K, V, S>),
        ),
        (quote!(<K, V>), quote!(#map::Iter<'_, K, V>)),
        (quote!(<K, V>), quote!(#map::IterMut<'_, K, V>)),
        (quote!(<K, V>), quote!(#map::IntoIter<K, V>)),
        (quote!(<K, V>), quote!(#map::Keys<'_, K, V>)),
        (quote!(<K, V>), quote!(#map::Values<'_, K, V>)),
        (quote!(<K, V>), quote!(#map::ValuesMut<'_, K, V>)),
        (quote!(<K, V>), quote!(#map::IntoKeys<K, V>)),
        (quote!(<K, V>), quote!(#map::IntoValues<K, V>)),
        (quote!(<K, V>), quote!(#map::Drain<'_, K, V>)),
        (quote!(<K, S>), quote!(::std::collections::HashSet<K, S>)),
        (quote!(<K, S>), quote!(&::std::collections::HashSet<K, S>)),
        (
            quote!(<K, S>),
            quote!(&mut ::std::collections::HashSet<K, S>),
        ),
        (quote!(<K>), quote!(#set::Iter<'_, K>)),
        (quote!(<K>), quote!(#set::IntoIter<K>)),
        (quote!(<K>), quote!(#set::Drain<'_, K>)),
        (quote!(<K, S>), quote!(#set::Union<'_, K, S>)),
        (quote!(<K, S>), quote!(#set::Intersection<'_, K, S>)),
        (quote!(<K, S>), quote!(#set::Difference<'_, K, S>)),
        (quote!(<K, S>), quote!(#set::SymmetricDifference<'_, K, S>)),
    ];
    let impls = hash_types.iter().map(|(generics, ty)| {
        quote! {
            impl #generics __DurableHashOrdered for __DurableHashProbe<'_, #ty> {}
        }
    });
    quote! {
        #[allow(dead_code)]
        fn __durable_hash_probe<T>(value: T, check: impl ::core::ops::FnOnce(&T)) -> T {
            check(&value);
            value
        }
        #[allow(dead_code)]
        struct __DurableHashProbe<'a, T: ?::core::marker::Sized>(&'a T);
        #[allow(dead_code)]
        trait __DurableHashOrdered {
            #[deprecated(note = #message)]
            fn durable_hash_iteration(&self) {}
        }
        #[allow(dead_code)]
        trait __DurableAnyOrder {
            fn durable_hash_iteration(&self) {}
        }
        impl<T: ?::core::marker::Sized> __DurableAnyOrder for &__DurableHashProbe<'_, T> {}
        #(#impls)*
    }
}
