//! The determinism lints of `#[orchestrator]`: a `syn::visit::Visit` walker over the body.
//!
//! Error policy: every finding is recorded in the [`Ctxt`] (spanned on the offending
//! tokens, naming the deterministic replacement), so all of a function's violations show
//! in one compile. `hash_iteration` is a warning, emitted through the `#[deprecated]` trick
//! (the only way for a proc macro to warn on stable Rust).
//!
//! Limits (documented for users in the `#[orchestrator]` docs): the walker sees only this
//! function's tokens, so aliases (`use std::time::SystemTime as Clock`), bare imported
//! names (`use std::thread::sleep; sleep(d)`) and code in other functions escape it; macro
//! bodies are checked only when they parse as comma-separated expressions. The replay
//! engine's non-determinism and non-durable-await checks are the backstop.

mod rules;

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Expr, Pat, Token};

pub(crate) use rules::Rule;

use crate::ctxt::Ctxt;

/// Walks `block` and reports every violation not in `allow`; returns the tokens that make
/// the warnings appear.
pub(crate) fn check(
    cx: &Ctxt,
    block: &syn::Block,
    context: Option<&syn::Ident>,
    allow: &[Rule],
) -> TokenStream {
    let mut walker = Walker {
        cx,
        allow,
        context: context.map(ToString::to_string),
        unsafe_depth: 0,
        static_muts: HashSet::new(),
        hash_locals: HashSet::new(),
        warnings: Vec::new(),
    };
    walker.visit_block(block);
    walker.warning_tokens()
}

struct Walker<'a> {
    cx: &'a Ctxt,
    allow: &'a [Rule],
    /// The context parameter's name: method calls on it are durable calls.
    context: Option<String>,
    unsafe_depth: usize,
    /// `static mut` items declared in the body.
    static_muts: HashSet<String>,
    /// Locals bound to a `HashMap`/`HashSet` built in the body.
    hash_locals: HashSet<String>,
    warnings: Vec<(Span, String)>,
}

fn path_segments(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

fn path_text(path: &syn::Path) -> String {
    path_segments(path).join("::")
}

fn is_screaming_case(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn mentions_hash_collection(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "HashMap" || ident == "HashSet",
        TokenTree::Group(group) => mentions_hash_collection(group.stream()),
        _ => false,
    })
}

/// True when `expr` builds a hash collection: `HashMap::new()`, `HashSet::from(..)`,
/// `.collect::<HashMap<..>>()`.
fn builds_hash_collection(expr: &Expr) -> bool {
    match expr {
        Expr::Call(call) => match &*call.func {
            Expr::Path(path) => path
                .path
                .segments
                .iter()
                .any(|s| s.ident == "HashMap" || s.ident == "HashSet"),
            _ => false,
        },
        Expr::MethodCall(call) if call.method == "collect" => call
            .turbofish
            .as_ref()
            .is_some_and(|turbofish| mentions_hash_collection(turbofish.to_token_stream())),
        _ => false,
    }
}

fn hash_type(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "HashMap" || s.ident == "HashSet"),
        _ => false,
    }
}

impl Walker<'_> {
    fn report<T: ToTokens>(&mut self, rule: Rule, tokens: T, what: &str) {
        if self.allow.contains(&rule) {
            return;
        }
        if rule == Rule::HashIteration {
            let span = tokens.span();
            self.warnings.push((span, rule.message(what)));
        } else {
            self.cx.error_spanned_by(tokens, rule.message(what));
        }
    }

    fn local_name(expr: &Expr) -> Option<String> {
        match expr {
            Expr::Path(path) if path.qself.is_none() => {
                path.path.get_ident().map(ToString::to_string)
            }
            Expr::Reference(reference) => Self::local_name(&reference.expr),
            Expr::Paren(paren) => Self::local_name(&paren.expr),
            _ => None,
        }
    }

    fn warning_tokens(&self) -> TokenStream {
        self.warnings
            .iter()
            .map(|(span, message)| {
                let usage = quote_spanned!(*span=> let _ = durable_hash_iteration;);
                quote! {
                    const _: () = {
                        #[deprecated(note = #message)]
                        #[allow(non_camel_case_types)]
                        struct durable_hash_iteration;
                        #[allow(dead_code)]
                        fn __durable_warning() {
                            #usage
                        }
                    };
                }
            })
            .collect()
    }
}

impl<'ast> Visit<'ast> for Walker<'_> {
    fn visit_expr_path(&mut self, node: &'ast syn::ExprPath) {
        let segments = path_segments(&node.path);
        if let Some(rule) = rules::match_path(&segments) {
            self.report(rule, &node.path, &path_text(&node.path));
        } else if let Some(last) = segments.last()
            && ((self.unsafe_depth > 0 && is_screaming_case(last))
                || self.static_muts.contains(last))
        {
            self.report(
                Rule::StaticMut,
                &node.path,
                &format!("mutable static `{}`", path_text(&node.path)),
            );
        }
        visit::visit_expr_path(self, node);
    }

    fn visit_macro(&mut self, node: &'ast syn::Macro) {
        let segments = path_segments(&node.path);
        if segments.last().is_some_and(|last| last == "select") {
            self.report(
                Rule::Select,
                &node.path,
                &format!("{}!", path_text(&node.path)),
            );
            return;
        }
        if let Ok(args) = node.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            for arg in &args {
                self.visit_expr(arg);
            }
        }
    }

    fn visit_item_static(&mut self, node: &'ast syn::ItemStatic) {
        if let syn::StaticMutability::Mut(mutability) = &node.mutability {
            self.static_muts.insert(node.ident.to_string());
            let ident = &node.ident;
            let what = format!("static mut {ident}");
            self.report(Rule::StaticMut, quote!(#mutability #ident), &what);
        }
        visit::visit_item_static(self, node);
    }

    fn visit_expr_unsafe(&mut self, node: &'ast syn::ExprUnsafe) {
        self.unsafe_depth += 1;
        visit::visit_expr_unsafe(self, node);
        self.unsafe_depth -= 1;
    }

    fn visit_expr_loop(&mut self, node: &'ast syn::ExprLoop) {
        let mut scan = LoopScan {
            label: node.label.as_ref().map(|l| l.name.ident.to_string()),
            context: self.context.clone(),
            ..LoopScan::default()
        };
        scan.visit_block(&node.body);
        if scan.durable_call && !scan.exits && !scan.continues_as_new {
            self.report(Rule::UnboundedLoop, node.loop_token, "loop");
        }
        visit::visit_expr_loop(self, node);
    }

    fn visit_local(&mut self, node: &'ast syn::Local) {
        let (name, annotated) = match &node.pat {
            Pat::Ident(ident) => (Some(ident.ident.to_string()), false),
            Pat::Type(typed) => match &*typed.pat {
                Pat::Ident(ident) => (Some(ident.ident.to_string()), hash_type(&typed.ty)),
                _ => (None, false),
            },
            _ => (None, false),
        };
        if let Some(name) = name {
            let built = node
                .init
                .as_ref()
                .is_some_and(|init| builds_hash_collection(&init.expr));
            if annotated || built {
                self.hash_locals.insert(name);
            } else {
                self.hash_locals.remove(&name);
            }
        }
        visit::visit_local(self, node);
    }

    fn visit_expr_for_loop(&mut self, node: &'ast syn::ExprForLoop) {
        let mut iterated = &*node.expr;
        while let Expr::Reference(syn::ExprReference { expr, .. })
        | Expr::Paren(syn::ExprParen { expr, .. }) = iterated
        {
            iterated = expr;
        }
        if let Some(name) = Self::local_name(iterated)
            && self.hash_locals.contains(&name)
        {
            self.report(Rule::HashIteration, iterated, &name);
        }
        visit::visit_expr_for_loop(self, node);
    }

    fn visit_expr_method_call(&mut self, node: &'ast syn::ExprMethodCall) {
        if rules::ITERATING_METHODS.iter().any(|m| node.method == m)
            && let Some(name) = Self::local_name(&node.receiver)
            && self.hash_locals.contains(&name)
        {
            self.report(
                Rule::HashIteration,
                node,
                &format!("{name}.{}()", node.method),
            );
        }
        visit::visit_expr_method_call(self, node);
    }
}

/// Looks inside one `loop` body for durable calls and for ways out of the loop.
#[derive(Default)]
struct LoopScan {
    label: Option<String>,
    context: Option<String>,
    nested_loops: usize,
    closures: usize,
    durable_call: bool,
    exits: bool,
    continues_as_new: bool,
}

impl LoopScan {
    fn nested<F: FnOnce(&mut Self)>(&mut self, loop_like: bool, walk: F) {
        if loop_like {
            self.nested_loops += 1;
        } else {
            self.closures += 1;
        }
        walk(self);
        if loop_like {
            self.nested_loops -= 1;
        } else {
            self.closures -= 1;
        }
    }
}

impl<'ast> Visit<'ast> for LoopScan {
    fn visit_expr_method_call(&mut self, node: &'ast syn::ExprMethodCall) {
        let on_context = match (&*node.receiver, &self.context) {
            (Expr::Path(path), Some(context)) => path.path.is_ident(context),
            _ => false,
        };
        if on_context || rules::DURABLE_METHODS.iter().any(|m| node.method == m) {
            self.durable_call = true;
        }
        if node.method == "continue_as_new" {
            self.continues_as_new = true;
        }
        visit::visit_expr_method_call(self, node);
    }

    fn visit_expr_break(&mut self, node: &'ast syn::ExprBreak) {
        let ours = match (&node.label, &self.label) {
            (Some(label), Some(ours)) => label.ident == ours,
            (Some(_), None) => false,
            (None, _) => self.nested_loops == 0,
        };
        if ours && self.closures == 0 {
            self.exits = true;
        }
        visit::visit_expr_break(self, node);
    }

    fn visit_expr_return(&mut self, node: &'ast syn::ExprReturn) {
        if self.closures == 0 {
            self.exits = true;
        }
        visit::visit_expr_return(self, node);
    }

    fn visit_expr_loop(&mut self, node: &'ast syn::ExprLoop) {
        self.nested(true, |scan| visit::visit_expr_loop(scan, node));
    }

    fn visit_expr_while(&mut self, node: &'ast syn::ExprWhile) {
        self.nested(true, |scan| visit::visit_expr_while(scan, node));
    }

    fn visit_expr_for_loop(&mut self, node: &'ast syn::ExprForLoop) {
        self.nested(true, |scan| visit::visit_expr_for_loop(scan, node));
    }

    fn visit_expr_closure(&mut self, node: &'ast syn::ExprClosure) {
        self.nested(false, |scan| visit::visit_expr_closure(scan, node));
    }

    fn visit_expr_async(&mut self, node: &'ast syn::ExprAsync) {
        self.nested(false, |scan| visit::visit_expr_async(scan, node));
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod figure;
