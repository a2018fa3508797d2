//! `#[entity(...)]` arguments: `name = "..."` and `crate = path`, every problem recorded and
//! parsing going on.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{LitStr, Path};

use crate::args::Attr;
use crate::ctxt::Ctxt;

pub(super) struct EntityArgs {
    pub(super) name: Option<LitStr>,
    pub(super) crate_path: Option<Path>,
}

pub(super) fn parse_args(cx: &Ctxt, args: TokenStream) -> EntityArgs {
    let mut name = Attr::none(cx, "name");
    let mut crate_path = Attr::none(cx, "crate");
    if !args.is_empty() {
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                let value: LitStr = meta.value()?.parse()?;
                let text = value.value();
                if text.is_empty() || text.contains('@') {
                    cx.error_spanned_by(
                        &value,
                        "an entity name must be non-empty and must not contain `@` (entity ids are stored as `@name@key`)",
                    );
                }
                name.set(&meta.path, value);
            } else if meta.path.is_ident("crate") {
                let value: Path = meta.value()?.parse()?;
                crate_path.set(&meta.path, value);
            } else {
                let key = meta.path.to_token_stream_string();
                cx.error_spanned_by(
                    &meta.path,
                    format_args!(
                        "unknown `#[entity]` argument `{key}`; expected `name = \"...\"` or `crate = path`"
                    ),
                );
                // Skip the value, if any, so the other arguments are checked too.
                if meta.input.peek(syn::Token![=]) {
                    let _: syn::Expr = meta.value()?.parse()?;
                } else if meta.input.peek(syn::token::Paren) {
                    let _ = meta.parse_nested_meta(|_| Ok(()));
                }
            }
            Ok(())
        });
        if let Err(error) = syn::parse::Parser::parse2(parser, args) {
            cx.syn_error(error);
        }
    }
    EntityArgs {
        name: name.get(),
        crate_path: crate_path.get(),
    }
}

trait PathText {
    fn to_token_stream_string(&self) -> String;
}

impl PathText for Path {
    fn to_token_stream_string(&self) -> String {
        quote!(#self).to_string().replace(' ', "")
    }
}
