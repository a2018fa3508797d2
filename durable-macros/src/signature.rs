//! The model of an annotated function's signature, shared by both function macros.
//!
//! Error policy: `from_ast` never fails; each problem is recorded in the [`Ctxt`] with a
//! span on the offending tokens and a message that names the fix.

use syn::{FnArg, GenericArgument, Ident, ItemFn, PathArguments, ReturnType, Type};

use crate::ctxt::Ctxt;

/// Which macro is looking at the function.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Orchestrator,
    Activity,
}

impl Kind {
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Self::Orchestrator => "orchestrator",
            Self::Activity => "activity",
        }
    }

    fn context_type(self) -> &'static str {
        match self {
            Self::Orchestrator => "OrchestrationContext",
            Self::Activity => "ActivityContext",
        }
    }

    fn other_context_type(self) -> &'static str {
        match self {
            Self::Orchestrator => "ActivityContext",
            Self::Activity => "OrchestrationContext",
        }
    }
}

/// What the function returns.
pub(crate) struct Output {
    /// The success type.
    pub(crate) ty: Type,
    /// True when the function returns `Result<T, E>` (errors convert with `Into`).
    pub(crate) fallible: bool,
}

/// An annotated function, checked.
pub(crate) struct Signature {
    /// The function's name.
    pub(crate) ident: Ident,
    /// Whether it takes the context first.
    pub(crate) has_context: bool,
    /// The context parameter's name, when it is a plain identifier.
    pub(crate) context_ident: Option<Ident>,
    /// The input type, if it takes one.
    pub(crate) input: Option<Type>,
    /// The output.
    pub(crate) output: Output,
}

pub(crate) fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(path) => path.path.segments.last().is_some_and(|s| s.ident == name),
        Type::Reference(reference) => last_segment_is(&reference.elem, name),
        _ => false,
    }
}

pub(crate) fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty.clone()),
        _ => None,
    })
}

impl Signature {
    pub(crate) fn from_ast(cx: &Ctxt, kind: Kind, func: &ItemFn) -> Self {
        let attribute = kind.attribute();
        let sig = &func.sig;
        if sig.asyncness.is_none() {
            cx.error_spanned_by(
                sig.fn_token,
                format_args!(
                    "`#[{attribute}]` functions must be `async`; write `async fn {}(...)`",
                    sig.ident
                ),
            );
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            cx.error_spanned_by(
                &sig.generics,
                format_args!("`#[{attribute}]` functions cannot be generic: the registered name must stand for one concrete function; use concrete types"),
            );
        }
        if let Some(constness) = &sig.constness {
            cx.error_spanned_by(
                constness,
                format_args!("`#[{attribute}]` functions cannot be `const`"),
            );
        }
        if let Some(variadic) = &sig.variadic {
            cx.error_spanned_by(
                variadic,
                format_args!("`#[{attribute}]` functions cannot be variadic"),
            );
        }
        let context = kind.context_type();
        let mut has_context = false;
        let mut context_ident = None;
        let mut inputs = Vec::new();
        for (index, arg) in sig.inputs.iter().enumerate() {
            match arg {
                FnArg::Receiver(receiver) => cx.error_spanned_by(
                    receiver,
                    format_args!("`#[{attribute}]` must be on a free function, not a method; move it out of the `impl` block"),
                ),
                FnArg::Typed(typed) if last_segment_is(&typed.ty, context) => {
                    if index != 0 {
                        cx.error_spanned_by(
                            &typed.ty,
                            format_args!("the `{context}` parameter must come first: `async fn {}(ctx: {context}, ...)`", sig.ident),
                        );
                    } else if matches!(*typed.ty, Type::Reference(_)) {
                        cx.error_spanned_by(
                            &typed.ty,
                            format_args!("take the context by value: `ctx: {context}` (it is cheap to clone)"),
                        );
                    }
                    has_context = true;
                    if let syn::Pat::Ident(pat) = &*typed.pat {
                        context_ident = Some(pat.ident.clone());
                    }
                }
                FnArg::Typed(typed) if last_segment_is(&typed.ty, kind.other_context_type()) => {
                    cx.error_spanned_by(
                        &typed.ty,
                        format_args!(
                            "`#[{attribute}]` functions take `{context}`, not `{}`",
                            kind.other_context_type()
                        ),
                    );
                    has_context = true;
                }
                FnArg::Typed(typed) => {
                    if let Type::Reference(reference) = &*typed.ty {
                        cx.error_spanned_by(
                            reference,
                            format_args!("`#[{attribute}]` inputs must be owned types because they are decoded from history; use e.g. `String` instead of `&str`"),
                        );
                    }
                    if let Type::ImplTrait(impl_trait) = &*typed.ty {
                        cx.error_spanned_by(impl_trait, format_args!("`#[{attribute}]` inputs must be concrete types, not `impl Trait`"));
                    }
                    inputs.push(typed);
                }
            }
        }
        if kind == Kind::Orchestrator && !has_context {
            let span_target: &dyn quote::ToTokens = match sig.inputs.first() {
                Some(first) => first,
                None => &sig.ident,
            };
            cx.error_spanned_by(
                span_target,
                format_args!("an orchestrator's first parameter must be the context: `async fn {}(ctx: OrchestrationContext, input: T)`", sig.ident),
            );
        }
        let after = match kind {
            Kind::Orchestrator => "after the context",
            Kind::Activity => "(after the optional context)",
        };
        for extra in inputs.iter().skip(1) {
            cx.error_spanned_by(
                extra,
                format_args!("`#[{attribute}]` functions take at most one input {after}; pass several values as one tuple, e.g. `(a, b): (A, B)`"),
            );
        }
        let output = match &sig.output {
            ReturnType::Default => Output {
                ty: syn::parse_quote!(()),
                fallible: false,
            },
            ReturnType::Type(_, ty) => {
                match result_ok_type(ty) {
                    Some(ok) => Output {
                        ty: ok,
                        fallible: true,
                    },
                    None => {
                        if let Type::ImplTrait(impl_trait) = &**ty {
                            cx.error_spanned_by(impl_trait, format_args!("`#[{attribute}]` outputs must be concrete types, not `impl Trait`"));
                        }
                        Output {
                            ty: (**ty).clone(),
                            fallible: false,
                        }
                    }
                }
            }
        };
        if let Type::Reference(reference) = &output.ty {
            cx.error_spanned_by(
                reference,
                format_args!("`#[{attribute}]` outputs must be owned types because they are stored in history and decoded from it; use e.g. `String` instead of `&str`"),
            );
        }
        Self {
            ident: sig.ident.clone(),
            has_context,
            context_ident,
            input: inputs.first().map(|typed| (*typed.ty).clone()),
            output,
        }
    }
}
