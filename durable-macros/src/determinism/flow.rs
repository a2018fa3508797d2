//! Control-flow questions the rules ask of a piece of the body: does it make a durable call,
//! can a loop end, is an iterator endless.

use syn::Expr;
use syn::visit::{self, Visit};

use super::rules;

thread_local! {
    /// The `const NAME: bool = <literal>;` items of the body being checked (set by
    /// [`with_bool_consts`]), which [`literal_bool`] reads as their value.
    static BOOL_CONSTS: std::cell::RefCell<std::collections::HashMap<String, bool>> =
        std::cell::RefCell::default();
}

/// Runs `check` with `consts` as the body's boolean constants.
pub(super) fn with_bool_consts<T>(
    consts: std::collections::HashMap<String, bool>,
    check: impl FnOnce() -> T,
) -> T {
    let outer = BOOL_CONSTS.replace(consts);
    let result = check();
    BOOL_CONSTS.set(outer);
    result
}

/// `Some(b)` for a condition that is the literal `b` (`true`, `!false`, `(true)`), or a
/// boolean `const` of the body whose value is one (`const STOP: bool = false;`).
pub(super) fn literal_bool(expr: &Expr) -> Option<bool> {
    match expr {
        Expr::Path(path) if path.qself.is_none() => {
            let name = path.path.get_ident()?.to_string();
            BOOL_CONSTS.with_borrow(|consts| consts.get(&name).copied())
        }
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Bool(value),
            ..
        }) => Some(value.value),
        Expr::Paren(paren) => literal_bool(&paren.expr),
        Expr::Group(group) => literal_bool(&group.expr),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Not(_),
            expr,
            ..
        }) => literal_bool(expr).map(|value| !value),
        // `u8::MAX > 0`, `1 == 1`: a comparison of constants.
        Expr::Binary(binary) if compares(&binary.op) => {
            let (left, right) = (const_int(&binary.left)?, const_int(&binary.right)?);
            Some(match binary.op {
                syn::BinOp::Lt(_) => left < right,
                syn::BinOp::Le(_) => left <= right,
                syn::BinOp::Gt(_) => left > right,
                syn::BinOp::Ge(_) => left >= right,
                syn::BinOp::Eq(_) => left == right,
                _ => left != right,
            })
        }
        // `x && false` is false and `x || true` is true whatever `x` is.
        Expr::Binary(binary) => {
            let (left, right) = (literal_bool(&binary.left), literal_bool(&binary.right));
            match binary.op {
                syn::BinOp::And(_) if left == Some(false) || right == Some(false) => Some(false),
                syn::BinOp::And(_) if left == Some(true) => right,
                syn::BinOp::And(_) if right == Some(true) => left,
                syn::BinOp::Or(_) if left == Some(true) || right == Some(true) => Some(true),
                syn::BinOp::Or(_) if left == Some(false) => right,
                syn::BinOp::Or(_) if right == Some(false) => left,
                _ => None,
            }
        }
        _ => None,
    }
}

fn compares(op: &syn::BinOp) -> bool {
    matches!(
        op,
        syn::BinOp::Lt(_)
            | syn::BinOp::Le(_)
            | syn::BinOp::Gt(_)
            | syn::BinOp::Ge(_)
            | syn::BinOp::Eq(_)
            | syn::BinOp::Ne(_)
    )
}

/// The value of an integer constant: a literal (`0`, `10u64`) or a primitive's `MAX` /
/// `MIN` (`u8::MAX`); `u128::MAX` does not fit and is not judged.
fn const_int(expr: &Expr) -> Option<i128> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) => int.base10_parse::<i128>().ok(),
        Expr::Paren(paren) => const_int(&paren.expr),
        Expr::Group(group) => const_int(&group.expr),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => const_int(expr).map(|value| -value),
        Expr::Path(path) if path.qself.is_none() && path.path.segments.len() == 2 => {
            let ty = path.path.segments[0].ident.to_string();
            let which = path.path.segments[1].ident.to_string();
            let (min, max): (i128, i128) = match ty.as_str() {
                "u8" => (0, u8::MAX.into()),
                "u16" => (0, u16::MAX.into()),
                "u32" => (0, u32::MAX.into()),
                "u64" | "usize" => (0, u64::MAX.into()),
                "i8" => (i8::MIN.into(), i8::MAX.into()),
                "i16" => (i16::MIN.into(), i16::MAX.into()),
                "i32" => (i32::MIN.into(), i32::MAX.into()),
                "i64" | "isize" => (i64::MIN.into(), i64::MAX.into()),
                "i128" => (i128::MIN, i128::MAX),
                _ => return None,
            };
            match which.as_str() {
                "MAX" => Some(max),
                "MIN" => Some(min),
                _ => None,
            }
        }
        _ => None,
    }
}

/// True when `closure` always returns `Some(..)`: the body, or its tail expression, is a
/// `Some(..)` call with no `?`, `return` or `None` in it.
fn always_some(closure: &Expr) -> bool {
    let Expr::Closure(closure) = closure else {
        return false;
    };
    let mut tail = &*closure.body;
    while let Expr::Block(block) = tail {
        match block.block.stmts.last() {
            Some(syn::Stmt::Expr(expr, None)) => tail = expr,
            _ => return false,
        }
    }
    let Expr::Call(call) = tail else {
        return false;
    };
    let is_some = matches!(&*call.func, Expr::Path(path) if path.path.is_ident("Some"));
    let mut escapes = Escapes(false);
    escapes.visit_expr(&closure.body);
    is_some && !escapes.0
}

/// Finds a `?`, `return` or `None` in a closure body.
struct Escapes(bool);

impl<'ast> Visit<'ast> for Escapes {
    fn visit_expr_try(&mut self, _: &'ast syn::ExprTry) {
        self.0 = true;
    }

    fn visit_expr_return(&mut self, _: &'ast syn::ExprReturn) {
        self.0 = true;
    }

    fn visit_expr_path(&mut self, node: &'ast syn::ExprPath) {
        if node.path.is_ident("None") {
            self.0 = true;
        }
    }

    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
}

/// Integer types whose `MAX` a loop does not count up to.
const WIDE_INTEGERS: &[&str] = &["u32", "i32", "u64", "i64", "u128", "i128", "usize", "isize"];

/// True when iterating `expr` never ends by itself: an open range (`0..`, `0..u64::MAX`), `iter::repeat`,
/// `iter::successors` / `iter::from_fn` whose closure always returns `Some(..)`,
/// `.cycle()`, or one of them behind adaptors that keep it endless (`.step_by(..)`,
/// `.map(..)`); `take`, `take_while`, `zip` and `map_while` bound it.
pub(super) fn endless(expr: &Expr, resolve: &dyn Fn(&syn::Path) -> Vec<String>) -> bool {
    match expr {
        // `0..`, and `0..u64::MAX` (`usize`, `u32` and wider): the end is never reached.
        Expr::Range(range) => {
            range.start.is_some()
                && range.end.as_deref().is_none_or(|end| {
                    matches!(end, Expr::Path(path) if path.path.segments.len() == 2
                        && path.path.segments[1].ident == "MAX"
                        && WIDE_INTEGERS.iter().any(|ty| path.path.segments[0].ident == ty))
                })
        }
        Expr::Paren(paren) => endless(&paren.expr, resolve),
        Expr::Group(group) => endless(&group.expr, resolve),
        Expr::Call(call) => match &*call.func {
            Expr::Path(path) => {
                let segments = resolve(&path.path);
                let n = segments.len();
                let in_iter = n >= 2 && segments[n - 2] == "iter";
                let in_stream = n >= 2 && segments[n - 2] == "stream";
                match segments.last().map(String::as_str) {
                    Some("repeat" | "repeat_with") => in_iter || in_stream,
                    // `stream::iter(0u64..)`: a stream over an endless iterator.
                    Some("iter") => {
                        in_stream && call.args.first().is_some_and(|a| endless(a, resolve))
                    }
                    // `successors(first, |x| Some(..))`, `from_fn(|| Some(..))`: the
                    // closure never says `None`.
                    Some("successors") => {
                        in_iter && call.args.iter().nth(1).is_some_and(always_some)
                    }
                    Some("from_fn") => in_iter && call.args.first().is_some_and(always_some),
                    _ => false,
                }
            }
            _ => false,
        },
        Expr::MethodCall(call) => {
            if rules::BOUNDING_ADAPTORS.iter().any(|m| call.method == m) {
                false
            } else if call.method == "cycle" {
                true
            } else if call.method == "chain" {
                endless(&call.receiver, resolve) || call.args.iter().any(|a| endless(a, resolve))
            } else {
                endless(&call.receiver, resolve)
            }
        }
        _ => false,
    }
}

/// True when `node` makes a call that the history records, or whose order it records:
/// a `ctx` method other than the pure readers, a durable method on any receiver, or a
/// call that is handed the context (`Counter::signal(&ctx, ..)`).
pub(super) fn makes_durable_call<'ast, N>(
    context: Option<&str>,
    node: &'ast N,
    visit: fn(&mut DurableScan<'_>, &'ast N),
) -> bool {
    let mut scan = DurableScan {
        context,
        found: false,
    };
    visit(&mut scan, node);
    scan.found
}

/// See [`makes_durable_call`].
pub(super) struct DurableScan<'a> {
    context: Option<&'a str>,
    found: bool,
}

impl DurableScan<'_> {
    fn is_context(&self, expr: &Expr) -> bool {
        match (expr, self.context) {
            (Expr::Path(path), Some(context)) => path.path.is_ident(context),
            (Expr::Reference(reference), _) => self.is_context(&reference.expr),
            _ => false,
        }
    }
}

impl<'ast> Visit<'ast> for DurableScan<'_> {
    fn visit_expr_method_call(&mut self, node: &'ast syn::ExprMethodCall) {
        if (self.is_context(&node.receiver)
            && !rules::PURE_CONTEXT_METHODS.iter().any(|m| node.method == m))
            || rules::DURABLE_METHODS.iter().any(|m| node.method == m)
            || node.args.iter().any(|arg| self.is_context(arg))
        {
            self.found = true;
        }
        visit::visit_expr_method_call(self, node);
    }

    fn visit_expr_call(&mut self, node: &'ast syn::ExprCall) {
        if node.args.iter().any(|arg| self.is_context(arg)) {
            self.found = true;
        }
        visit::visit_expr_call(self, node);
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// Looks inside one loop body for durable calls and for ways out of the loop.
#[derive(Default)]
pub(super) struct LoopScan {
    pub(super) label: Option<String>,
    pub(super) context: Option<String>,
    nested_loops: usize,
    closures: usize,
    pub(super) durable_call: bool,
    pub(super) exits: bool,
    pub(super) continues_as_new: bool,
}

impl LoopScan {
    /// True when the loop around `body` makes durable calls and has no way out.
    pub(super) fn never_ends(
        label: Option<&syn::Label>,
        context: Option<&str>,
        body: &syn::Block,
    ) -> bool {
        let mut scan = LoopScan {
            label: label.map(|l| l.name.ident.to_string()),
            context: context.map(ToOwned::to_owned),
            ..LoopScan::default()
        };
        scan.visit_block(body);
        scan.durable_call && !scan.exits && !scan.continues_as_new
    }

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
        if node.method == "continue_as_new" || node.method == "continue_as_new_keeping_events" {
            self.continues_as_new = true;
        }
        visit::visit_expr_method_call(self, node);
    }

    /// A branch behind a literal `false` (`if false { break }`) cannot run.
    fn visit_expr_if(&mut self, node: &'ast syn::ExprIf) {
        match literal_bool(&node.cond) {
            Some(true) => self.visit_block(&node.then_branch),
            Some(false) => {
                if let Some((_, else_branch)) = &node.else_branch {
                    self.visit_expr(else_branch);
                }
            }
            None => visit::visit_expr_if(self, node),
        }
    }

    /// Arms after an unguarded catch-all arm (`_ =>`, a bare binding) cannot run.
    fn visit_expr_match(&mut self, node: &'ast syn::ExprMatch) {
        self.visit_expr(&node.expr);
        for arm in &node.arms {
            if let Some((_, guard)) = &arm.guard {
                self.visit_expr(guard);
            }
            self.visit_expr(&arm.body);
            let catch_all = match &arm.pat {
                syn::Pat::Wild(_) => true,
                syn::Pat::Ident(ident) => {
                    ident.subpat.is_none()
                        && !ident
                            .ident
                            .to_string()
                            .starts_with(|c: char| c.is_ascii_uppercase())
                }
                _ => false,
            };
            if catch_all && arm.guard.is_none() {
                break;
            }
        }
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

/// True when a `while` condition reads only local variables (and constants) that the body
/// never changes, so it cannot change while the loop runs: `while running` with
/// `let running = true;` above, `while attempts < 5` with an `attempts` the body only reads
/// (`u64::from(attempts)`), `while !done` whose body binds a new `done` (`let done = ..`)
/// instead of assigning the old one. A condition with a call or a method call other than a
/// read (`rx.try_recv().is_ok()`) is never judged; a read (`!stop.load(order)`,
/// `!queue.is_empty()`) counts as its receiver's variable. See [`changes`] for what counts
/// as a change (conservatively, anything that could be one).
pub(super) fn unchanging_condition(cond: &Expr, body: &syn::Block) -> bool {
    /// Methods that only read their receiver.
    const READS: &[&str] = &[
        "load", "get", "is_some", "is_none", "is_empty", "len", "clone",
    ];
    fn roots(expr: &Expr, out: &mut Vec<String>) -> bool {
        match expr {
            Expr::Path(path) if path.qself.is_none() => {
                if let Some(ident) = path.path.get_ident() {
                    out.push(ident.to_string());
                }
                true
            }
            Expr::Lit(_) => true,
            Expr::Paren(inner) => roots(&inner.expr, out),
            Expr::Group(inner) => roots(&inner.expr, out),
            Expr::Field(field) => roots(&field.base, out),
            Expr::Unary(unary) if !matches!(unary.op, syn::UnOp::Deref(_)) => {
                roots(&unary.expr, out)
            }
            Expr::Binary(binary) => roots(&binary.left, out) && roots(&binary.right, out),
            // A read of a local (`!stop.load(order)`, `flag.get()`): the receiver is one of
            // the condition's variables; a method call on it in the body counts as a change.
            Expr::MethodCall(call) if READS.contains(&call.method.to_string().as_str()) => {
                roots(&call.receiver, out) && call.args.iter().all(|arg| roots(arg, out))
            }
            _ => false,
        }
    }
    let mut names = Vec::new();
    // `while let Some(cursor) = next.clone()`: a scrutinee that cannot change matches on
    // every turn or on none.
    let cond = match cond {
        Expr::Let(binding) => &*binding.expr,
        other => other,
    };
    if !roots(cond, &mut names) {
        return false;
    }
    // Only locals: a `SCREAMING_CASE` name is a constant or a static (its own rules).
    names.retain(|name| !super::syntax::is_screaming_case(name));
    !names.is_empty() && !names.iter().any(|name| changes(body, name))
}

/// Whether `body` may change the variable `name` (as it is named where the loop starts):
/// an assignment to it or to a field of it (`n += 1`, `state.done = true`), a `&mut` of it,
/// a method call on it (`queue.pop()`, `flag.set(true)`: it may take `&mut self` or have
/// interior mutability), a mention on the left of an assignment (`(done, cursor) = ..`),
/// a `ref mut` binding of it in a pattern, a mention in the arguments of a call that is not
/// a durable call (`step(&done)` may set a `Cell`, `drain(pending)` may reborrow a `&mut`),
/// any mention in a closure, an `async` block or a macro other than a formatting one (their
/// captures and expansions are not followed; `write!` writes to its first argument). Plain
/// reads (`x < 5`, `ctx.call_activity(A, x)`, `format!("{x}")`) are no change, and neither
/// is anything after a `let` in the same block that binds `name` again (the later mentions
/// are of the new variable). When unsure, this says "changed": a loop wrongly called
/// unbounded would refuse clean code.
fn changes(body: &syn::Block, name: &str) -> bool {
    /// Macros whose arguments are only read (they take references).
    const FORMATTING: &[&str] = &[
        "format",
        "print",
        "println",
        "eprint",
        "eprintln",
        "panic",
        "assert",
        "assert_eq",
        "assert_ne",
        "debug_assert",
        "debug_assert_eq",
        "trace",
        "debug",
        "info",
        "warn",
        "error",
        "format_args",
    ];
    /// Methods that take `&self` and change nothing, on std's types (`Cell::set` and
    /// atomics' stores take `&self` too, so only reads are listed).
    /// (`clone` is not among them: a clone of an `Arc<AtomicBool>` or `Rc<Cell<_>>` is
    /// an alias that may be written.)
    const READ_ONLY_METHODS: &[&str] = &[
        "cloned",
        "copied",
        "len",
        "is_empty",
        "to_vec",
        "to_string",
        "as_str",
        "as_slice",
        "iter",
        "contains",
        "contains_key",
        "first",
        "last",
        "starts_with",
        "ends_with",
        "is_some",
        "is_none",
        "is_ok",
        "is_err",
        "cmp",
        "partial_cmp",
        "eq",
        "ne",
        "keys",
        "values",
        "chars",
        "bytes",
        "trim",
    ];
    struct Scan<'n> {
        name: &'n str,
        changed: bool,
        /// Inside the arguments of a durable call: they compute its input, a value (so
        /// `ctx.call_activity(A, u64::from(n))` reads `n`).
        in_input: bool,
    }
    impl Scan<'_> {
        fn rooted(&self, expr: &Expr) -> bool {
            match expr {
                Expr::Path(path) => path.qself.is_none() && path.path.is_ident(self.name),
                Expr::Field(field) => self.rooted(&field.base),
                Expr::Index(index) => self.rooted(&index.expr),
                Expr::Paren(inner) => self.rooted(&inner.expr),
                Expr::Group(inner) => self.rooted(&inner.expr),
                Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Deref(_)) => {
                    self.rooted(&unary.expr)
                }
                _ => false,
            }
        }
        fn mentioned(&self, tokens: proc_macro2::TokenStream) -> bool {
            super::syntax::mentions(tokens, &[self.name])
        }
    }
    /// Does the pattern bind something by `ref mut`?
    fn ref_mut(pat: &syn::Pat) -> bool {
        let tokens: Vec<String> = quote::ToTokens::to_token_stream(pat)
            .into_iter()
            .map(|t| t.to_string())
            .collect();
        tokens.windows(2).any(|w| w[0] == "ref" && w[1] == "mut")
            || quote::ToTokens::to_token_stream(pat)
                .to_string()
                .contains("ref mut")
    }
    /// The context's durable calls, whose arguments are inputs taken by value.
    fn is_durable_call(method: &str) -> bool {
        method.starts_with("call_")
            || method.starts_with("signal_")
            || method.starts_with("wait_for_")
            || matches!(method, "create_timer" | "send_event" | "set_custom_status")
    }
    fn binds(pat: &syn::Pat, name: &str) -> bool {
        let mut names = Vec::new();
        super::awaits::pat_names(pat, &mut names);
        names.iter().any(|n| n == name)
    }
    impl<'ast> Visit<'ast> for Scan<'_> {
        fn visit_block(&mut self, node: &'ast syn::Block) {
            for stmt in &node.stmts {
                if let syn::Stmt::Local(local) = stmt
                    && binds(&local.pat, self.name)
                {
                    // The initialiser still sees the old variable; what follows, the new one.
                    if let Some(init) = &local.init {
                        self.visit_expr(&init.expr);
                        if let Some((_, diverge)) = &init.diverge {
                            self.visit_expr(diverge);
                        }
                    }
                    return;
                }
                self.visit_stmt(stmt);
            }
        }
        fn visit_expr_assign(&mut self, node: &'ast syn::ExprAssign) {
            // A destructuring assignment (`(done, cursor) = step().await?`) too.
            self.changed |= self.rooted(&node.left)
                || self.mentioned(quote::ToTokens::to_token_stream(&node.left));
            visit::visit_expr_assign(self, node);
        }
        fn visit_expr_let(&mut self, node: &'ast syn::ExprLet) {
            self.changed |= ref_mut(&node.pat) && self.rooted(&node.expr);
            visit::visit_expr_let(self, node);
        }
        fn visit_expr_match(&mut self, node: &'ast syn::ExprMatch) {
            self.changed |=
                node.arms.iter().any(|arm| ref_mut(&arm.pat)) && self.rooted(&node.expr);
            visit::visit_expr_match(self, node);
        }
        fn visit_expr_call(&mut self, node: &'ast syn::ExprCall) {
            self.changed |= !self.in_input
                && node
                    .args
                    .iter()
                    .any(|arg| self.mentioned(quote::ToTokens::to_token_stream(arg)));
            visit::visit_expr_call(self, node);
        }
        fn visit_expr_binary(&mut self, node: &'ast syn::ExprBinary) {
            use syn::BinOp::{
                AddAssign, BitAndAssign, BitOrAssign, BitXorAssign, DivAssign, MulAssign,
                RemAssign, ShlAssign, ShrAssign, SubAssign,
            };
            let assigns = matches!(
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
            );
            self.changed |= assigns && self.rooted(&node.left);
            visit::visit_expr_binary(self, node);
        }
        fn visit_expr_reference(&mut self, node: &'ast syn::ExprReference) {
            self.changed |= node.mutability.is_some() && self.rooted(&node.expr);
            visit::visit_expr_reference(self, node);
        }
        fn visit_expr_method_call(&mut self, node: &'ast syn::ExprMethodCall) {
            let reads = READ_ONLY_METHODS.iter().any(|m| node.method == m);
            self.changed |= !reads && self.rooted(&node.receiver);
            // The arguments of a durable call are inputs, encoded by value; another method
            // may take `&mut` or write through a shared handle.
            let durable = is_durable_call(&node.method.to_string());
            self.changed |= !durable
                && !self.in_input
                && node
                    .args
                    .iter()
                    .any(|arg| self.mentioned(quote::ToTokens::to_token_stream(arg)));
            self.visit_expr(&node.receiver);
            let outer = self.in_input;
            self.in_input |= durable;
            for arg in &node.args {
                self.visit_expr(arg);
            }
            self.in_input = outer;
        }
        fn visit_expr_closure(&mut self, node: &'ast syn::ExprClosure) {
            self.changed |= self.mentioned(quote::ToTokens::to_token_stream(&node.body));
        }
        fn visit_expr_async(&mut self, node: &'ast syn::ExprAsync) {
            self.changed |= self.mentioned(quote::ToTokens::to_token_stream(&node.block));
        }
        fn visit_macro(&mut self, node: &'ast syn::Macro) {
            let formatting = node
                .path
                .segments
                .last()
                .is_some_and(|s| FORMATTING.iter().any(|m| s.ident == m));
            let parsed = formatting
                .then(|| {
                    node.parse_body_with(
                        syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated,
                    )
                    .ok()
                })
                .flatten();
            match parsed {
                Some(args) => args.iter().for_each(|arg| self.visit_expr(arg)),
                None => self.changed |= self.mentioned(node.tokens.clone()),
            }
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut scan = Scan {
        name,
        changed: false,
        in_input: false,
    };
    scan.visit_block(body);
    scan.changed
}

/// The places a loop body appends to in its iteration's order: `keys` in `keys.push(k)`,
/// `out.extend(..)`, outside closures and nested items.
pub(super) fn appended_places(body: &syn::Block) -> Vec<&Expr> {
    struct Appends<'ast>(Vec<&'ast Expr>);
    impl<'ast> Visit<'ast> for Appends<'ast> {
        fn visit_expr_method_call(&mut self, node: &'ast syn::ExprMethodCall) {
            if rules::APPENDING_METHODS.iter().any(|m| node.method == m)
                && super::syntax::place_text(&node.receiver).is_some()
            {
                self.0.push(&node.receiver);
            }
            visit::visit_expr_method_call(self, node);
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut appends = Appends(Vec::new());
    appends.visit_block(body);
    appends.0
}
