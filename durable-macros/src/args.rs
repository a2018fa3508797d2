//! Shared parsing of `#[orchestrator(...)]` / `#[activity(...)]` arguments.
//!
//! Error policy: every bad argument is recorded in the [`Ctxt`] and parsing goes on, so
//! the user sees every problem at once. [`Attr::set`] owns the one duplicate check.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::{Ident, LitStr, Path};

use crate::ctxt::Ctxt;
use crate::determinism::Rule;
use crate::signature::Kind;

/// Skips an unknown argument's value (`= expr` or `(..)`), if any, so parsing goes on and
/// the other arguments are checked too.
pub(crate) fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.parse_nested_meta(|_| Ok(()));
    }
    Ok(())
}

/// One argument's value, remembering where it was first set.
pub(crate) struct Attr<'c, T> {
    cx: &'c Ctxt,
    key: &'static str,
    tokens: TokenStream,
    value: Option<T>,
}

impl<'c, T> Attr<'c, T> {
    pub(crate) fn none(cx: &'c Ctxt, key: &'static str) -> Self {
        Self {
            cx,
            key,
            tokens: TokenStream::new(),
            value: None,
        }
    }

    /// Sets the value; a second `set` records "`key` given more than once" on `tokens`.
    pub(crate) fn set<A: ToTokens>(&mut self, tokens: A, value: T) {
        let tokens = tokens.into_token_stream();
        if self.value.is_some() {
            self.cx.error_spanned_by(
                tokens,
                format_args!("`{}` given more than once; remove one", self.key),
            );
        } else {
            self.tokens = tokens;
            self.value = Some(value);
        }
    }

    pub(crate) fn get(self) -> Option<T> {
        self.value
    }
}

/// The arguments both function macros accept.
pub(crate) struct FnArgs {
    /// `name = "..."`: the registered name.
    pub(crate) name: Option<LitStr>,
    /// `handle = Ident`: the marker type's name.
    pub(crate) handle: Option<Ident>,
    /// `crate = path`: where `durable_runtime` is.
    pub(crate) crate_path: Option<Path>,
    /// `allow(rule, ...)`: determinism rules switched off for this orchestrator.
    pub(crate) allow: Vec<Rule>,
    /// `version = "..."`: the orchestration version.
    pub(crate) version: Option<LitStr>,
}

impl FnArgs {
    /// Parses `args`, recording every problem in `cx`.
    pub(crate) fn parse(cx: &Ctxt, kind: Kind, args: TokenStream) -> Self {
        let macro_name = kind.attribute();
        let valid_keys = match kind {
            Kind::Orchestrator => "`name`, `version`, `handle`, `crate`, `allow`",
            Kind::Activity => "`name`, `handle`, `crate`",
        };
        let mut name = Attr::none(cx, "name");
        let mut handle = Attr::none(cx, "handle");
        let mut crate_path = Attr::none(cx, "crate");
        let mut allow = Attr::none(cx, "allow");
        let mut version = Attr::none(cx, "version");
        let parser = syn::meta::parser(|meta: ParseNestedMeta<'_>| {
            if meta.path.is_ident("name") {
                let value: LitStr = meta.value()?.parse()?;
                let text = value.value();
                if text.trim().is_empty() || text.trim() != text {
                    cx.error_spanned_by(
                        &value,
                        "`name` must be non-empty and have no surrounding whitespace",
                    );
                }
                name.set(&meta.path, value);
            } else if meta.path.is_ident("version") && kind == Kind::Orchestrator {
                let value: LitStr = meta.value()?.parse()?;
                let text = value.value();
                if text.trim().is_empty() || text.trim() != text {
                    cx.error_spanned_by(
                        &value,
                        "`version` must be non-empty and have no surrounding whitespace",
                    );
                }
                version.set(&meta.path, value);
            } else if meta.path.is_ident("handle") {
                let value: Ident = meta.value()?.parse()?;
                handle.set(&meta.path, value);
            } else if meta.path.is_ident("crate") {
                let value: Path = meta.value()?.parse()?;
                crate_path.set(&meta.path, value);
            } else if meta.path.is_ident("allow") && kind == Kind::Orchestrator {
                let mut rules: Vec<Rule> = Vec::new();
                meta.parse_nested_meta(|inner| {
                    let id = inner.path.to_token_stream().to_string().replace(' ', "");
                    match Rule::from_id(&id) {
                        Some(rule) if rules.contains(&rule) => cx.error_spanned_by(
                            &inner.path,
                            format_args!("rule `{id}` is listed twice; remove one"),
                        ),
                        Some(rule) => rules.push(rule),
                        None => cx.error_spanned_by(
                            &inner.path,
                            format_args!(
                                "unknown determinism rule `{id}`; expected one of: {}",
                                Rule::all_ids()
                            ),
                        ),
                    }
                    Ok(())
                })?;
                allow.set(&meta.path, rules);
            } else if meta.path.is_ident("allow") {
                cx.error_spanned_by(
                    &meta.path,
                    "`allow` applies to `#[orchestrator]` only: activities are where I/O, clocks and randomness belong, so they have no determinism rules",
                );
                let _ = meta.parse_nested_meta(|_| Ok(()));
            } else {
                let key = meta.path.to_token_stream().to_string().replace(' ', "");
                cx.error_spanned_by(
                    &meta.path,
                    format_args!(
                        "unknown `#[{macro_name}]` argument `{key}`; expected one of: {valid_keys}"
                    ),
                );
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(error) = syn::parse::Parser::parse2(parser, args) {
            cx.syn_error(error);
        }
        Self {
            name: name.get(),
            handle: handle.get(),
            crate_path: crate_path.get(),
            allow: allow.get().unwrap_or_default(),
            version: version.get(),
        }
    }
}
