//! The determinism lints of `#[orchestrator]`: a syntactic walker over the body, plus type
//! probes it leaves in the body for the compiler to resolve.
//!
//! Error policy: every finding is recorded in the [`Ctxt`] (spanned on the offending
//! tokens, naming the rule and the deterministic replacement), so all of a function's
//! violations show in one compile. `hash_iteration` is a warning, emitted through the
//! `#[deprecated]` trick (the only way for a proc macro to warn on stable Rust), and only
//! where the iteration's order reaches a durable call; `#![deny(deprecated)]` makes it an
//! error.
//!
//! What each layer sees:
//! - the walker (this module, `scope.rs`, `flow.rs`, `syntax.rs`, `tokens.rs`): paths
//!   after resolving the body's own imports (renames, groups, globs, `use` inside blocks)
//!   and qualified-self paths
//!   (`<SystemTime>::now()`); method calls (`.elapsed()`, `.spawn(..)`, `.par_iter()`,
//!   atomics and `thread_local!` keys read through a `SCREAMING_CASE` static); macro
//!   arguments, parsed as expressions when they are and scanned as tokens when they are not
//!   (`vec![x; n]`, `json!({..})`, `info!(at = ?x)`), and the bodies of `macro_rules!`
//!   defined in the orchestrator and called there; statics, `thread_local!`, `lazy_static!`;
//!   loops that cannot end (`loop` without a reachable way out, `while true`, a `while`
//!   whose condition the body never changes, `for _ in 0..` / `0..u64::MAX`); lazy-static
//!   derefs (`*FLAG`), awaits on a static client, addresses (`{:p}`, `as_ptr() as usize`);
//!   hash order carried into a `Vec` or iterator local (`collect`, `extend`, `push` in a
//!   `for`, `let it = map.iter()`) and visited in place (`.retain(..)`);
//! - the type probes (`probe.rs`): whether an iterated expression whose order reaches a
//!   durable call is a `HashMap`/`HashSet` or one of their iterators, by type;
//! - nothing here sees code outside the body (helper functions, module-level `use`
//!   aliases): the documented `clippy.toml` companion and the replay engine's
//!   non-determinism check cover those.

mod awaits;
mod expand;
mod flow;
mod probe;
mod rules;
mod scope;
mod syntax;
mod tokens;

use std::collections::{HashMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Expr, Pat, Token};

pub(crate) use rules::Rule;

use self::flow::LoopScan;
use self::rules::Matched;
use self::scope::Scope;
use self::syntax::{
    builds_hash_collection, chain_root, compact, formats_pointer, hash_type, is_screaming_case,
    iterated_place, iterating_call, makes_pointer, mentions, obviously_ordered, ordered_source,
    path_segments, peel, place_text, root_span,
};
use crate::ctxt::Ctxt;

/// Checks `func`'s body, reporting every violation not in `allow`; leaves type probes in
/// the body and returns the tokens that make the walker's warnings appear.
pub(crate) fn check(
    cx: &Ctxt,
    func: &mut syn::ItemFn,
    context: Option<&syn::Ident>,
    allow: &[Rule],
    krate: &syn::Path,
) -> TokenStream {
    check_body(cx, &func.sig.inputs, &mut func.block, context, allow, krate).warnings
}

/// What [`check_body`] found besides the errors it recorded.
pub(crate) struct Checked {
    /// Tokens that make the walker's `hash_iteration` warnings appear.
    pub(crate) warnings: TokenStream,
    /// The root of each expression wrapped in a type probe (`prices`, `batch.recipients`).
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "read by the unit tests and the figure")
    )]
    pub(crate) probed: Vec<String>,
    /// Each awaited expression given the `non_durable_await` probe (`client.get(url).send()`).
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "read by the unit tests and the figure")
    )]
    pub(crate) awaited: Vec<String>,
}

/// [`check`] on a body and the function's parameters.
pub(crate) fn check_body(
    cx: &Ctxt,
    inputs: &Punctuated<syn::FnArg, Token![,]>,
    block: &mut syn::Block,
    context: Option<&syn::Ident>,
    allow: &[Rule],
    krate: &syn::Path,
) -> Checked {
    let params = inputs.iter().filter_map(|input| match input {
        syn::FnArg::Typed(typed) => Some(&*typed.pat),
        syn::FnArg::Receiver(_) => None,
    });
    let mut scope = Scope::of(block, params);
    if let Some(context) = context {
        scope.locals.insert(context.to_string());
    }
    let mut walker = Walker {
        cx,
        allow,
        context: context.map(ToString::to_string),
        scope: &scope,
        unsafe_depth: 0,
        hash_locals: HashSet::new(),
        ordered_from_hash: HashMap::new(),
        flagged_locals: HashMap::new(),
        hash_sites: HashSet::new(),
        probes: HashMap::new(),
        in_place_probes: HashSet::new(),
        scanned_macros: HashSet::new(),
        seeded_locals: HashSet::new(),
        static_locals: HashMap::new(),
        endless_locals: HashSet::new(),
        struct_locals: HashMap::new(),
        expanding: 0,
        reported: HashSet::new(),
        durable_ahead: false,
        warnings: Vec::new(),
    };
    for input in inputs {
        if let syn::FnArg::Typed(typed) = input
            && let Pat::Ident(ident) = &*typed.pat
            && hash_type(&typed.ty)
        {
            walker.hash_locals.insert(ident.ident.to_string());
        }
    }
    flow::with_bool_consts(scope.bool_consts.clone(), || walker.visit_block(block));
    let warnings = walker.warning_tokens();
    let probes = std::mem::take(&mut walker.probes);
    let probed = if probes.is_empty() {
        Vec::new()
    } else {
        probe::insert(
            block,
            &probes,
            &walker.in_place_probes,
            &Rule::HashIteration.message("", None, None),
        )
    };
    // After the hash probes: they find their sites by address in the unchanged tree.
    let awaited = if allow.contains(&Rule::NonDurableAwait) {
        Vec::new()
    } else {
        awaits::insert(block, context, krate)
    };
    Checked {
        warnings,
        probed,
        awaited,
    }
}

/// Where a local's hash-ordered contents came from (`let keys: Vec<_> = map.keys().collect()`).
#[derive(Clone)]
struct Origin {
    /// The address of the iterating expression (`map.keys()`) in the body.
    address: usize,
    span: Span,
    root: String,
    /// The root is a known `HashMap`/`HashSet` local or parameter.
    known: bool,
    /// The local was sorted by a key that reads only the entries' values: what is left of
    /// the map's order is the order of ties.
    tied: bool,
}

struct Walker<'a> {
    cx: &'a Ctxt,
    allow: &'a [Rule],
    /// The context parameter's name: method calls on it are durable calls.
    context: Option<String>,
    scope: &'a Scope,
    unsafe_depth: usize,
    /// Locals and parameters known to be a `HashMap`/`HashSet`.
    hash_locals: HashSet<String>,
    /// Locals holding what an iteration produced, in its order, not yet sorted.
    ordered_from_hash: HashMap<String, Origin>,
    /// Locals whose initialiser broke a rule, already reported (`let t = Instant::now()`):
    /// a method rule of the same rule on them (`t.elapsed()`) is not reported again.
    flagged_locals: HashMap<String, Rule>,
    /// Iterated expressions already judged, by address.
    hash_sites: HashSet<usize>,
    /// Expressions to wrap in a type probe, by address: the span for the warning and the
    /// root's text.
    probes: HashMap<usize, (Span, String)>,
    /// Probed places changed in place by the method called on them (`set.retain(..)`), by
    /// address: their probe borrows them mutably.
    in_place_probes: HashSet<usize>,
    /// Local `macro_rules!` whose bodies were scanned.
    scanned_macros: HashSet<String>,
    /// Locals holding a generator made from a seed (`StdRng::seed_from_u64(seed)`): random
    /// methods on them, or handed them, repeat on replay.
    seeded_locals: HashSet<String>,
    /// Locals bound to an endless iterator or stream (`let mut delays = iter::repeat_with(..)`).
    endless_locals: HashSet<String>,
    /// Locals holding a value of a struct the body declares (`let ledger = Ledger { .. }`),
    /// by the struct's name: its methods that hand out a hash field are hash iterations.
    struct_locals: HashMap<String, String>,
    /// How many expansions of the body's `macro_rules!` are being walked: their nodes are
    /// not in the body's tree, so no type probe can be left on them.
    expanding: usize,
    /// Errors reported from `macro_rules!` expansions, by span and message (a macro's tokens
    /// expand once per call).
    reported: HashSet<(String, String)>,
    /// Locals bound to a value taken from a static declared outside the body
    /// (`let client = HTTP.clone()`), by the static's name.
    static_locals: HashMap<String, String>,
    /// The statement being walked, or one after it in an enclosing block, makes a durable
    /// call: an element picked by hash order here can reach it.
    durable_ahead: bool,
    warnings: Vec<(Span, String)>,
}

impl Walker<'_> {
    fn report<T: ToTokens>(&mut self, rule: Rule, tokens: T, message: String) {
        if self.allow.contains(&rule) {
            return;
        }
        let span = tokens.span();
        // A macro's tokens are walked once per call that expands them: report them once.
        if self.expanding > 0 && !self.reported.insert((format!("{span:?}"), message.clone())) {
            return;
        }
        if rule == Rule::HashIteration {
            self.warnings.push((span, message));
        } else {
            self.cx.error_spanned_by(tokens, message);
        }
    }

    fn report_match<T: ToTokens>(
        &mut self,
        matched: &Matched,
        tokens: T,
        what: &str,
        resolved: Option<&str>,
    ) {
        let message = matched.rule.message(what, resolved, matched.note);
        self.report(matched.rule, tokens, message);
    }

    /// The segments `path` stands for, with the body's imports applied, and whether an
    /// import changed them.
    fn resolve(&self, qself: Option<&syn::QSelf>, path: &syn::Path) -> (Vec<String>, bool) {
        let mut segments = path_segments(path);
        if let Some(qself) = qself {
            if let syn::Type::Path(ty) = &*qself.ty
                && ty.qself.is_none()
            {
                let mut full = path_segments(&ty.path);
                full.extend(segments.drain(qself.position.min(segments.len())..));
                segments = full;
            } else {
                return (segments, false);
            }
        }
        if path.leading_colon.is_none()
            && let Some(resolved) = self.scope.resolve(&segments)
        {
            return (resolved, true);
        }
        (segments, false)
    }

    /// How a path is written, for messages: `SystemTime::now`, `<SystemTime>::now`.
    fn written(qself: Option<&syn::QSelf>, path: &syn::Path) -> String {
        let segments = path_segments(path);
        match qself {
            Some(qself) => {
                let ty = compact(&qself.ty.to_token_stream());
                format!(
                    "<{ty}>::{}",
                    segments[qself.position.min(segments.len())..].join("::")
                )
            }
            None => segments.join("::"),
        }
    }

    /// Reports `path` if it breaks a rule; true when it did.
    fn check_path<T: ToTokens>(
        &mut self,
        qself: Option<&syn::QSelf>,
        path: &syn::Path,
        tokens: T,
    ) -> bool {
        let (segments, imported) = self.resolve(qself, path);
        let Some(matched) = rules::match_path(&segments) else {
            return false;
        };
        let written = Self::written(qself, path);
        let resolved = segments.join("::");
        let resolved = (imported || qself.is_some()) && resolved != written;
        self.report_match(
            &matched,
            tokens,
            &written,
            resolved.then_some(segments.join("::")).as_deref(),
        );
        true
    }

    /// The rule the method chain or call `expr` already broke, for [`Self::flagged_locals`].
    fn chain_rule(&self, expr: &Expr) -> Option<Rule> {
        match expr {
            Expr::Call(call) => match &*call.func {
                Expr::Path(path) => {
                    let (segments, _) = self.resolve(path.qself.as_ref(), &path.path);
                    rules::match_path(&segments).map(|m| m.rule)
                }
                _ => None,
            },
            Expr::Path(path) => {
                let (segments, _) = self.resolve(path.qself.as_ref(), &path.path);
                rules::match_path(&segments).map(|m| m.rule)
            }
            Expr::MethodCall(call) => {
                rules::match_method_call(&call.method.to_string(), Some(call.args.len()))
                    .map(|m| m.rule)
                    .or_else(|| self.chain_rule(&call.receiver))
            }
            Expr::Try(inner) => self.chain_rule(&inner.expr),
            Expr::Await(inner) => self.chain_rule(&inner.base),
            Expr::Paren(inner) => self.chain_rule(&inner.expr),
            Expr::Field(inner) => self.chain_rule(&inner.base),
            _ => None,
        }
    }

    /// Whether `ty` is an interior-mutable type under a name the body's imports give it
    /// (`use std::sync::atomic::AtomicU32 as Counter; static SEQ: Counter = ..`).
    fn aliased_interior_mutable(&self, ty: &syn::Type) -> bool {
        let syn::Type::Path(path) = ty else {
            return false;
        };
        path.qself.is_none()
            && self
                .scope
                .resolve_explicit(&path_segments(&path.path))
                .and_then(|resolved| resolved.last().cloned())
                .is_some_and(|last| rules::interior_mutable(&last))
    }

    /// A `SCREAMING_CASE` name that may be a static declared outside the body (not a
    /// `const` or a static the body declares).
    fn outside_static(&self, expr: &Expr) -> Option<String> {
        let Expr::Path(path) = peel(expr) else {
            return None;
        };
        if path.qself.is_some() {
            return None;
        }
        if let Some(ident) = path.path.get_ident() {
            let name = ident.to_string();
            return self.outside_static_name(&name).then_some(name);
        }
        // `crate::state::RESERVED`, `super::POOL`: a static reached through a module path
        // (every segment before it a lower-case module, not a type such as `u64::MAX`'s).
        let segments = path_segments(&path.path);
        let (name, modules) = segments.split_last()?;
        let modules_only = modules.iter().all(|m| {
            m.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && !syntax::PRIMITIVES.contains(&m.as_str())
        });
        (modules_only && is_screaming_case(name)).then(|| segments.join("::"))
    }

    fn outside_static_name(&self, name: &str) -> bool {
        is_screaming_case(name)
            && !self.scope.consts.contains(name)
            && !self.scope.statics.contains(name)
            && !self.scope.static_muts.contains(name)
    }

    /// Judges an iteration whose order reaches a durable call: a warning when the walker
    /// knows the collection is a hash one, a type probe when it cannot tell.
    fn hash_site(&mut self, expr: &Expr) {
        self.hash_site_at(expr, true);
    }

    /// [`Self::hash_site`]; `own_probe` false when `expr` is a place used in place (a method
    /// receiver, `keys[0]`): wrapping it in a probe would move it, so only its origin is
    /// probed.
    fn hash_site_at(&mut self, expr: &Expr, own_probe: bool) {
        if obviously_ordered(expr) {
            return;
        }
        if let Some(what) = self.hash_method_call(expr) {
            let address = std::ptr::from_ref::<Expr>(expr) as usize;
            if !self.allow.contains(&Rule::HashIteration) && self.hash_sites.insert(address) {
                let message = Rule::HashIteration.message(&what, None, None);
                self.warnings.push((root_span(expr), message));
            }
            return;
        }
        // `map.iter().filter(..)`, `m.keys().enumerate()`: the iterating call is what has a
        // hash iterator's type.
        let expr = iterating_call(expr).unwrap_or(expr);
        let address = std::ptr::from_ref::<Expr>(expr) as usize;
        if self.allow.contains(&Rule::HashIteration) || !self.hash_sites.insert(address) {
            return;
        }
        let place = iterated_place(expr);
        if let Some(place) = &place {
            if self.hash_locals.contains(place) {
                let message = Rule::HashIteration.message(place, None, None);
                self.warnings.push((root_span(expr), message));
                return;
            }
            if let Some(origin) = self.ordered_from_hash.get(place).cloned() {
                if origin.known {
                    let note = origin.tied.then_some(TIED);
                    let message = Rule::HashIteration.message(&origin.root, None, note);
                    self.warnings.push((origin.span, message));
                } else if self.expanding == 0 {
                    self.probes
                        .insert(origin.address, (origin.span, origin.root));
                    // The origin may be wrong (`items.iter().fold(HashMap::new(), ..)`):
                    // the local's own type is probed too.
                    if own_probe {
                        self.probes
                            .insert(address, (root_span(expr), place.clone()));
                    }
                }
                return;
            }
        }
        if self.expanding > 0 {
            return;
        }
        let root = place.unwrap_or_else(|| expr.to_token_stream().to_string());
        let span = root_span(expr);
        self.probes.insert(address, (span, root));
    }

    /// The call in the method chain `expr` of a method that hands out a hash field of a
    /// struct the body declares, on a local of that struct (`ledger.owed()` in
    /// `ledger.owed().map(..)`), unless the chain sorts after it; as written, for messages.
    fn hash_method_call(&self, expr: &Expr) -> Option<String> {
        let mut current = expr;
        loop {
            current = match current {
                Expr::MethodCall(call) => {
                    let method = call.method.to_string();
                    if method.starts_with("sorted")
                        || (method == "collect"
                            && call.turbofish.as_ref().is_some_and(|t| {
                                mentions(
                                    t.to_token_stream(),
                                    &["BTreeMap", "BTreeSet", "BinaryHeap"],
                                )
                            }))
                    {
                        return None;
                    }
                    if let Some(place) = place_text(&call.receiver)
                        && let Some(ty) = self.struct_locals.get(&place)
                        && self
                            .scope
                            .hash_methods
                            .get(ty)
                            .is_some_and(|m| m.contains(&method))
                    {
                        return Some(format!("{place}.{method}()"));
                    }
                    &call.receiver
                }
                Expr::Paren(inner) => &inner.expr,
                Expr::Reference(inner) => &inner.expr,
                Expr::Try(inner) => &inner.expr,
                _ => return None,
            };
        }
    }

    /// Whether iterating `expr` never ends by itself (see [`flow::endless`]), with the
    /// body's imports resolved.
    fn endless(&self, expr: &Expr) -> bool {
        let scope = self.scope;
        let resolve = |path: &syn::Path| {
            let segments = path_segments(path);
            scope.resolve(&segments).unwrap_or(segments)
        };
        flow::endless(expr, &resolve)
    }

    fn makes_durable_call_expr(&self, expr: &Expr) -> bool {
        flow::makes_durable_call(self.context.as_deref(), expr, |scan, node| {
            scan.visit_expr(node)
        })
    }

    /// Handles a macro called `segments`: `select!`, `thread_local!`, a local `macro_rules!`.
    /// Returns true when its arguments need no further look.
    fn check_macro_name(&mut self, segments: &[String], path: &TokenStream) -> bool {
        let Some(last) = segments.last() else {
            return true;
        };
        if last == "select" {
            let message = Rule::Select.message(&format!("{}!", segments.join("::")), None, None);
            self.report(Rule::Select, path, message);
            return true;
        }
        if last == "macro_rules" {
            return true;
        }
        // `duct::cmd!`, `xshell::cmd!`, `use duct::cmd; cmd!(..)`: whatever the crate, a
        // `cmd!` macro builds a process to run.
        if last == "cmd" {
            let matched = rules::Matched {
                rule: Rule::Io,
                note: rules::PROCESS,
            };
            self.report_match(&matched, path, &format!("{}!", segments.join("::")), None);
            return true;
        }
        if rules::GLOBAL_STATE_MACROS.contains(&last.as_str()) {
            let message = Rule::GlobalState.message(&format!("{last}!"), None, None);
            self.report(Rule::GlobalState, path, message);
            return true;
        }
        // A qualified or imported macro path is matched like any path (`nanoid::nanoid!()`,
        // `use nanoid::nanoid; nanoid!(10)`); a bare name is left to the local macros.
        // A path that matches as written is taken as written: `use nanoid::nanoid` names
        // the macro, not the crate in `nanoid::nanoid!()`.
        let resolved = if segments.len() >= 2 && rules::match_path(segments).is_some() {
            None
        } else {
            self.scope.resolve_explicit(segments)
        };
        let full = resolved.as_deref().unwrap_or(segments);
        if full.len() >= 2
            && let Some(matched) = rules::match_path(full)
        {
            let written = format!("{}!", segments.join("::"));
            let resolved = resolved.map(|r| format!("{}!", r.join("::")));
            self.report_match(&matched, path, &written, resolved.as_deref());
            return true;
        }
        if segments.len() == 1
            && let Some(body) = self.scope.macros.get(last)
            && self.scanned_macros.insert(last.clone())
        {
            self.scan_tokens(body.clone());
        }
        false
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
    fn visit_block(&mut self, node: &'ast syn::Block) {
        let outer = self.durable_ahead;
        let context = self.context.clone();
        let mut ahead = vec![outer; node.stmts.len()];
        let mut later = outer;
        for (i, stmt) in node.stmts.iter().enumerate().rev() {
            later = later
                || flow::makes_durable_call(context.as_deref(), stmt, |scan, stmt| {
                    scan.visit_stmt(stmt);
                });
            ahead[i] = later;
        }
        for (stmt, ahead) in node.stmts.iter().zip(ahead) {
            self.durable_ahead = ahead;
            self.visit_stmt(stmt);
        }
        self.durable_ahead = outer;
    }

    /// `keys[0]` on keys collected from a hash iteration, unsorted.
    fn visit_expr_index(&mut self, node: &'ast syn::ExprIndex) {
        if self.durable_ahead
            && let Some(place) = place_text(&node.expr)
            && self.ordered_from_hash.contains_key(&place)
        {
            self.hash_site_at(&node.expr, false);
        }
        visit::visit_expr_index(self, node);
    }

    fn visit_expr_path(&mut self, node: &'ast syn::ExprPath) {
        if !self.check_path(node.qself.as_ref(), &node.path, node)
            && let Some(name) = node.path.get_ident().map(ToString::to_string)
            && self.scope.static_muts.contains(&name)
        {
            let message = Rule::StaticMut.message(&name, None, None);
            self.report(Rule::StaticMut, &node.path, message);
        }
        visit::visit_expr_path(self, node);
    }

    fn visit_macro(&mut self, node: &'ast syn::Macro) {
        let segments = path_segments(&node.path);
        // A `macro_rules!` of the body: what this call expands to is walked like the body
        // (the names it binds are the macro's own, and forgotten after it).
        if let [name] = segments.as_slice()
            && self.expanding < 8
            && let Some(rules) = self.scope.macros.get(name)
            && let Some(stmts) = expand::expand(rules, &node.tokens)
        {
            let block = syn::Block {
                brace_token: syn::token::Brace::default(),
                stmts,
            };
            let saved = (
                self.hash_locals.clone(),
                self.ordered_from_hash.clone(),
                self.struct_locals.clone(),
            );
            self.expanding += 1;
            self.visit_block(&block);
            self.expanding -= 1;
            (self.hash_locals, self.ordered_from_hash, self.struct_locals) = saved;
            return;
        }
        if self.check_macro_name(&segments, &node.path.to_token_stream()) {
            return;
        }
        self.pointer_formatted(node);
        if let Ok(args) = node.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            for arg in &args {
                self.visit_expr(arg);
            }
        } else if let Ok((value, count)) =
            node.parse_body_with(|input: syn::parse::ParseStream<'_>| {
                let value: Expr = input.parse()?;
                input.parse::<Token![;]>()?;
                let count: Expr = input.parse()?;
                Ok((value, count))
            })
        {
            self.visit_expr(&value);
            self.visit_expr(&count);
        } else {
            self.scan_tokens(node.tokens.clone());
        }
    }

    fn visit_item_macro(&mut self, node: &'ast syn::ItemMacro) {
        // `macro_rules!` bodies are scanned where the macro is called.
        if node.mac.path.is_ident("macro_rules") {
            return;
        }
        visit::visit_item_macro(self, node);
    }

    fn visit_item_static(&mut self, node: &'ast syn::ItemStatic) {
        let ident = &node.ident;
        match &node.mutability {
            syn::StaticMutability::Mut(mutability) => {
                let message = Rule::StaticMut.message(&format!("static mut {ident}"), None, None);
                self.report(Rule::StaticMut, quote!(#mutability #ident), message);
            }
            _ if scope::interior_mutable_type(&node.ty)
                || self.aliased_interior_mutable(&node.ty) =>
            {
                let ty = compact(&node.ty.to_token_stream());
                let message =
                    Rule::GlobalState.message(&format!("static {ident}: {ty}"), None, None);
                self.report(Rule::GlobalState, ident, message);
            }
            _ => {}
        }
        visit::visit_item_static(self, node);
    }

    /// An address turned into a number (`addr_of!(x) as usize`, `ptr as usize`) differs
    /// between processes.
    fn visit_expr_cast(&mut self, node: &'ast syn::ExprCast) {
        let to_integer = matches!(&*node.ty, syn::Type::Path(ty) if ty.path.get_ident().is_some_and(|i| {
            matches!(i.to_string().as_str(), "usize" | "isize" | "u64" | "i64" | "u128" | "i128" | "u32")
        }));
        if to_integer && makes_pointer(&node.expr) {
            let what = compact(&node.to_token_stream());
            let message = Rule::Randomness.message(&what, None, rules::ADDRESS);
            self.report(Rule::Randomness, node, message);
        }
        visit::visit_expr_cast(self, node);
    }

    /// `*CONFIG`, `&*FLAGS`: the value of a lazy static (`lazy_static!`, `Lazy`, `LazyLock`).
    fn visit_expr_unary(&mut self, node: &'ast syn::ExprUnary) {
        if matches!(node.op, syn::UnOp::Deref(_))
            && let Some(name) = self.outside_static(&node.expr)
        {
            let message = Rule::GlobalState.message(&format!("*{name}"), None, None);
            self.report(Rule::GlobalState, node, message);
        }
        visit::visit_expr_unary(self, node);
    }

    /// Awaiting a call on a static (or on a local taken from one): a shared client, pool or
    /// connection doing I/O (`HTTP.post(url).send().await`, `POOL.get().await`).
    fn visit_expr_await(&mut self, node: &'ast syn::ExprAwait) {
        // `stream::iter(0u64..).then(|p| ctx.call_activity(..)).try_collect().await`: a
        // stream over an endless iterator, consumed whole.
        if let Expr::MethodCall(call) = peel(&node.base)
            && rules::CONSUMING_STREAM_METHODS.contains(&call.method.to_string().as_str())
            && self.endless(&call.receiver)
            && self.makes_durable_call_expr(&node.base)
        {
            let message = Rule::UnboundedLoop.message("stream", None, Some("the stream runs over an endless iterator (an open range, `repeat`) and is consumed whole, so its durable calls never end and grow the history without bound"));
            self.report(Rule::UnboundedLoop, &call.method, message);
        }
        if let Some(name) = self.static_root(&node.base) {
            let written = compact(&node.base.to_token_stream());
            let what = if written.len() > 40 {
                match syntax::first_method(&node.base) {
                    Some(method) => format!("{name}.{method}(..)..await"),
                    None => format!("{name}..await"),
                }
            } else {
                format!("{written}.await")
            };
            let message = Rule::Io.message(&what, None, Some("awaiting a call on a static (a shared client, pool or connection) is I/O the history does not record, so it runs again on every replay and may see something else"));
            let (base, dot, await_token) = (&node.base, &node.dot_token, &node.await_token);
            self.report(Rule::Io, quote!(#base #dot #await_token), message);
        }
        visit::visit_expr_await(self, node);
    }

    fn visit_expr_unsafe(&mut self, node: &'ast syn::ExprUnsafe) {
        self.unsafe_depth += 1;
        visit::visit_expr_unsafe(self, node);
        self.unsafe_depth -= 1;
    }

    fn visit_expr_assign(&mut self, node: &'ast syn::ExprAssign) {
        self.written_static(&node.left);
        visit::visit_expr_assign(self, node);
    }

    fn visit_expr_binary(&mut self, node: &'ast syn::ExprBinary) {
        use syn::BinOp::{
            AddAssign, BitAndAssign, BitOrAssign, BitXorAssign, DivAssign, MulAssign, RemAssign,
            ShlAssign, ShrAssign, SubAssign,
        };
        if matches!(
            node.op,
            AddAssign(_)
                | SubAssign(_)
                | MulAssign(_)
                | DivAssign(_)
                | RemAssign(_)
                | BitXorAssign(_)
                | BitAndAssign(_)
                | BitOrAssign(_)
                | ShlAssign(_)
                | ShrAssign(_)
        ) {
            self.written_static(&node.left);
        }
        visit::visit_expr_binary(self, node);
    }

    fn visit_expr_reference(&mut self, node: &'ast syn::ExprReference) {
        if node.mutability.is_some() {
            self.written_static(&node.expr);
        }
        visit::visit_expr_reference(self, node);
    }

    fn visit_expr_loop(&mut self, node: &'ast syn::ExprLoop) {
        if LoopScan::never_ends(node.label.as_ref(), self.context.as_deref(), &node.body) {
            let message = Rule::UnboundedLoop.message("loop", None, None);
            self.report(Rule::UnboundedLoop, node.loop_token, message);
        }
        visit::visit_expr_loop(self, node);
    }

    fn visit_expr_while(&mut self, node: &'ast syn::ExprWhile) {
        // `while let Some(d) = delays.next()` over an endless iterator or stream.
        let endless_source = match &*node.cond {
            Expr::Let(binding) => match peel_await(&binding.expr) {
                Expr::MethodCall(call) if call.method == "next" || call.method == "try_next" => {
                    self.endless(&call.receiver)
                        || place_text(&call.receiver)
                            .is_some_and(|place| self.endless_locals.contains(&place))
                }
                _ => false,
            },
            _ => false,
        };
        let note = if flow::literal_bool(&node.cond) == Some(true) {
            Some(None)
        } else if endless_source {
            Some(Some(
                "the loop takes items from an endless iterator or stream (`iter::repeat_with`, an open range), so a loop that makes durable calls never ends and grows the history without bound",
            ))
        } else if flow::unchanging_condition(&node.cond, &node.body) {
            Some(Some(
                "the loop's condition reads only variables its body never changes, so once it runs, a loop that makes durable calls never ends and grows the history without bound",
            ))
        } else {
            None
        };
        if let Some(note) = note
            && LoopScan::never_ends(node.label.as_ref(), self.context.as_deref(), &node.body)
        {
            let message = Rule::UnboundedLoop.message("while", None, note);
            let (while_token, cond) = (&node.while_token, &node.cond);
            self.report(Rule::UnboundedLoop, quote!(#while_token #cond), message);
        }
        visit::visit_expr_while(self, node);
    }

    fn visit_local(&mut self, node: &'ast syn::Local) {
        let (name, annotated, ordered) = match &node.pat {
            Pat::Ident(ident) => (Some(ident.ident.to_string()), false, false),
            Pat::Type(typed) => match &*typed.pat {
                Pat::Ident(ident) => (
                    Some(ident.ident.to_string()),
                    hash_type(&typed.ty),
                    mentions(
                        typed.ty.to_token_stream(),
                        &["BTreeMap", "BTreeSet", "BinaryHeap"],
                    ),
                ),
                _ => (None, false, false),
            },
            _ => (None, false, false),
        };
        if let Some(name) = name {
            let init = node.init.as_ref().map(|init| &*init.expr);
            let built = init.is_some_and(builds_hash_collection);
            if annotated || built {
                self.hash_locals.insert(name.clone());
            } else {
                self.hash_locals.remove(&name);
            }
            self.ordered_from_hash.remove(&name);
            self.flagged_locals.remove(&name);
            self.seeded_locals.remove(&name);
            self.static_locals.remove(&name);
            self.endless_locals.remove(&name);
            self.struct_locals.remove(&name);
            let typed = match &node.pat {
                Pat::Type(typed) => match &*typed.ty {
                    syn::Type::Path(ty) => ty.path.segments.last().map(|s| s.ident.to_string()),
                    _ => None,
                },
                _ => None,
            };
            if let Some(ty) = typed.or_else(|| init.and_then(syntax::constructed_type))
                && self.scope.hash_methods.contains_key(&ty)
            {
                self.struct_locals.insert(name.clone(), ty);
            }
            if let Some(init) = init
                && !self.makes_durable_call_expr(init)
                && let Some(what) = self.hash_method_call(init)
            {
                let origin = Origin {
                    address: std::ptr::from_ref::<Expr>(init) as usize,
                    span: root_span(init),
                    known: true,
                    tied: false,
                    root: what,
                };
                self.ordered_from_hash.insert(name.clone(), origin);
            }
            if let Some(init) = init {
                if self.endless(init) {
                    self.endless_locals.insert(name.clone());
                }
                if let Some(root) = self.static_root(init) {
                    self.static_locals.insert(name.clone(), root);
                }
                if syntax::calls_seeded_constructor(init) {
                    self.seeded_locals.insert(name.clone());
                }
                if let Some(rule) = self.chain_rule(init) {
                    self.flagged_locals.insert(name.clone(), rule);
                }
                // A hash collection built from an iteration does not keep its order (and
                // is judged as a hash collection where it is iterated).
                if !ordered
                    && !annotated
                    && !built
                    && let Some(call) = ordered_source(init)
                    && !self.makes_durable_call_expr(init)
                    && let Expr::MethodCall(_) = call
                    && let Some(root) = iterated_place(call)
                {
                    let origin = Origin {
                        address: std::ptr::from_ref::<Expr>(call) as usize,
                        span: root_span(call),
                        known: self.hash_locals.contains(&root),
                        tied: false,
                        root,
                    };
                    self.ordered_from_hash.insert(name, origin);
                }
            }
        } else {
            self.partitioned(node);
        }
        visit::visit_local(self, node);
    }

    fn visit_expr_for_loop(&mut self, node: &'ast syn::ExprForLoop) {
        if self.endless(&node.expr)
            && LoopScan::never_ends(node.label.as_ref(), self.context.as_deref(), &node.body)
        {
            let message = Rule::UnboundedLoop.message("for", None, None);
            let (for_token, iterated) = (&node.for_token, &node.expr);
            self.report(Rule::UnboundedLoop, quote!(#for_token #iterated), message);
        }
        if flow::makes_durable_call(self.context.as_deref(), &node.body, |scan, body| {
            scan.visit_block(body)
        }) {
            self.hash_site(&node.expr);
        } else if !obviously_ordered(&node.expr) {
            // `for k in map.keys() { keys.push(k) }`: `keys` keeps the iteration's order.
            let source = iterating_call(&node.expr).unwrap_or(&node.expr);
            for target in flow::appended_places(&node.body) {
                self.keeps_order_of(target, source);
            }
        }
        visit::visit_expr_for_loop(self, node);
    }

    /// A method called through its type (`SystemTime::elapsed(&t)`,
    /// `AtomicBool::load(&FLAG, order)`) is judged as the method call it stands for.
    fn visit_expr_call(&mut self, node: &'ast syn::ExprCall) {
        if let Expr::Path(path) = &*node.func
            && path.qself.is_none()
            && let [.., ty, method] = path_segments(&path.path).as_slice()
            && ty.starts_with(|c: char| c.is_ascii_uppercase())
        {
            let (segments, _) = self.resolve(None, &path.path);
            if rules::match_path(&segments).is_none()
                && let Some(matched) =
                    rules::match_method_call(method, Some(node.args.len().saturating_sub(1)))
            {
                self.report_match(&matched, &node.func, &format!("{ty}::{method}(..)"), None);
            }
            // `Cli::parse()` (clap's derive) reads the process's command-line arguments.
            if matches!(method.as_str(), "parse" | "try_parse") && node.args.is_empty() {
                let matched = rules::Matched {
                    rule: Rule::Env,
                    note: Some("it reads the process's command-line arguments"),
                };
                self.report_match(&matched, &node.func, &format!("{ty}::{method}()"), None);
            }
            if rules::GLOBAL_STATE_METHODS.contains(&method.as_str())
                && let Some(first) = node.args.first()
                && let Some(name) = self.outside_static(first)
            {
                let message =
                    Rule::GlobalState.message(&format!("{ty}::{method}(&{name}, ..)"), None, None);
                self.report(Rule::GlobalState, &node.func, message);
            }
        }
        visit::visit_expr_call(self, node);
    }

    fn visit_expr_method_call(&mut self, node: &'ast syn::ExprMethodCall) {
        let method = node.method.to_string();
        if let Some(matched) = rules::match_method_call(&method, Some(node.args.len())) {
            let receiver_flagged = place_text(&node.receiver)
                .and_then(|place| self.flagged_locals.get(&place).copied())
                == Some(matched.rule)
                || self.chain_rule(&node.receiver) == Some(matched.rule);
            let seeded = matched.rule == Rule::Randomness
                && std::iter::once(&*node.receiver)
                    .chain(node.args.iter())
                    .any(|e| place_text(e).is_some_and(|p| self.seeded_locals.contains(&p)));
            if !receiver_flagged && !seeded {
                let what = match place_text(&node.receiver) {
                    Some(place) => format!("{place}.{method}()"),
                    None => format!(".{method}()"),
                };
                self.report_match(&matched, &node.method, &what, None);
            }
        }
        // `set.hasher().hash_one(..)`, `map.hasher().build_hasher()`: a std map's hasher is
        // a `RandomState`, seeded per process.
        if matches!(method.as_str(), "hash_one" | "build_hasher")
            && let Expr::MethodCall(inner) = peel(&node.receiver)
            && inner.method == "hasher"
            && inner.args.is_empty()
        {
            let matched = rules::Matched {
                rule: Rule::Randomness,
                note: rules::HASH_SEED,
            };
            let what = match place_text(&inner.receiver) {
                Some(place) => format!("{place}.hasher().{method}(..)"),
                None => format!(".hasher().{method}(..)"),
            };
            self.report_match(&matched, &node.method, &what, None);
        }
        // A path's `.metadata()` asks the file system (other types' `metadata()` do not).
        if method == "metadata"
            && node.args.is_empty()
            && let Expr::Call(call) = peel(&node.receiver)
            && let Expr::Path(path) = &*call.func
            && matches!(
                path_segments(&path.path).as_slice(),
                [.., ty, constructor] if (ty == "Path" && constructor == "new") || (ty == "PathBuf" && constructor == "from")
            )
        {
            let matched = rules::Matched {
                rule: Rule::Io,
                note: None,
            };
            self.report_match(&matched, &node.method, "Path::metadata()", None);
        }
        let global_read = rules::GLOBAL_STATE_METHODS.contains(&method.as_str())
            || (node.args.is_empty()
                && rules::GLOBAL_STATE_NULLARY_METHODS.contains(&method.as_str()))
            || (self.unsafe_depth == 0 && rules::GLOBAL_STATE_WRITES.contains(&method.as_str()));
        if global_read && let Some(name) = self.outside_static(&node.receiver) {
            let message = Rule::GlobalState.message(&format!("{name}.{method}(..)"), None, None);
            let (receiver, dot, ident) = (&node.receiver, &node.dot_token, &node.method);
            self.report(Rule::GlobalState, quote!(#receiver #dot #ident), message);
        } else if self.unsafe_depth > 0 && rules::MUTATING_METHODS.contains(&method.as_str()) {
            self.written_static(&node.receiver);
        }
        // A sort makes the order total, unless its key reads only the entries' values
        // (`v.sort_by_key(|(_, prio)| *prio)`): equal values keep the map's order.
        if method.starts_with("sort")
            && let Some(place) = place_text(&node.receiver)
        {
            let ties = rules::KEYED_SORTS.contains(&method.as_str())
                && node
                    .args
                    .first()
                    .is_some_and(|key| syntax::entry_key_use(key) == syntax::KeyUse::OnlyOthers);
            if !ties {
                self.ordered_from_hash.remove(&place);
            } else if let Some(origin) = self.ordered_from_hash.get_mut(&place) {
                origin.tied = true;
            }
        }
        self.picked_by_order(node, &method);
        self.appended_in_order(node, &method);
        if rules::IN_PLACE_VISITING_METHODS.contains(&method.as_str())
            && iterating_call(&node.receiver).is_none()
            && node
                .args
                .iter()
                .any(|arg| self.makes_durable_call_expr(arg))
        {
            self.hash_site(&node.receiver);
            // `pending.retain(..)` changes `pending` in place: its probe must borrow it, not
            // move it (`for_each` takes its receiver by value).
            if method != "for_each" && place_text(&node.receiver).is_some() {
                self.in_place_probes
                    .insert(std::ptr::from_ref::<Expr>(&node.receiver) as usize);
            }
        }
        if matches!(
            method.as_str(),
            "addr" | "expose_provenance" | "expose_addr" | "to_bits"
        ) && makes_pointer(&node.receiver)
        {
            let what = compact(&node.to_token_stream());
            let message = Rule::Randomness.message(&what, None, rules::ADDRESS);
            self.report(Rule::Randomness, node, message);
        }
        if node
            .args
            .iter()
            .any(|arg| self.makes_durable_call_expr(arg))
            && let Some(origin) = iterating_call(&node.receiver)
        {
            self.hash_site(origin);
        }
        visit::visit_expr_method_call(self, node);
    }
}

impl Walker<'_> {
    /// An element picked from a hash iteration by position or among ties
    /// (`map.keys().next()`, `.iter().max_by_key(..)`, `.find(..)`, `keys.first()` on keys
    /// collected unsorted), where a durable call follows: which element it is differs
    /// between processes, so the call that follows can differ on replay.
    fn picked_by_order(&mut self, node: &syn::ExprMethodCall, method: &str) {
        if !self.durable_ahead {
            return;
        }
        // `max_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0)))`: a comparator that breaks
        // ties by another key is a total order, so the pick does not depend on the order
        // of iteration (when the keys are unique, as a map's are).
        if matches!(method, "max_by" | "min_by")
            && node.args.first().is_some_and(|cmp| {
                let text = cmp.to_token_stream().to_string();
                text.contains("then_with") || text.contains(". then (")
            })
        {
            return;
        }
        // `max_by_key(|(k, v)| (**v, (*k).clone()))`: a key that reads the entry's (unique)
        // map key is a total order too.
        // (Only on the map's own entries: after a `.map(..)`, field `0` may be anything.)
        let entries = syntax::yields_entries(&node.receiver);
        if matches!(method, "max_by_key" | "min_by_key" | "max_by" | "min_by")
            && entries
            && node
                .args
                .first()
                .is_some_and(|key| syntax::entry_key_use(key) == syntax::KeyUse::Key)
        {
            return;
        }
        // `.reduce(|a, b| if b.1 < a.1 { b } else { a })` picks among ties like `min_by`.
        let picks = rules::PICKING_METHODS.contains(&method)
            || (method == "reduce"
                && node
                    .args
                    .first()
                    .is_some_and(|f| syntax::reduce_picks(f, entries)));
        if picks && let Some(origin) = self.hash_method_call(&node.receiver) {
            let message = Rule::HashIteration.message(&origin, None, None);
            self.warnings.push((root_span(&node.receiver), message));
        } else if picks && let Some(origin) = iterating_call(&node.receiver) {
            self.hash_site(origin);
        } else if picks
            && let Some(place) = place_text(&node.receiver)
            && self.ordered_from_hash.contains_key(&place)
        {
            // `let mut it = map.iter(); .. it.next()`
            self.hash_site_at(&node.receiver, false);
        } else if rules::VEC_PICKING_METHODS.contains(&method)
            && let Some(place) = place_text(&node.receiver)
            && self.ordered_from_hash.contains_key(&place)
        {
            self.hash_site_at(&node.receiver, false);
        }
    }

    /// `keys.extend(map.keys())`, `keys.append(&mut other)`: `keys` keeps the order of what
    /// is appended.
    fn appended_in_order(&mut self, node: &syn::ExprMethodCall, method: &str) {
        if !rules::APPENDING_METHODS.contains(&method) || method.starts_with("push") {
            return;
        }
        let Some(arg) = node.args.first() else {
            return;
        };
        if let Some(source) = ordered_source(arg) {
            if !self.makes_durable_call_expr(arg) {
                self.keeps_order_of(&node.receiver, source);
            }
        } else if let (Some(target), Some(from)) = (place_text(&node.receiver), place_text(arg))
            && let Some(origin) = self.ordered_from_hash.get(&from).cloned()
        {
            self.ordered_from_hash.insert(target, origin);
        }
    }

    /// `let (low, high): (Vec<_>, Vec<_>) = map.into_iter().partition(..)` (or `.unzip()`):
    /// each part keeps the map's order. Names the pattern binds lose what they held.
    fn partitioned(&mut self, node: &syn::Local) {
        let (pat, ty) = match &node.pat {
            Pat::Type(typed) => (&*typed.pat, Some(&*typed.ty)),
            other => (other, None),
        };
        let Pat::Tuple(tuple) = pat else {
            return;
        };
        let names: Vec<String> = tuple
            .elems
            .iter()
            .filter_map(|p| match p {
                Pat::Ident(ident) => Some(ident.ident.to_string()),
                _ => None,
            })
            .collect();
        for name in &names {
            self.ordered_from_hash.remove(name);
            self.hash_locals.remove(name);
        }
        let Some(init) = node.init.as_ref().map(|init| &*init.expr) else {
            return;
        };
        let splits = matches!(peel(init), Expr::MethodCall(call)
            if matches!(call.method.to_string().as_str(), "partition" | "unzip" | "partition_map" | "partition_result"));
        let ordered_parts = ty.is_some_and(|ty| {
            mentions(
                ty.to_token_stream(),
                &["BTreeMap", "BTreeSet", "BinaryHeap"],
            ) || hash_type(ty)
                || mentions(ty.to_token_stream(), rules::HASH_COLLECTIONS)
        });
        if !splits || ordered_parts || self.makes_durable_call_expr(init) {
            return;
        }
        let Some(call @ Expr::MethodCall(method_call)) = ordered_source(init) else {
            return;
        };
        let Some(root) = iterated_place(call) else {
            return;
        };
        let origin = Origin {
            address: std::ptr::from_ref::<Expr>(call) as usize,
            span: root_span(&method_call.receiver),
            known: self.hash_locals.contains(&root),
            tied: false,
            root,
        };
        for name in names {
            self.ordered_from_hash.insert(name, origin.clone());
        }
    }

    /// Records that the place `target` now holds elements in the order of iterating
    /// `source` (unless it already holds such an order).
    fn keeps_order_of(&mut self, target: &Expr, source: &Expr) {
        let Some(target) = place_text(target) else {
            return;
        };
        if self.ordered_from_hash.contains_key(&target) || self.hash_locals.contains(&target) {
            return;
        }
        let root = iterated_place(source).unwrap_or_else(|| compact(&source.to_token_stream()));
        let origin = Origin {
            address: std::ptr::from_ref::<Expr>(source) as usize,
            span: root_span(source),
            known: self.hash_locals.contains(&root),
            tied: false,
            root,
        };
        self.ordered_from_hash.insert(target, origin);
    }

    /// The static (declared outside the body) a method chain or field access starts from,
    /// directly or through a local taken from it.
    fn static_root(&self, expr: &Expr) -> Option<String> {
        let root = chain_root(expr);
        if std::ptr::eq(root, expr) {
            return None;
        }
        if let Some(name) = self.outside_static(root) {
            return Some(name);
        }
        let place = place_text(root)?;
        self.static_locals.get(&place).cloned()
    }

    /// A format string with a `{:p}` placeholder: the address it prints differs between
    /// processes.
    fn pointer_formatted(&mut self, node: &syn::Macro) {
        for tree in node.tokens.clone() {
            if let proc_macro2::TokenTree::Literal(literal) = &tree
                && let Ok(syn::Lit::Str(text)) = syn::parse2::<syn::Lit>(tree.clone().into())
                && formats_pointer(&text.value())
            {
                let what = format!(
                    "{}!(\"{}\", ..)",
                    path_segments(&node.path).join("::"),
                    text.value()
                );
                let message = Rule::Randomness.message(&what, None, Some("`{:p}` prints an address, which differs between processes (address-space layout randomisation) and between replays"));
                self.report(Rule::Randomness, literal, message);
            }
        }
    }

    /// Inside `unsafe`, a write to a `SCREAMING_CASE` name that is not a `const` is a write
    /// to a `static mut` (reads are left alone: a walker cannot tell them from constants).
    fn written_static(&mut self, place: &Expr) {
        if self.unsafe_depth == 0 {
            return;
        }
        if let Some(name) = self.outside_static(place) {
            let message = Rule::StaticMut.message(&name, None, None);
            self.report(Rule::StaticMut, peel(place), message);
        }
    }
}

/// The reason given for an iteration whose order a value-keyed sort left to ties.
const TIED: &str = "it was sorted by a key that reads only the entries' values, so entries with equal values keep the map's iteration order, which differs between processes, and the durable calls made in that order can differ on replay; sort by a total order (add the key: `|(k, v)| (*v, k.clone())`, or `.then_with(|| a.0.cmp(&b.0))`)";

/// `x.await` → `x`.
fn peel_await(expr: &Expr) -> &Expr {
    match expr {
        Expr::Await(inner) => &inner.base,
        Expr::Paren(inner) => peel_await(&inner.expr),
        _ => expr,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod figure;
