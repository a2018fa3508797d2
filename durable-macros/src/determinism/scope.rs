//! What the body declares before the walker looks at it: imports (`use` anywhere in the
//! body, with renames, groups and globs), `macro_rules!` definitions, `const`s, statics,
//! and the names `thread_local!` / `lazy_static!` declare.

use std::collections::{HashMap, HashSet};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};

use super::rules;

/// The declarations of one orchestrator body.
#[derive(Default)]
pub(super) struct Scope {
    /// A name brought in by `use`, and the full path it stands for.
    pub(super) aliases: HashMap<String, Vec<String>>,
    /// The prefixes of glob imports (`use std::thread::*` → `std::thread`).
    pub(super) globs: Vec<Vec<String>>,
    /// `macro_rules!` defined in the body, with their rules as tokens.
    pub(super) macros: HashMap<String, TokenStream>,
    /// `const` items: never process-global state.
    pub(super) consts: HashSet<String>,
    /// `const` items of type `bool` whose value is a literal (`const STOP: bool = false;`).
    pub(super) bool_consts: std::collections::HashMap<String, bool>,
    /// `static mut` items.
    pub(super) static_muts: HashSet<String>,
    /// Statics reported where they are declared (interior-mutable statics and the ones
    /// `thread_local!`/`lazy_static!` declare), and immutable statics, which are fine: no
    /// use of either is reported again.
    pub(super) statics: HashSet<String>,
    /// Names bound by a pattern in the body or by a parameter (`let v`, `|x|`, `Some(y)`):
    /// they shadow a glob import.
    pub(super) locals: HashSet<String>,
    /// Structs declared in the body and their fields whose type is a hash collection
    /// (`balances` of `struct Ledger { balances: HashMap<..> }`; `0` of a tuple struct).
    hash_fields: HashMap<String, HashSet<String>>,
    /// Methods of `impl` blocks in the body, by type, with the expression each returns.
    methods: Vec<(String, String, syn::Block)>,
    /// Methods of structs declared in the body that hand out one of its hash fields in the
    /// map's order (`fn owed(&self) -> impl Iterator<..> { self.balances.values() }`, or
    /// the keys collected into a `Vec` and not sorted), by struct.
    pub(super) hash_methods: HashMap<String, HashSet<String>>,
}

impl Scope {
    pub(super) fn of<'a>(
        block: &syn::Block,
        params: impl IntoIterator<Item = &'a syn::Pat>,
    ) -> Self {
        let mut scope = Scope::default();
        for param in params {
            scope.visit_pat(param);
        }
        scope.visit_block(block);
        for (ty, method, body) in std::mem::take(&mut scope.methods) {
            let Some(fields) = scope.hash_fields.get(&ty) else {
                continue;
            };
            if hands_out_hash_field(&body, fields) {
                scope.hash_methods.entry(ty).or_default().insert(method);
            }
        }
        scope
    }

    /// The full path `segments` stands for, if an import in the body names its first
    /// segment (or a glob import makes it a rule's path).
    pub(super) fn resolve(&self, segments: &[String]) -> Option<Vec<String>> {
        let first = segments.first()?;
        if let Some(target) = self.aliases.get(first) {
            let mut resolved = target.clone();
            resolved.extend(segments[1..].iter().cloned());
            return Some(resolved);
        }
        // A glob brings in a single name only if nothing in the body binds it and it is a
        // function's name (`use std::thread::*; sleep(d)`): `ctx`, `Ok` and `MyActivity` are
        // not `std::env::ctx`.
        if segments.len() == 1
            && (self.locals.contains(first) || !first.starts_with(|c: char| c.is_ascii_lowercase()))
        {
            return None;
        }
        // A prelude (`use rayon::prelude::*`) brings in traits and types, not the functions
        // a bare call names: `normalise(x)` stays the body's own helper.
        self.globs
            .iter()
            .filter(|prefix| prefix.last().is_none_or(|last| last != "prelude"))
            .find_map(|prefix| {
                let mut resolved = prefix.clone();
                resolved.extend(segments.iter().cloned());
                rules::match_path(&resolved).map(|_| resolved)
            })
    }

    /// [`Self::resolve`] through explicit imports only: a glob (`use std::env::*`) does not
    /// bring in `format!` or `vec!`.
    pub(super) fn resolve_explicit(&self, segments: &[String]) -> Option<Vec<String>> {
        let target = self.aliases.get(segments.first()?)?;
        let mut resolved = target.clone();
        resolved.extend(segments[1..].iter().cloned());
        Some(resolved)
    }

    fn collect_use(&mut self, tree: &syn::UseTree, prefix: &mut Vec<String>) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.collect_use(&path.tree, prefix);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                if name.ident == "self" {
                    if let Some(last) = prefix.last() {
                        self.aliases.insert(last.clone(), prefix.clone());
                    }
                } else {
                    let mut target = prefix.clone();
                    target.push(name.ident.to_string());
                    self.aliases.insert(name.ident.to_string(), target);
                }
            }
            syn::UseTree::Rename(rename) => {
                let mut target = prefix.clone();
                if rename.ident != "self" {
                    target.push(rename.ident.to_string());
                }
                self.aliases.insert(rename.rename.to_string(), target);
            }
            syn::UseTree::Glob(_) => self.globs.push(prefix.clone()),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.collect_use(tree, prefix);
                }
            }
        }
    }
}

/// The names declared by `static [ref|mut] NAME` inside a macro's tokens.
pub(super) fn declared_statics(tokens: TokenStream, out: &mut HashSet<String>) {
    let mut after_static = false;
    for tree in tokens {
        match tree {
            TokenTree::Ident(ident) if ident == "static" => after_static = true,
            TokenTree::Ident(ident) if after_static && (ident == "ref" || ident == "mut") => {}
            TokenTree::Ident(ident) if after_static => {
                out.insert(ident.to_string());
                after_static = false;
            }
            TokenTree::Group(group) => declared_statics(group.stream(), out),
            _ => after_static = false,
        }
    }
}

/// True when a type names an interior-mutable or lazily initialised container.
pub(super) fn interior_mutable_type(ty: &syn::Type) -> bool {
    fn any(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(ident) => rules::interior_mutable(&ident.to_string()),
            TokenTree::Group(group) => any(group.stream()),
            _ => false,
        })
    }
    any(quote::ToTokens::to_token_stream(ty))
}

/// Whether a method's body returns (as its tail expression) an iteration of `self.<field>`
/// for one of `fields`, unsorted: `self.balances.values()`, `self.0.iter().map(..)`,
/// `self.by_name.keys().cloned().collect()` (a body that sorts anything is not judged).
fn hands_out_hash_field(body: &syn::Block, fields: &HashSet<String>) -> bool {
    let Some(syn::Stmt::Expr(tail, None)) = body.stmts.last() else {
        return false;
    };
    if super::syntax::mentions(
        quote::ToTokens::to_token_stream(body),
        &[
            "sort",
            "sort_unstable",
            "sort_by",
            "sort_by_key",
            "sort_unstable_by",
            "sort_unstable_by_key",
            "sorted",
            "BTreeMap",
            "BTreeSet",
        ],
    ) {
        return false;
    }
    let Some(syn::Expr::MethodCall(call)) = super::syntax::iterating_call(tail) else {
        return false;
    };
    super::syntax::place_text(&call.receiver)
        .and_then(|place| place.strip_prefix("self.").map(ToOwned::to_owned))
        .is_some_and(|field| fields.contains(&field))
}

impl<'ast> Visit<'ast> for Scope {
    fn visit_item_struct(&mut self, node: &'ast syn::ItemStruct) {
        let fields: HashSet<String> = node
            .fields
            .iter()
            .enumerate()
            .filter(|(_, field)| super::syntax::hash_type(&field.ty))
            .map(|(i, field)| {
                field
                    .ident
                    .as_ref()
                    .map_or_else(|| i.to_string(), ToString::to_string)
            })
            .collect();
        if !fields.is_empty() {
            self.hash_fields.insert(node.ident.to_string(), fields);
        }
        visit::visit_item_struct(self, node);
    }

    fn visit_item_impl(&mut self, node: &'ast syn::ItemImpl) {
        if node.trait_.is_none()
            && let syn::Type::Path(ty) = &*node.self_ty
            && let Some(last) = ty.path.segments.last()
        {
            for item in &node.items {
                if let syn::ImplItem::Fn(method) = item {
                    self.methods.push((
                        last.ident.to_string(),
                        method.sig.ident.to_string(),
                        method.block.clone(),
                    ));
                }
            }
        }
        visit::visit_item_impl(self, node);
    }

    fn visit_item_use(&mut self, node: &'ast syn::ItemUse) {
        self.collect_use(&node.tree, &mut Vec::new());
    }

    fn visit_item_macro(&mut self, node: &'ast syn::ItemMacro) {
        if node.mac.path.is_ident("macro_rules")
            && let Some(ident) = &node.ident
        {
            self.macros
                .insert(ident.to_string(), node.mac.tokens.clone());
        }
        visit::visit_item_macro(self, node);
    }

    fn visit_macro(&mut self, node: &'ast syn::Macro) {
        if node
            .path
            .segments
            .last()
            .is_some_and(|last| rules::GLOBAL_STATE_MACROS.iter().any(|m| last.ident == m))
        {
            declared_statics(node.tokens.clone(), &mut self.statics);
        }
    }

    fn visit_item_const(&mut self, node: &'ast syn::ItemConst) {
        self.consts.insert(node.ident.to_string());
        if let syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Bool(value),
            ..
        }) = &*node.expr
        {
            self.bool_consts.insert(node.ident.to_string(), value.value);
        }
        visit::visit_item_const(self, node);
    }

    fn visit_pat_ident(&mut self, node: &'ast syn::PatIdent) {
        self.locals.insert(node.ident.to_string());
        visit::visit_pat_ident(self, node);
    }

    fn visit_item_static(&mut self, node: &'ast syn::ItemStatic) {
        let name = node.ident.to_string();
        match node.mutability {
            syn::StaticMutability::Mut(_) => {
                self.static_muts.insert(name);
            }
            _ => {
                self.statics.insert(name);
            }
        }
        visit::visit_item_static(self, node);
    }
}
