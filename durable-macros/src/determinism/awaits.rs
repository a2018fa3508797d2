//! The type layer of `non_durable_await`: every `.await` in the body (in closures and
//! `async` blocks too, not in nested items) whose awaited expression the syntax does not
//! show to be durable is rewritten to
//!
//! ```text
//! ::durable_runtime::__private::durable_await(EXPR).await
//! ```
//!
//! `durable_await` returns its argument unchanged and requires
//! `durable_runtime::DurableFuture`, whose `#[diagnostic::on_unimplemented]` gives the
//! error (one per await, spanned on `EXPR`, naming the rule). The arguments of `join!` /
//! `try_join!` (which await them) are probed the same way.
//!
//! What the syntax takes as durable, with no probe (so the compiler never refuses it):
//! - a call or method chain that *takes the context*: it starts from the context
//!   (`ctx.call_activity(..)`, `ctx.call_activity_with_retry(..)`, `ctx.x().map(..)`), or a
//!   call in it is handed the context (`step(&ctx, x)`, `self.run(ctx)`,
//!   `Inventory::call(&ctx, &key).reserve(1)`, `join_all(items.map(|i| ctx.call_activity(..)))`);
//!   uses of the context that only read a value (`ctx.instance_id()`, `ctx.current_time()`,
//!   `ctx.new_guid()`, ...) do not count, and a chain that starts from a closure
//!   (`(|| ctx.call_activity(..)).retry(policy)`) does not take the context: the closure is
//!   what a retry helper re-runs;
//! - an `async` block (its own awaits are checked), or a call handed one;
//! - a local bound to any of these (`let ev = ctx.wait_for_external_event_with_timeout(..)`,
//!   `let sleep = |s| ctx.create_timer(..)`, `for call in calls`), or a call handed one.

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Pat, Token};

use super::rules;
use super::syntax::{compact, path_segments};

/// Rewrites the body's awaits; returns the text of each awaited expression given a probe.
pub(super) fn insert(
    block: &mut syn::Block,
    context: Option<&syn::Ident>,
    krate: &syn::Path,
) -> Vec<String> {
    let mut probe = Probe {
        context: context.map(ToString::to_string),
        krate,
        durable_locals: HashSet::new(),
        probed: Vec::new(),
    };
    probe.visit_block_mut(block);
    probe.probed
}

/// Methods of the context that only read a value: a future handed their result does not
/// take the context.
fn value_method(name: &str) -> bool {
    name != "clone" && (rules::PURE_CONTEXT_METHODS.contains(&name) || name == "new_guid")
}

/// Whether the syntax shows `expr` (an awaited expression, a `let`'s initialiser) to be a
/// durable future: see the module docs.
pub(super) fn shows_durable(
    context: Option<&str>,
    durable_locals: &HashSet<String>,
    expr: &Expr,
) -> bool {
    let judge = Judge {
        context,
        durable_locals,
    };
    judge.durable(expr)
}

struct Judge<'a> {
    context: Option<&'a str>,
    durable_locals: &'a HashSet<String>,
}

impl Judge<'_> {
    fn is_durable_name(&self, name: &str) -> bool {
        self.context == Some(name) || self.durable_locals.contains(name)
    }

    fn durable(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Paren(inner) => self.durable(&inner.expr),
            Expr::Group(inner) => self.durable(&inner.expr),
            Expr::Reference(inner) => self.durable(&inner.expr),
            Expr::Async(_) => true,
            Expr::Closure(closure) => self.durable(&closure.body) || self.mentions(&closure.body),
            Expr::Path(path) => path
                .path
                .get_ident()
                .is_some_and(|ident| self.is_durable_name(&ident.to_string())),
            Expr::MethodCall(call) if self.reads_value(call) => false,
            Expr::MethodCall(call) => {
                call.args.iter().any(|arg| self.mentions(arg))
                    || (!starts_from_closure(&call.receiver) && self.durable(&call.receiver))
            }
            Expr::Call(call) => {
                call.args.iter().any(|arg| self.mentions(arg))
                    || matches!(&*call.func, Expr::Path(path) if path.path.get_ident().is_some_and(|i| self.durable_locals.contains(&i.to_string())))
            }
            _ => false,
        }
    }

    /// `ctx.instance_id()`, `ctx.current_time()`: a value read from the context.
    fn reads_value(&self, call: &syn::ExprMethodCall) -> bool {
        matches!(&*call.receiver, Expr::Path(path) if path.path.get_ident().is_some_and(|i| Some(&*i.to_string()) == self.context))
            && value_method(&call.method.to_string())
    }

    /// Whether `expr` hands on the context (not only a value read from it), a durable
    /// local or an `async` block.
    fn mentions(&self, expr: &Expr) -> bool {
        let mut scan = Mentions {
            judge: self,
            found: false,
        };
        scan.visit_expr(expr);
        scan.found
    }

    fn tokens_mention(&self, tokens: TokenStream) -> bool {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, tree) in trees.iter().enumerate() {
            match tree {
                TokenTree::Ident(ident) if ident == "async" => return true,
                TokenTree::Ident(ident) if self.is_durable_name(&ident.to_string()) => {
                    let value_read = self.context == Some(&ident.to_string())
                        && matches!(trees.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '.')
                        && matches!(trees.get(i + 2), Some(TokenTree::Ident(m)) if value_method(&m.to_string()));
                    if !value_read {
                        return true;
                    }
                }
                TokenTree::Group(group) if self.tokens_mention(group.stream()) => return true,
                _ => {}
            }
        }
        false
    }
}

/// `(|| ctx.call_activity(..)).retry(policy)`: the chain starts from a closure.
fn starts_from_closure(expr: &Expr) -> bool {
    match expr {
        Expr::Paren(inner) => starts_from_closure(&inner.expr),
        Expr::Group(inner) => starts_from_closure(&inner.expr),
        Expr::Closure(_) => true,
        _ => false,
    }
}

struct Mentions<'a, 'b> {
    judge: &'a Judge<'b>,
    found: bool,
}

impl<'ast> Visit<'ast> for Mentions<'_, '_> {
    fn visit_expr_method_call(&mut self, node: &'ast syn::ExprMethodCall) {
        if self.judge.reads_value(node) {
            for arg in &node.args {
                self.visit_expr(arg);
            }
            return;
        }
        visit::visit_expr_method_call(self, node);
    }

    fn visit_expr_path(&mut self, node: &'ast syn::ExprPath) {
        if node
            .path
            .get_ident()
            .is_some_and(|ident| self.judge.is_durable_name(&ident.to_string()))
        {
            self.found = true;
        }
    }

    fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {
        self.found = true;
    }

    fn visit_expr_closure(&mut self, node: &'ast syn::ExprClosure) {
        if node.asyncness.is_some() {
            self.found = true;
        }
        visit::visit_expr_closure(self, node);
    }

    fn visit_macro(&mut self, node: &'ast syn::Macro) {
        if self.judge.tokens_mention(node.tokens.clone()) {
            self.found = true;
        }
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

struct Probe<'a> {
    context: Option<String>,
    krate: &'a syn::Path,
    /// Locals bound to what the syntax shows to be durable.
    durable_locals: HashSet<String>,
    probed: Vec<String>,
}

impl Probe<'_> {
    fn shows_durable(&self, expr: &Expr) -> bool {
        shows_durable(self.context.as_deref(), &self.durable_locals, expr)
    }

    /// Wraps `expr` (an awaited expression) in the probe unless it shows durable.
    fn probe(&mut self, expr: &mut Expr) {
        if self.shows_durable(expr) {
            return;
        }
        self.probed.push(compact(&expr.to_token_stream()));
        let span = expr.span();
        let inner = std::mem::replace(expr, Expr::Verbatim(TokenStream::new()));
        // The path is respanned too, so the compiler's "required by a bound introduced by
        // this call" points at the await, not at the attribute.
        let krate = respan(self.krate.to_token_stream(), span);
        *expr = Expr::Verbatim(quote_spanned! {span=>
            #krate::__private::durable_await(#inner)
        });
    }

    fn bind(&mut self, pat: &Pat, durable: bool) {
        let mut names = Vec::new();
        pat_names(pat, &mut names);
        for name in names {
            if durable {
                self.durable_locals.insert(name);
            } else {
                self.durable_locals.remove(&name);
            }
        }
    }

    /// Probes inside a macro's arguments when they are a comma list of expressions;
    /// `join!` / `try_join!` arguments are awaited by the macro, so they are probed.
    fn visit_macro_tokens(&mut self, mac: &mut syn::Macro) {
        let segments = path_segments(&mac.path);
        let Some(last) = segments.last() else {
            return;
        };
        if last == "macro_rules" || last == "select" || last == "select_biased" {
            return;
        }
        let Ok(mut args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
        else {
            return;
        };
        let before = self.probed.len();
        let joins = matches!(last.as_str(), "join" | "try_join");
        for arg in &mut args {
            self.visit_expr_mut(arg);
            if joins {
                self.probe(arg);
            }
        }
        if self.probed.len() != before {
            mac.tokens = args.into_token_stream();
        }
    }
}

fn respan(tokens: TokenStream, span: proc_macro2::Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            tree.set_span(span);
            tree
        })
        .collect()
}

/// The names a pattern binds.
pub(super) fn pat_names(pat: &Pat, names: &mut Vec<String>) {
    match pat {
        Pat::Ident(ident) => {
            names.push(ident.ident.to_string());
            if let Some((_, sub)) = &ident.subpat {
                pat_names(sub, names);
            }
        }
        Pat::Type(typed) => pat_names(&typed.pat, names),
        Pat::Reference(reference) => pat_names(&reference.pat, names),
        Pat::Tuple(tuple) => tuple.elems.iter().for_each(|p| pat_names(p, names)),
        Pat::TupleStruct(tuple) => tuple.elems.iter().for_each(|p| pat_names(p, names)),
        Pat::Slice(slice) => slice.elems.iter().for_each(|p| pat_names(p, names)),
        Pat::Paren(paren) => pat_names(&paren.pat, names),
        Pat::Or(or) => or.cases.iter().for_each(|p| pat_names(p, names)),
        Pat::Struct(fields) => fields
            .fields
            .iter()
            .for_each(|field| pat_names(&field.pat, names)),
        _ => {}
    }
}

impl VisitMut for Probe<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if let Expr::Await(node) = expr {
            self.visit_expr_mut(&mut node.base);
            self.probe(&mut node.base);
            return;
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_local_mut(&mut self, node: &mut syn::Local) {
        // Judged before the rewrite: a probe inside the initialiser changes nothing here.
        let durable = node
            .init
            .as_ref()
            .is_some_and(|init| self.shows_durable(&init.expr));
        visit_mut::visit_local_mut(self, node);
        self.bind(&node.pat, durable);
    }

    fn visit_expr_for_loop_mut(&mut self, node: &mut syn::ExprForLoop) {
        let durable = self.shows_durable(&node.expr);
        self.visit_expr_mut(&mut node.expr);
        self.bind(&node.pat, durable);
        self.visit_block_mut(&mut node.body);
    }

    fn visit_macro_mut(&mut self, node: &mut syn::Macro) {
        self.visit_macro_tokens(node);
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}
