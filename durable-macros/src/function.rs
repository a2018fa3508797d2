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
use crate::signature::{Kind, Signature};

pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
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
    let args = FnArgs::parse(&cx, kind.attribute(), args);
    let sig = Signature::from_ast(&cx, kind, &func);
    // The determinism lints of `#[orchestrator]` run here, on `func.block`, reporting into
    // the same `Ctxt` so that every error of the function shows in one compile.
    match cx.check() {
        Ok(()) => {
            let expansion = FnExpansion {
                kind,
                func: &func,
                sig,
                args,
            };
            let out = expansion.expand();
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
