//! A small `macro_rules!` expander for the macros an orchestrator body defines and calls,
//! so the walker judges what a call expands to (`for_each_user!(by_user, u => { .. })`
//! iterating a `HashMap` local), not only the macro's tokens.
//!
//! It supports rules made of literal tokens, groups and `$name:fragment` matchers (`expr`,
//! `ident`, `block`, `ty`, `pat`, `path`, `literal`, `lifetime`, `tt`, `stmt`, `item`,
//! `vis`); a rule with a repetition (`$(..)*`) or a `$crate` is not expanded (the caller
//! falls back to scanning the macro's tokens). Expression fragments are substituted in
//! parentheses, as rustc keeps them one operand.

use std::collections::HashMap;

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};

/// What `rules` (the tokens inside `macro_rules! name { .. }`) expand the call `input` to,
/// as statements, with the first rule that matches; `None` when no rule can be followed.
pub(super) fn expand(rules: &TokenStream, input: &TokenStream) -> Option<Vec<syn::Stmt>> {
    let trees: Vec<TokenTree> = rules.clone().into_iter().collect();
    let mut i = 0;
    while i < trees.len() {
        let (
            TokenTree::Group(matcher),
            Some(TokenTree::Punct(eq)),
            Some(TokenTree::Punct(gt)),
            Some(TokenTree::Group(transcriber)),
        ) = (
            &trees[i],
            trees.get(i + 1),
            trees.get(i + 2),
            trees.get(i + 3),
        )
        else {
            return None;
        };
        if eq.as_char() != '=' || gt.as_char() != '>' {
            return None;
        }
        i += 4;
        if matches!(trees.get(i), Some(TokenTree::Punct(p)) if p.as_char() == ';') {
            i += 1;
        }
        let mut binds = HashMap::new();
        let matched =
            (|stream: ParseStream<'_>| match_tokens(&matcher.stream(), stream, &mut binds))
                .parse2(input.clone())
                .is_ok();
        if !matched {
            continue;
        }
        let expanded = substitute(&transcriber.stream(), &binds)?;
        return syn::Block::parse_within.parse2(expanded).ok();
    }
    None
}

fn unsupported(what: &str) -> syn::Error {
    syn::Error::new(proc_macro2::Span::call_site(), what)
}

fn match_tokens(
    matcher: &TokenStream,
    input: ParseStream<'_>,
    binds: &mut HashMap<String, TokenStream>,
) -> syn::Result<()> {
    let trees: Vec<TokenTree> = matcher.clone().into_iter().collect();
    let mut i = 0;
    while i < trees.len() {
        match &trees[i] {
            TokenTree::Punct(dollar) if dollar.as_char() == '$' => {
                let (
                    Some(TokenTree::Ident(name)),
                    Some(TokenTree::Punct(colon)),
                    Some(TokenTree::Ident(fragment)),
                ) = (trees.get(i + 1), trees.get(i + 2), trees.get(i + 3))
                else {
                    return Err(unsupported("repetition or `$crate`"));
                };
                if colon.as_char() != ':' {
                    return Err(unsupported("matcher"));
                }
                let tokens = fragment_tokens(&fragment.to_string(), input)?;
                binds.insert(name.to_string(), tokens);
                i += 4;
            }
            TokenTree::Group(group) => {
                let TokenTree::Group(got) = input.parse::<TokenTree>()? else {
                    return Err(unsupported("group"));
                };
                if got.delimiter() != group.delimiter() {
                    return Err(unsupported("delimiter"));
                }
                (|inner: ParseStream<'_>| match_tokens(&group.stream(), inner, binds))
                    .parse2(got.stream())?;
                i += 1;
            }
            want => {
                let got = input.parse::<TokenTree>()?;
                let same = match (want, &got) {
                    (TokenTree::Punct(a), TokenTree::Punct(b)) => a.as_char() == b.as_char(),
                    (TokenTree::Ident(a), TokenTree::Ident(b)) => a == b,
                    (TokenTree::Literal(a), TokenTree::Literal(b)) => {
                        a.to_string() == b.to_string()
                    }
                    _ => false,
                };
                if !same {
                    return Err(unsupported("token"));
                }
                i += 1;
            }
        }
    }
    if input.is_empty() {
        Ok(())
    } else {
        Err(unsupported("trailing tokens"))
    }
}

fn fragment_tokens(fragment: &str, input: ParseStream<'_>) -> syn::Result<TokenStream> {
    Ok(match fragment {
        "expr" => {
            let expr: syn::Expr = input.parse()?;
            let mut group = Group::new(Delimiter::Parenthesis, expr.to_token_stream());
            group.set_span(expr_span(&expr));
            TokenTree::Group(group).into()
        }
        "ident" => match input.parse::<TokenTree>()? {
            tree @ TokenTree::Ident(_) => tree.into(),
            _ => return Err(unsupported("ident")),
        },
        "block" => input.parse::<syn::Block>()?.to_token_stream(),
        "ty" => input.parse::<syn::Type>()?.to_token_stream(),
        "pat" | "pat_param" => syn::Pat::parse_multi(input)?.to_token_stream(),
        "path" => input.parse::<syn::Path>()?.to_token_stream(),
        "literal" => input.parse::<syn::Lit>()?.to_token_stream(),
        "lifetime" => input.parse::<syn::Lifetime>()?.to_token_stream(),
        "tt" => input.parse::<TokenTree>()?.into(),
        "stmt" => input.parse::<syn::Stmt>()?.to_token_stream(),
        "item" => input.parse::<syn::Item>()?.to_token_stream(),
        "vis" => input.parse::<syn::Visibility>()?.to_token_stream(),
        _ => return Err(unsupported("fragment")),
    })
}

fn expr_span(expr: &syn::Expr) -> proc_macro2::Span {
    syn::spanned::Spanned::span(expr)
}

/// The transcriber with each `$name` replaced by what it matched; `None` for a repetition
/// or an unbound name.
fn substitute(tokens: &TokenStream, binds: &HashMap<String, TokenStream>) -> Option<TokenStream> {
    let mut out = TokenStream::new();
    let mut trees = tokens.clone().into_iter().peekable();
    while let Some(tree) = trees.next() {
        match tree {
            TokenTree::Punct(dollar) if dollar.as_char() == '$' => match trees.next() {
                Some(TokenTree::Ident(name)) => out.extend(binds.get(&name.to_string())?.clone()),
                _ => return None,
            },
            TokenTree::Group(group) => {
                let mut new = Group::new(group.delimiter(), substitute(&group.stream(), binds)?);
                new.set_span(group.span());
                out.extend([TokenTree::Group(new)]);
            }
            other => out.extend([other]),
        }
    }
    Some(out)
}
