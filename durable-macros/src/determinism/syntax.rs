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

/// The iterated place of `expr`: `map` in `&map`, `map.iter()`, `map.keys()`.
pub(super) fn iterated_place(expr: &Expr) -> Option<String> {
    match peel(expr) {
        Expr::MethodCall(call) if rules::ITERATING_METHODS.iter().any(|m| call.method == m) => {
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
