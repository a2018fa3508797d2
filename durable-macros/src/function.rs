//! `#[orchestrator]` and `#[activity]`: parse → model → validate → expand.
//!
//! Error policy (STYLE §2.3): every problem becomes a spanned `syn::Error` collected in a
//! [`Ctxt`]; on any error the user's item is emitted unchanged plus the errors, so there
//! are no follow-on "cannot find" errors and IDEs keep working.

use proc_macro2::TokenStream;
use syn::ItemFn;

use crate::args::FnArgs;
use crate::codegen::FnExpansion;
use crate::ctxt::Ctxt;
use crate::determinism;
use crate::signature::{Kind, Signature};

pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                format_args!("`#[{}]` goes on an `async fn`", kind.attribute()),
            );
            let mut out = item;
            out.extend(error.into_compile_error());
            return out;
        }
    };
    let cx = Ctxt::new();
    let args = FnArgs::parse(&cx, kind, args);
    let sig = Signature::from_ast(&cx, kind, &func);
    // The determinism lints report into the same `Ctxt`, so every error of the function
    // (signature, arguments, determinism) shows in one compile; they also leave type probes
    // in the body, which the expansion then carries.
    let warnings = match kind {
        Kind::Orchestrator => {
            let krate = crate::codegen::crate_path(&args);
            determinism::check(
                &cx,
                &mut func,
                sig.context_ident.as_ref(),
                &args.allow,
                &krate,
            )
        }
        Kind::Activity => TokenStream::new(),
    };
    match cx.check() {
        Ok(()) => {
            let expansion = FnExpansion {
                kind,
                func: &func,
                sig,
                args,
            };
            let mut out = expansion.expand();
            out.extend(warnings);
            if std::env::var_os("DURABLE_MACROS_DEBUG").is_some() {
                eprintln!("{out}");
            }
            out
        }
        Err(error) => {
            let mut out = item;
            out.extend(error.into_compile_error());
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn errors(kind: Kind, args: TokenStream, item: TokenStream) -> Vec<String> {
        let out = expand(kind, args, item).to_string();
        out.split("compile_error !")
            .skip(1)
            .map(|chunk| {
                let start = chunk.find('"').unwrap() + 1;
                let end = chunk[start..]
                    .find("\" }")
                    .map_or(chunk.len(), |e| start + e);
                chunk[start..end].to_owned()
            })
            .collect()
    }

    #[test]
    fn a_valid_orchestrator_expands_to_marker_impl_proxy_and_registration() {
        let out = expand(
            Kind::Orchestrator,
            quote!(),
            quote!(
                pub async fn hello_cities(
                    ctx: OrchestrationContext,
                    cities: Vec<String>,
                ) -> Result<Vec<String>, OrchestrationError> {
                    todo!()
                }
            ),
        )
        .to_string();
        for needle in [
            "pub struct HelloCities",
            "impl :: durable_runtime :: Orchestration for HelloCities",
            "const NAME : & 'static str = \"hello_cities\"",
            "type Input = Vec < String >",
            "type Output = Vec < String >",
            "pub fn start",
            "Registration :: orchestration :: < HelloCities >",
        ] {
            assert!(out.contains(needle), "{needle:?} missing in {out}");
        }
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn activities_take_an_optional_context_and_plain_outputs() {
        let out = expand(
            Kind::Activity,
            quote!(name = "F1"),
            quote!(
                async fn f(ctx: ActivityContext) -> u32 {
                    1
                }
            ),
        )
        .to_string();
        assert!(out.contains("const NAME : & 'static str = \"F1\""), "{out}");
        assert!(out.contains("type Input = ()"), "{out}");
        assert!(
            out.contains(":: core :: result :: Result :: Ok (f (__ctx) . await)"),
            "{out}"
        );
        let out = expand(
            Kind::Activity,
            quote!(),
            quote!(
                async fn g(x: u8) -> Result<u8, E> {
                    Ok(x)
                }
            ),
        )
        .to_string();
        assert!(out.contains("g (__input) . await . map_err"), "{out}");
        assert!(out.contains("let _ = __ctx"), "{out}");
    }

    #[test]
    fn every_signature_error_is_reported_at_once_and_the_item_is_kept() {
        let item = quote!(
            fn bad<T>(a: u32, b: &str, c: u8) -> &'static str {
                "x"
            }
        );
        let found = errors(Kind::Orchestrator, quote!(), item.clone());
        let expected = [
            "must be `async`",
            "cannot be generic",
            "owned types because they are decoded from history",
            "first parameter must be the context",
            "at most one input after the context",
            "outputs must be owned",
        ];
        for needle in expected {
            assert!(
                found.iter().any(|e| e.contains(needle)),
                "{needle:?} not in {found:#?}"
            );
        }
        let out = expand(Kind::Orchestrator, quote!(), item).to_string();
        assert!(
            out.starts_with("fn bad"),
            "the user's item is re-emitted: {out}"
        );
        assert!(!out.contains("struct Bad"), "no expansion on error: {out}");
    }

    #[test]
    fn a_misplaced_context_is_named() {
        let found = errors(
            Kind::Orchestrator,
            quote!(),
            quote!(
                async fn f(x: u8, ctx: OrchestrationContext) {}
            ),
        );
        assert!(
            found.iter().any(|e| e.contains("must come first")),
            "{found:#?}"
        );
        let found = errors(
            Kind::Activity,
            quote!(),
            quote!(
                async fn f(ctx: &ActivityContext) {}
            ),
        );
        assert!(found.iter().any(|e| e.contains("by value")), "{found:#?}");
        let found = errors(
            Kind::Activity,
            quote!(),
            quote!(
                async fn f(&self) {}
            ),
        );
        assert!(
            found.iter().any(|e| e.contains("free function")),
            "{found:#?}"
        );
    }

    #[test]
    fn arguments_are_checked_together() {
        let found = errors(
            Kind::Activity,
            quote!(
                name = "a",
                name = "b",
                colour = "red",
                handle = H,
                crate = ::x,
                name = ""
            ),
            quote!(
                async fn f() {}
            ),
        );
        assert_eq!(
            found
                .iter()
                .filter(|e| e.contains("given more than once"))
                .count(),
            2,
            "{found:#?}"
        );
        assert!(found.iter().any(|e| e.contains("unknown `#[activity]` argument `colour`; expected one of: `name`, `handle`, `crate`")), "{found:#?}");
        assert!(
            found.iter().any(|e| e.contains("must be non-empty")),
            "{found:#?}"
        );
    }

    #[test]
    fn a_non_function_gets_one_clear_error() {
        let found = errors(
            Kind::Activity,
            quote!(),
            quote!(
                struct NotAFunction;
            ),
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("goes on an `async fn`"), "{found:#?}");
    }

    #[test]
    fn pascal_case_markers() {
        use crate::codegen::pascal_case;
        let ident = |s: &str| syn::Ident::new(s, proc_macro2::Span::call_site());
        assert_eq!(pascal_case(&ident("say_hello")), "SayHello");
        assert_eq!(pascal_case(&ident("w1")), "W1");
        assert_eq!(pascal_case(&ident("_private_thing")), "PrivateThing");
    }
}
