//! Questions about expressions and types the walker asks, answered from syntax alone.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::Expr;
use syn::spanned::Spanned;

use super::rules;

pub(super) fn path_segments(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

/// Tokens as code for a message: `addr_of!(item) as usize`, not `addr_of ! (item) as usize`.
pub(super) fn compact(tokens: &TokenStream) -> String {
    tokens
        .to_string()
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" ! ", "!")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(" (", "(")
        .replace(" . ", ".")
        .replace("< ", "<")
        .replace(" <", "<")
        .replace(" >", ">")
        .replace("& ", "&")
}

pub(super) fn is_screaming_case(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

pub(super) fn mentions(tokens: TokenStream, names: &[&str]) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => names.iter().any(|name| ident == name),
        TokenTree::Group(group) => mentions(group.stream(), names),
        _ => false,
    })
}

/// True when `expr` builds a hash collection: `HashMap::new()`, `HashSet::from(..)`,
/// `DashMap::new()`, `.collect::<HashMap<..>>()`, `serde_json::from_str::<HashMap<..>>(..)?`.
pub(super) fn builds_hash_collection(expr: &Expr) -> bool {
    match expr {
        Expr::Call(call) => match &*call.func {
            Expr::Path(path) => path.path.segments.iter().any(|s| {
                rules::HASH_COLLECTIONS.iter().any(|name| s.ident == name)
                    || matches!(&s.arguments, syn::PathArguments::AngleBracketed(args)
                        if mentions(args.to_token_stream(), rules::HASH_COLLECTIONS))
            }),
            _ => false,
        },
        Expr::MethodCall(call) if call.method == "collect" => {
            call.turbofish.as_ref().is_some_and(|turbofish| {
                mentions(turbofish.to_token_stream(), rules::HASH_COLLECTIONS)
            })
        }
        // `items.iter().fold(HashMap::new(), |mut m, x| ..)`
        Expr::MethodCall(call) if call.method == "fold" || call.method == "try_fold" => {
            call.args.first().is_some_and(builds_hash_collection)
        }
        Expr::Try(inner) => builds_hash_collection(&inner.expr),
        Expr::Await(inner) => builds_hash_collection(&inner.base),
        _ => false,
    }
}

pub(super) fn hash_type(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|s| rules::HASH_COLLECTIONS.iter().any(|name| s.ident == name)),
        syn::Type::Reference(reference) => hash_type(&reference.elem),
        syn::Type::Paren(inner) => hash_type(&inner.elem),
        _ => false,
    }
}

/// `expr` without `&`, `&mut`, parentheses, `?` and `.await`.
pub(super) fn peel(mut expr: &Expr) -> &Expr {
    loop {
        expr = match expr {
            Expr::Reference(inner) => &inner.expr,
            Expr::Paren(inner) => &inner.expr,
            Expr::Group(inner) => &inner.expr,
            _ => return expr,
        };
    }
}

/// The text of a place made of a local and fields (`prices`, `batch.recipients`).
pub(super) fn place_text(expr: &Expr) -> Option<String> {
    match peel(expr) {
        Expr::Path(path) if path.qself.is_none() => path.path.get_ident().map(ToString::to_string),
        Expr::Field(field) => {
            let base = place_text(&field.base)?;
            let member = match &field.member {
                syn::Member::Named(ident) => ident.to_string(),
                syn::Member::Unnamed(index) => index.index.to_string(),
            };
            Some(format!("{base}.{member}"))
        }
        _ => None,
    }
}

/// The iterated place of `expr`: `map` in `&map`, `map.iter()`, `map.keys()`; `keys` in
/// `keys.chunks(n)` (a slice's views keep its order); `map` in `map.clone().into_iter()` (a
/// clone iterates in the same order).
pub(super) fn iterated_place(expr: &Expr) -> Option<String> {
    match peel(expr) {
        Expr::MethodCall(call)
            if rules::ITERATING_METHODS.iter().any(|m| call.method == m)
                || rules::SLICE_VIEWS.iter().any(|m| call.method == m)
                || (call.args.is_empty()
                    && (call.method == "clone" || call.method == "to_owned")) =>
        {
            iterated_place(&call.receiver)
        }
        other => place_text(other),
    }
}

/// The innermost call of an iterating method (`.iter()`, `.keys()`) in the method chain
/// `expr` ends with, unless the chain sorts (`.sorted()`) or collects into an ordered
/// collection on the way.
pub(super) fn iterating_call(expr: &Expr) -> Option<&Expr> {
    let mut found = None;
    let mut current = expr;
    loop {
        current = match current {
            Expr::MethodCall(call) => {
                let method = call.method.to_string();
                if method.starts_with("sorted")
                    || (method == "collect"
                        && call.turbofish.as_ref().is_some_and(|t| {
                            mentions(t.to_token_stream(), &["BTreeMap", "BTreeSet", "BinaryHeap"])
                        }))
                {
                    return None;
                }
                if rules::ITERATING_METHODS.iter().any(|m| *m == method) {
                    found = Some(current);
                }
                &call.receiver
            }
            Expr::Paren(inner) => &inner.expr,
            Expr::Try(inner) => &inner.expr,
            Expr::Await(inner) => &inner.base,
            _ => return found,
        };
    }
}

/// Expressions whose iteration order is fixed by their syntax: ranges, arrays, literals.
pub(super) fn obviously_ordered(expr: &Expr) -> bool {
    match peel(expr) {
        Expr::Range(_) | Expr::Array(_) | Expr::Lit(_) | Expr::Repeat(_) | Expr::Tuple(_) => true,
        Expr::Macro(mac) => mac.mac.path.is_ident("vec"),
        Expr::MethodCall(call) => {
            matches!(
                call.method.to_string().as_str(),
                "chars"
                    | "bytes"
                    | "lines"
                    | "split"
                    | "chunks"
                    | "windows"
                    | "enumerate"
                    | "rev"
                    | "step_by"
                    | "take"
                    | "skip"
            ) && obviously_ordered(&call.receiver)
        }
        _ => false,
    }
}

/// The span of the first token of `expr`'s iterated place, for the warning.
pub(super) fn root_span(expr: &Expr) -> Span {
    match peel(expr) {
        Expr::MethodCall(call) => root_span(&call.receiver),
        Expr::Field(field) => root_span(&field.base),
        other => other.span(),
    }
}

/// True when `expr` is (a chain on) a call of a seeded generator's constructor:
/// `StdRng::seed_from_u64(seed)`, `ChaCha8Rng::from_seed(bytes)`, `fastrand::Rng::with_seed(n)`.
pub(super) fn calls_seeded_constructor(expr: &Expr) -> bool {
    match expr {
        Expr::Call(call) => match &*call.func {
            Expr::Path(path) => path
                .path
                .segments
                .last()
                .is_some_and(|s| rules::SEEDED_CONSTRUCTORS.iter().any(|c| s.ident == c)),
            _ => false,
        },
        Expr::MethodCall(call) => calls_seeded_constructor(&call.receiver),
        Expr::Try(inner) => calls_seeded_constructor(&inner.expr),
        Expr::Paren(inner) => calls_seeded_constructor(&inner.expr),
        _ => false,
    }
}

/// The iteration whose order a `Vec` built by `init` keeps: the iterating call of a
/// chain (`map.keys().cloned().collect()`) or of the argument of `Vec::from_iter(..)` /
/// `Vec::from(..)`.
pub(super) fn ordered_source(init: &Expr) -> Option<&Expr> {
    if let Some(call) = iterating_call(init) {
        return Some(call);
    }
    match init {
        Expr::Call(call) => match &*call.func {
            Expr::Path(path)
                if path
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "from_iter" || s.ident == "from") =>
            {
                call.args.first().and_then(iterating_call)
            }
            _ => None,
        },
        _ => None,
    }
}

/// True when `expr` makes a raw pointer or an address: `&x as *const T`, `Arc::as_ptr(&a)`,
/// `v.as_ptr()`, `Box::into_raw(b)`, `ptr::from_ref(&x)`, `addr_of!(x)`, `&raw const x`.
pub(super) fn makes_pointer(expr: &Expr) -> bool {
    const POINTER_FNS: &[&str] = &[
        "as_ptr",
        "as_mut_ptr",
        "into_raw",
        "from_ref",
        "from_mut",
        "addr_of",
        "addr_of_mut",
        "into_raw_parts",
    ];
    match peel(expr) {
        Expr::Cast(inner) => matches!(&*inner.ty, syn::Type::Ptr(_)),
        Expr::Macro(mac) => mac
            .mac
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "addr_of" || s.ident == "addr_of_mut"),
        Expr::MethodCall(call) => POINTER_FNS.iter().any(|f| call.method == f),
        Expr::Call(call) => match &*call.func {
            Expr::Path(path) => path
                .path
                .segments
                .last()
                .is_some_and(|s| POINTER_FNS.iter().any(|f| s.ident == f)),
            _ => false,
        },
        Expr::RawAddr(_) => true,
        _ => false,
    }
}

/// True when a format string has a `{:p}` (pointer) placeholder: `"req-{:p}"`, `"{x:#p}"`.
pub(super) fn formats_pointer(format: &str) -> bool {
    let mut rest = format;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(escaped) = rest.strip_prefix('{') {
            rest = escaped;
            continue;
        }
        let Some(close) = rest.find('}') else {
            return false;
        };
        let placeholder = &rest[..close];
        if placeholder
            .split_once(':')
            .is_some_and(|(_, spec)| spec.ends_with('p'))
        {
            return true;
        }
        rest = &rest[close + 1..];
    }
    false
}

/// The root of a method chain, field access or call on a value: `HTTP` in
/// `HTTP.post(url).send()`, `POOL` in `POOL.get()?.query(..)`.
pub(super) fn chain_root(mut expr: &Expr) -> &Expr {
    loop {
        expr = match expr {
            Expr::MethodCall(call) => &call.receiver,
            Expr::Field(field) => &field.base,
            Expr::Try(inner) => &inner.expr,
            Expr::Await(inner) => &inner.base,
            Expr::Paren(inner) => &inner.expr,
            Expr::Reference(inner) => &inner.expr,
            Expr::Index(inner) => &inner.expr,
            _ => return expr,
        };
    }
}

/// The method called first in a chain: `post` in `HTTP.post(url).json(&b).send()`.
pub(super) fn first_method(mut expr: &Expr) -> Option<String> {
    let mut first = None;
    loop {
        expr = match expr {
            Expr::MethodCall(call) => {
                first = Some(call.method.to_string());
                &call.receiver
            }
            Expr::Field(field) => &field.base,
            Expr::Try(inner) => &inner.expr,
            Expr::Await(inner) => &inner.base,
            Expr::Paren(inner) => &inner.expr,
            _ => return first,
        };
    }
}

/// Primitive type names: `u64::MAX` is a constant of a type, not a static of a module.
pub(super) const PRIMITIVES: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
    "f64", "bool", "char", "str",
];

/// How a sort's or a pick's key closure reads the elements it compares, when they are a
/// map's entries `(key, value)` (unique keys first).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum KeyUse {
    /// It reads the entry's key (`|(k, v)| (*v, k.clone())`, `a.1.cmp(b.1).then(a.0.cmp(b.0))`):
    /// a total order on entries, so ties cannot keep the iteration's order.
    Key,
    /// It reads only the entry's other fields (`|(_, prio)| *prio`, `|e| e.1`,
    /// `|a, b| b.1.cmp(a.1)`): equal values keep the order they came in.
    OnlyOthers,
    /// Anything else (a path, a whole element, a named field): not judged.
    Unknown,
}

/// [`KeyUse`] of the closure `expr` (one parameter for a key, two for a comparator).
pub(super) fn entry_key_use(expr: &Expr) -> KeyUse {
    use syn::visit::Visit;
    let Expr::Closure(closure) = peel(expr) else {
        return KeyUse::Unknown;
    };
    fn strip(mut pat: &syn::Pat) -> &syn::Pat {
        loop {
            pat = match pat {
                syn::Pat::Reference(r) => &r.pat,
                syn::Pat::Type(t) => &t.pat,
                syn::Pat::Paren(p) => &p.pat,
                _ => return pat,
            };
        }
    }
    /// How the body reads `name`: the unnamed fields it takes, and whether it uses it whole.
    struct Reads<'n> {
        name: &'n str,
        fields: Vec<u32>,
        whole: bool,
    }
    impl<'ast> syn::visit::Visit<'ast> for Reads<'_> {
        fn visit_expr_field(&mut self, node: &'ast syn::ExprField) {
            let mut base = &*node.base;
            while let Expr::Paren(syn::ExprParen { expr, .. })
            | Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Deref(_),
                expr,
                ..
            }) = base
            {
                base = expr;
            }
            if let (Expr::Path(path), syn::Member::Unnamed(index)) = (base, &node.member)
                && path.path.is_ident(self.name)
            {
                self.fields.push(index.index);
                return;
            }
            syn::visit::visit_expr_field(self, node);
        }
        fn visit_expr_path(&mut self, node: &'ast syn::ExprPath) {
            self.whole |= node.path.is_ident(self.name);
        }
        fn visit_macro(&mut self, node: &'ast syn::Macro) {
            self.whole |= mentions(node.tokens.clone(), &[self.name]);
        }
    }
    let mut key = false;
    let mut unknown = false;
    for input in &closure.inputs {
        match strip(input) {
            syn::Pat::Wild(_) => {}
            syn::Pat::Tuple(tuple) if tuple.elems.len() >= 2 => {
                match tuple.elems.first().map(strip) {
                    Some(syn::Pat::Wild(_)) => {}
                    Some(syn::Pat::Ident(ident)) => {
                        key |=
                            mentions(closure.body.to_token_stream(), &[&ident.ident.to_string()]);
                    }
                    _ => unknown = true,
                }
            }
            syn::Pat::Ident(ident) => {
                let name = ident.ident.to_string();
                let mut reads = Reads {
                    name: &name,
                    fields: Vec::new(),
                    whole: false,
                };
                reads.visit_expr(&closure.body);
                if reads.whole {
                    unknown = true;
                } else {
                    key |= reads.fields.contains(&0);
                }
            }
            _ => unknown = true,
        }
    }
    if key {
        KeyUse::Key
    } else if unknown {
        KeyUse::Unknown
    } else {
        KeyUse::OnlyOthers
    }
}

/// True when the closure `expr` given to `.reduce(..)` picks one of its two arguments
/// (`|a, b| if b.1 < a.1 { b } else { a }`), not combining them (`|a, b| a + b`): among
/// equal elements, which one it keeps depends on the order they come in. A condition that
/// reads the entries' keys (`a.0`, when `entries`: the elements are a map's own entries) is
/// a total order and does not count, nor one that compares the whole elements (`a > b`).
pub(super) fn reduce_picks(expr: &Expr, entries: bool) -> bool {
    let Expr::Closure(closure) = peel(expr) else {
        return false;
    };
    let names: Vec<String> = closure
        .inputs
        .iter()
        .filter_map(|input| match input {
            syn::Pat::Ident(ident) => Some(ident.ident.to_string()),
            _ => None,
        })
        .collect();
    if names.len() != 2 || closure.inputs.len() != 2 {
        return false;
    }
    fn tail(expr: &Expr) -> &Expr {
        match expr {
            Expr::Block(block) => match block.block.stmts.last() {
                Some(syn::Stmt::Expr(last, None)) if block.block.stmts.len() == 1 => tail(last),
                _ => expr,
            },
            Expr::Paren(inner) => tail(&inner.expr),
            _ => expr,
        }
    }
    let is_arg = |expr: &Expr| matches!(tail(expr), Expr::Path(p) if names.iter().any(|n| p.path.is_ident(n)));
    let Expr::If(choice) = tail(&closure.body) else {
        return false;
    };
    let then_arg = match choice.then_branch.stmts.as_slice() {
        [syn::Stmt::Expr(last, None)] => is_arg(last),
        _ => false,
    };
    let else_arg = choice.else_branch.as_ref().is_some_and(|(_, e)| is_arg(e));
    // `if a > b { a } else { b }` compares whole elements: equal ones are alike, so which
    // is kept does not matter; `if b.1 < a.1` or `if b.len() < a.len()` compares a part.
    struct Parts<'n> {
        names: &'n [String],
        part: bool,
        key: bool,
    }
    impl Parts<'_> {
        fn is_arg(&self, mut expr: &Expr) -> bool {
            while let Expr::Paren(syn::ExprParen { expr: inner, .. })
            | Expr::Reference(syn::ExprReference { expr: inner, .. })
            | Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Deref(_),
                expr: inner,
                ..
            }) = expr
            {
                expr = inner;
            }
            matches!(expr, Expr::Path(p) if self.names.iter().any(|n| p.path.is_ident(n)))
        }
    }
    impl<'ast> syn::visit::Visit<'ast> for Parts<'_> {
        fn visit_expr_field(&mut self, node: &'ast syn::ExprField) {
            if self.is_arg(&node.base) {
                self.part = true;
                self.key |= matches!(&node.member, syn::Member::Unnamed(index) if index.index == 0);
            }
            syn::visit::visit_expr_field(self, node);
        }
        fn visit_expr_method_call(&mut self, node: &'ast syn::ExprMethodCall) {
            self.part |= self.is_arg(&node.receiver) && !node.args.iter().any(|a| self.is_arg(a));
            syn::visit::visit_expr_method_call(self, node);
        }
    }
    let mut parts = Parts {
        names: &names,
        part: false,
        key: false,
    };
    syn::visit::Visit::visit_expr(&mut parts, &choice.cond);
    then_arg && else_arg && parts.part && !(entries && parts.key)
}

/// The type a constructor expression makes, by its last name: `Ledger` in `Ledger { .. }`,
/// `Roster(map)`, `Ledger::new(..)`, `Ledger::default()` (a chain on it is not one).
pub(super) fn constructed_type(expr: &Expr) -> Option<String> {
    match peel(expr) {
        Expr::Struct(value) => value.path.segments.last().map(|s| s.ident.to_string()),
        Expr::Call(call) => match &*call.func {
            Expr::Path(path) => {
                let segments = path_segments(&path.path);
                match segments.as_slice() {
                    [.., ty, _constructor] if ty.starts_with(|c: char| c.is_ascii_uppercase()) => {
                        Some(ty.clone())
                    }
                    [.., ty] if ty.starts_with(|c: char| c.is_ascii_uppercase()) => {
                        Some(ty.clone())
                    }
                    _ => None,
                }
            }
            _ => None,
        },
        _ => None,
    }
}

/// True when the method chain `expr` yields a map's own entries `(key, value)`: it starts with
/// `.iter()` / `.into_iter()` / `.drain()` on a place and adapts it only in ways that keep
/// the elements (`filter`, `cloned`, `rev`, `take` ..), so field `0` is the unique key.
pub(super) fn yields_entries(expr: &Expr) -> bool {
    const KEEPING: &[&str] = &[
        "filter",
        "cloned",
        "copied",
        "rev",
        "skip",
        "take",
        "skip_while",
        "take_while",
        "by_ref",
        "peekable",
        "inspect",
        "fuse",
        "step_by",
    ];
    let mut current = peel(expr);
    loop {
        let Expr::MethodCall(call) = current else {
            return false;
        };
        let method = call.method.to_string();
        if matches!(method.as_str(), "iter" | "iter_mut" | "into_iter" | "drain") {
            return place_text(&call.receiver).is_some()
                || iterated_place(&call.receiver).is_some();
        }
        if !KEEPING.contains(&method.as_str()) {
            return false;
        }
        current = peel(&call.receiver);
    }
}
