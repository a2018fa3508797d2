//! The token layer of the walker: macro arguments that do not parse as expressions
//! (`json!({..})`, `info!(at = ?x)`) and the bodies of local `macro_rules!` are scanned as
//! tokens for rule paths, method calls and global reads.

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;

use super::{Rule, Walker, rules};

impl Walker<'_> {
    /// Scans tokens that do not parse as expressions for rule paths and method calls.
    pub(super) fn scan_tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            match &trees[i] {
                TokenTree::Group(group) => {
                    self.scan_tokens(group.stream());
                    i += 1;
                }
                TokenTree::Ident(ident) => {
                    let after_dot =
                        i > 0 && matches!(&trees[i - 1], TokenTree::Punct(p) if p.as_char() == '.');
                    let called = matches!(trees.get(i + 1), Some(TokenTree::Group(g)) if g.delimiter() == proc_macro2::Delimiter::Parenthesis);
                    if after_dot {
                        if called {
                            let receiver = if i >= 2 { Some(&trees[i - 2]) } else { None };
                            let nullary = matches!(trees.get(i + 1), Some(TokenTree::Group(g)) if g.stream().is_empty());
                            self.scan_method(ident, receiver, nullary);
                        }
                        i += 1;
                        continue;
                    }
                    let (end, segments) = path_at(&trees, i);
                    let is_macro =
                        matches!(trees.get(end), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                    let tokens: TokenStream = trees[i..end].iter().cloned().collect();
                    if is_macro {
                        self.check_macro_name(&segments, &tokens);
                    } else {
                        let path: syn::Path = match syn::parse2(tokens.clone()) {
                            Ok(path) => path,
                            Err(_) => {
                                i = end;
                                continue;
                            }
                        };
                        if !self.check_path(None, &path, &tokens)
                            && segments.len() == 1
                            && self.scope.static_muts.contains(&segments[0])
                        {
                            let message = Rule::StaticMut.message(&segments[0], None, None);
                            self.report(Rule::StaticMut, &tokens, message);
                        }
                    }
                    i = end.max(i + 1);
                }
                TokenTree::Punct(_) | TokenTree::Literal(_) => i += 1,
            }
        }
    }

    fn scan_method(
        &mut self,
        method: &proc_macro2::Ident,
        receiver: Option<&TokenTree>,
        nullary: bool,
    ) {
        let name = method.to_string();
        if let Some(matched) = rules::match_method_call(&name, nullary.then_some(0)) {
            self.report_match(&matched, method, &format!(".{name}()"), None);
            return;
        }
        if let Some(TokenTree::Ident(receiver)) = receiver
            && rules::GLOBAL_STATE_METHODS.contains(&name.as_str())
        {
            let receiver_name = receiver.to_string();
            if self.outside_static_name(&receiver_name) {
                let message =
                    Rule::GlobalState.message(&format!("{receiver_name}.{name}(..)"), None, None);
                self.report(Rule::GlobalState, quote!(#receiver . #method), message);
            }
        }
    }
}

/// The path starting at `trees[start]` (`a::b::c`, stopping before `::<`); returns the
/// index after it and its segments.
fn path_at(trees: &[TokenTree], start: usize) -> (usize, Vec<String>) {
    let mut segments = Vec::new();
    let mut i = start;
    while let Some(TokenTree::Ident(ident)) = trees.get(i) {
        segments.push(ident.to_string());
        i += 1;
        let colons = matches!(
            (trees.get(i), trees.get(i + 1), trees.get(i + 2)),
            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(_)))
                if a.as_char() == ':' && b.as_char() == ':'
        );
        if !colons {
            break;
        }
        i += 2;
    }
    (i, segments)
}
