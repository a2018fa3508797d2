//! `#[entity]`: an `impl` block of a state type becomes a durable entity.
//!
//! Checks mirror Durable Functions' entity analyzers (DF0301–DF0307) at compile time: at
//! least one operation, methods only, no generics, `&self`/`&mut self` receivers, owned
//! inputs. Every problem in the block is reported at once; the block itself is always kept
//! so the rest of the crate still type-checks.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, Pat, Path, ReturnType, Type,
};

use crate::args::Attr;
use crate::ctxt::Ctxt;

/// Names the macro generates on the state type; an operation cannot use them.
const RESERVED: &[(&str, &str)] = &[
    ("signal", "the proxy that signals operations"),
    (
        "signal_at",
        "the proxy that signals operations at a later time",
    ),
    (
        "call",
        "the proxy that calls operations from an orchestration",
    ),
    ("read", "the proxy that reads the state"),
    ("entity_id", "the function that makes the entity's id"),
];

struct EntityArgs {
    name: Option<LitStr>,
    crate_path: Option<Path>,
}

fn parse_args(cx: &Ctxt, args: TokenStream) -> EntityArgs {
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
                return Err(meta.error(format_args!(
                    "unknown `#[entity]` argument `{key}`; expected `name = \"...\"` or `crate = path`"
                )));
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

/// One operation: a method of the impl block.
struct Operation {
    ident: Ident,
    name: String,
    mutates: bool,
    is_async: bool,
    has_context: bool,
    params: Vec<(Ident, Type)>,
    output: Type,
    fallible: bool,
    docs: Vec<Attribute>,
}

fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(path) => path.path.segments.last().is_some_and(|s| s.ident == name),
        Type::Reference(reference) => last_segment_is(&reference.elem, name),
        _ => false,
    }
}

fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        syn::GenericArgument::Type(ty) => Some(ty.clone()),
        _ => None,
    })
}

fn contains_impl_trait(ty: &Type) -> bool {
    match ty {
        Type::ImplTrait(_) => true,
        Type::Reference(r) => contains_impl_trait(&r.elem),
        Type::Tuple(t) => t.elems.iter().any(contains_impl_trait),
        Type::Path(p) => p.path.segments.iter().any(|s| match &s.arguments {
            syn::PathArguments::AngleBracketed(a) => a.args.iter().any(|arg| match arg {
                syn::GenericArgument::Type(t) => contains_impl_trait(t),
                _ => false,
            }),
            _ => false,
        }),
        _ => false,
    }
}

fn operation(cx: &Ctxt, method: &ImplItemFn) -> Option<Operation> {
    let sig = &method.sig;
    let ident = &sig.ident;
    let name = ident.to_string().trim_start_matches("r#").to_owned();
    let mut ok = true;
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            format_args!(
                "operation `{name}` is generic; entity operations cannot be generic because the \
                 runtime must know the input type to decode it: use a concrete type"
            ),
        );
        ok = false;
    }
    if let Some((_, description)) = RESERVED.iter().find(|(r, _)| *r == name) {
        cx.error_spanned_by(
            ident,
            format_args!(
                "`{name}` is generated by `#[entity]` ({description}); rename this operation"
            ),
        );
        ok = false;
    }
    let mut inputs = sig.inputs.iter();
    let mut mutates = false;
    match inputs.next() {
        Some(FnArg::Receiver(receiver)) => {
            if receiver.reference.is_none() {
                cx.error_spanned_by(
                    receiver,
                    format_args!(
                        "operation `{name}` takes `self` by value, which would consume the entity's \
                         state; take `&mut self` to change the state or `&self` to read it"
                    ),
                );
                ok = false;
            } else if receiver.colon_token.is_some() {
                cx.error_spanned_by(
                    receiver,
                    format_args!(
                        "operation `{name}` has a typed receiver; write `&self` or `&mut self`"
                    ),
                );
                ok = false;
            } else {
                mutates = receiver.mutability.is_some();
            }
        }
        _ => {
            cx.error_spanned_by(
                ident,
                format_args!(
                    "`{name}` has no `self`, so it cannot be an operation; take `&mut self` or \
                     `&self`, or move it to another `impl` block (every method of an `#[entity]` \
                     block is an operation)"
                ),
            );
            return None;
        }
    }
    let mut has_context = false;
    let mut params = Vec::new();
    for (index, input) in inputs.enumerate() {
        let FnArg::Typed(typed) = input else { continue };
        let ty = &*typed.ty;
        if last_segment_is(ty, "EntityContext") {
            match ty {
                Type::Reference(r) if r.mutability.is_none() => {}
                _ => {
                    cx.error_spanned_by(
                        ty,
                        "take the context by shared reference: `ctx: &EntityContext`",
                    );
                    ok = false;
                }
            }
            if index != 0 {
                cx.error_spanned_by(
                    typed,
                    format_args!(
                        "the `EntityContext` parameter must come right after `self`: \
                         `fn {name}(&mut self, ctx: &EntityContext, ...)`"
                    ),
                );
                ok = false;
            }
            has_context = true;
            continue;
        }
        let Pat::Ident(pat) = &*typed.pat else {
            cx.error_spanned_by(
                &typed.pat,
                format_args!("give this parameter of operation `{name}` a plain name"),
            );
            ok = false;
            continue;
        };
        if matches!(ty, Type::Reference(_)) {
            cx.error_spanned_by(
                ty,
                "an operation's input is decoded from JSON, so it must be an owned type: use \
                 `String` instead of `&str`, `Vec<T>` instead of `&[T]`",
            );
            ok = false;
        } else if contains_impl_trait(ty) {
            cx.error_spanned_by(
                ty,
                "an operation's input must be a concrete type, not `impl Trait`",
            );
            ok = false;
        }
        params.push((pat.ident.clone(), ty.clone()));
    }
    let (output, fallible) = match &sig.output {
        ReturnType::Default => (syn::parse_quote!(()), false),
        ReturnType::Type(_, ty) => {
            if matches!(**ty, Type::Reference(_)) || contains_impl_trait(ty) {
                cx.error_spanned_by(
                    ty,
                    format_args!(
                        "operation `{name}` must return an owned, concrete type (it is encoded as \
                         JSON for the caller), e.g. `i64` or `Result<T, E>`"
                    ),
                );
                ok = false;
            }
            match result_ok_type(ty) {
                Some(ok_type) => (ok_type, true),
                None => ((**ty).clone(), false),
            }
        }
    };
    let docs = method
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    ok.then(|| Operation {
        ident: ident.clone(),
        name,
        mutates,
        is_async: sig.asyncness.is_some(),
        has_context,
        params,
        output,
        fallible,
        docs,
    })
}

fn type_ident(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| &s.ident),
        _ => None,
    }
}

/// Expands `#[entity]`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item_impl: ItemImpl = match syn::parse2(item.clone()) {
        Ok(item_impl) => item_impl,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                "`#[entity]` goes on an `impl` block of the entity's state type: \
                 `#[entity] impl Counter { fn add(&mut self, amount: i64) { .. } }`",
            );
            let mut out = item;
            out.extend(error.into_compile_error());
            return out;
        }
    };
    let cx = Ctxt::new();
    let args = parse_args(&cx, args);
    if let Some((_, trait_path, _)) = &item_impl.trait_ {
        cx.error_spanned_by(
            trait_path,
            "`#[entity]` goes on an inherent `impl` block (`impl Counter { .. }`), not on a trait impl",
        );
    }
    if !item_impl.generics.params.is_empty() {
        cx.error_spanned_by(
            &item_impl.generics,
            "an entity's state type cannot be generic: each entity name needs one concrete state type",
        );
    }
    let self_ident = type_ident(&item_impl.self_ty).cloned();
    if self_ident.is_none() {
        cx.error_spanned_by(
            &item_impl.self_ty,
            "`#[entity]` needs a named state type: `impl Counter { .. }`",
        );
    }
    let mut operations: Vec<Operation> = Vec::new();
    for impl_item in &item_impl.items {
        match impl_item {
            ImplItem::Fn(method) => {
                if let Some(op) = operation(&cx, method) {
                    if let Some(other) = operations
                        .iter()
                        .find(|o| o.name.eq_ignore_ascii_case(&op.name))
                    {
                        cx.error_spanned_by(
                            &op.ident,
                            format_args!(
                                "operation `{}` clashes with `{}`: operation names are matched \
                                 case-insensitively; rename one",
                                op.name, other.name
                            ),
                        );
                    }
                    operations.push(op);
                }
            }
            other => cx.error_spanned_by(
                other,
                "only methods (operations) may appear in an `#[entity]` impl block; move this \
                 item to another `impl` block",
            ),
        }
    }
    let has_methods = item_impl.items.iter().any(|i| matches!(i, ImplItem::Fn(_)));
    if !has_methods {
        cx.error_spanned_by(
            &item_impl.self_ty,
            "an entity needs at least one operation: add a method such as `fn add(&mut self, amount: i64)`",
        );
    }
    match (cx.check(), self_ident) {
        (Ok(()), Some(self_ident)) => {
            let out = generate(&item_impl, &self_ident, &operations, &args);
            if std::env::var_os("DURABLE_MACROS_DEBUG").is_some() {
                eprintln!("{out}");
            }
            out
        }
        (Err(error), _) => {
            let mut out = quote!(#item_impl);
            out.extend(error.into_compile_error());
            out
        }
        (Ok(()), None) => quote!(#item_impl),
    }
}

fn generate(
    item_impl: &ItemImpl,
    self_ident: &Ident,
    operations: &[Operation],
    args: &EntityArgs,
) -> TokenStream {
    let krate: Path = args
        .crate_path
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::durable_runtime));
    let self_ty = &item_impl.self_ty;
    let name = args.name.as_ref().map_or_else(
        || self_ident.to_string().to_lowercase(),
        |n| n.value().to_lowercase(),
    );
    let op_names: Vec<&str> = operations.iter().map(|o| o.name.as_str()).collect();
    let signal_ty = format_ident!("{}Signal", self_ident);
    let call_ty = format_ident!("{}Call", self_ident);

    let arms = operations.iter().map(|op| {
        let ident = &op.ident;
        let op_name = &op.name;
        let mutates = op.mutates;
        let names: Vec<&Ident> = op.params.iter().map(|(n, _)| n).collect();
        let types: Vec<&Type> = op.params.iter().map(|(_, t)| t).collect();
        let decode = match names.len() {
            0 => quote!(let _ = __input;),
            1 => {
                let (n, t) = (names[0], types[0]);
                quote!(let #n: #t = #krate::__private::decode_operation_input(#name, #op_name, &__input)?;)
            }
            _ => quote!(let (#(#names,)*): (#(#types,)*) = #krate::__private::decode_operation_input(#name, #op_name, &__input)?;),
        };
        let ctx_arg = op.has_context.then(|| quote!(__ctx,));
        let ignore_ctx = (!op.has_context).then(|| quote!(let _ = __ctx;));
        let call = if op.is_async {
            quote!(Self::#ident(self, #ctx_arg #(#names),*).await)
        } else {
            quote!(Self::#ident(self, #ctx_arg #(#names),*))
        };
        let output = if op.fallible {
            quote!(let __output = #call.map_err(::core::convert::Into::<#krate::ActivityError>::into)?;)
        } else {
            quote!(let __output = #call;)
        };
        quote! {
            if __operation.eq_ignore_ascii_case(#op_name) {
                return ::core::option::Option::Some(#krate::__private::EntityOperation::new(
                    #mutates,
                    async move {
                        #ignore_ctx
                        #decode
                        #output
                        #krate::__private::encode_operation_output(#op_name, &__output)
                    },
                ));
            }
        }
    });

    let input_value = |op: &Operation| -> TokenStream {
        let names: Vec<&Ident> = op.params.iter().map(|(n, _)| n).collect();
        match names.len() {
            0 => quote!(&()),
            1 => {
                let n = names[0];
                quote!(&#n)
            }
            _ => quote!(&(#(#names,)*)),
        }
    };
    let signal_methods = operations.iter().map(|op| {
        let ident = &op.ident;
        let op_name = &op.name;
        let docs = &op.docs;
        let params = op.params.iter().map(|(n, t)| quote!(#n: #t));
        let value = input_value(op);
        quote! {
            #(#docs)*
            ///
            /// Signals this operation (one-way): see the entity's `signal` proxy.
            pub fn #ident(self, #(#params),*) -> __S::Signal {
                <__S as #krate::EntitySignaler>::signal_operation(
                    self.sender,
                    self.entity,
                    #op_name,
                    #krate::Payload::encode(#value),
                    self.at,
                )
            }
        }
    });
    let call_methods = operations.iter().map(|op| {
        let ident = &op.ident;
        let op_name = &op.name;
        let docs = &op.docs;
        let output = &op.output;
        let params = op.params.iter().map(|(n, t)| quote!(#n: #t));
        let value = input_value(op);
        quote! {
            #(#docs)*
            ///
            /// Calls this operation and resolves to its result, or to
            /// `EntityOperationFailed` when it returned an error or panicked.
            pub fn #ident(self, #(#params),*) -> #krate::EntityCall<#output> {
                self.ctx.call_entity_operation(
                    self.entity,
                    #op_name,
                    #krate::Payload::encode(#value),
                )
            }
        }
    });

    let any_async = operations.iter().any(|o| o.is_async);
    let allow_unused_async = any_async.then(|| quote!(#[allow(clippy::unused_async)]));
    let state_check = quote_spanned! {self_ty.span()=>
        const _: () = {
            fn __durable_entity_state<T: #krate::entity::EntityState>() {}
            let _ = __durable_entity_state::<#self_ty>;
        };
    };
    let signal_doc = format!(
        "Signal proxy of entity `{name}`: one method per operation. Made by \
         [`{self_ident}::signal`]; generated by `#[entity]`."
    );
    let call_doc = format!(
        "Call proxy of entity `{name}` for orchestrations: one method per operation, each \
         returning a future of its result. Made by [`{self_ident}::call`]; generated by `#[entity]`."
    );
    let id_doc = format!("The id of the `{name}` entity with `key`.");
    let signal_fn_doc = format!(
        "Signals an operation of the `{name}` entity with `key`, from a `DurableClient` (returns \
         a future of `Result<(), ClientError>`), an `OrchestrationContext` or an `EntityContext` \
         (both record the signal, sent when their turn commits). One-way: the result is not \
         returned. Operations from one sender run in the order they were sent."
    );
    let signal_at_doc = format!(
        "Like [`{self_ident}::signal`], but the operation runs no earlier than `at` \
         (DF's scheduled signal)."
    );
    let call_fn_doc = format!(
        "Calls an operation of the `{name}` entity with `key` from an orchestration and awaits \
         its result (two-way)."
    );
    let read_doc = format!(
        "Reads the state of the `{name}` entity with `key`: `None` when it does not exist. The \
         state may be stale by the time it returns (operations keep running).\n\n# Errors\n\
         `ClientError::Store` when the store fails, `ClientError::OutputDecode` when the stored \
         state does not decode as this type."
    );

    quote! {
        #allow_unused_async
        #item_impl

        #state_check

        #[automatically_derived]
        impl #krate::Entity for #self_ty {
            const NAME: &'static str = #name;
            const OPERATIONS: &'static [&'static str] = &[#(#op_names),*];

            #[allow(clippy::let_unit_value, clippy::unit_arg, unused_variables)]
            fn dispatch<'__a>(
                &'__a mut self,
                __ctx: &'__a #krate::EntityContext,
                __operation: &str,
                __input: #krate::Payload,
            ) -> ::core::option::Option<#krate::__private::EntityOperation<'__a>> {
                #(#arms)*
                ::core::option::Option::None
            }
        }

        #[automatically_derived]
        #[allow(unreachable_pub)]
        impl #self_ty {
            #[doc = #id_doc]
            pub fn entity_id(key: impl ::core::convert::Into<::std::string::String>) -> #krate::EntityId {
                #krate::EntityId::of::<Self>(key)
            }

            #[doc = #signal_fn_doc]
            pub fn signal<__S: #krate::EntitySignaler>(
                sender: &__S,
                key: impl ::core::convert::Into<::std::string::String>,
            ) -> #signal_ty<'_, __S> {
                #signal_ty { sender, entity: Self::entity_id(key), at: ::core::option::Option::None }
            }

            #[doc = #signal_at_doc]
            pub fn signal_at<__S: #krate::EntitySignaler>(
                sender: &__S,
                key: impl ::core::convert::Into<::std::string::String>,
                at: #krate::__private::chrono::DateTime<#krate::__private::chrono::Utc>,
            ) -> #signal_ty<'_, __S> {
                #signal_ty { sender, entity: Self::entity_id(key), at: ::core::option::Option::Some(at) }
            }

            #[doc = #call_fn_doc]
            pub fn call(
                ctx: &#krate::OrchestrationContext,
                key: impl ::core::convert::Into<::std::string::String>,
            ) -> #call_ty<'_> {
                #call_ty { ctx, entity: Self::entity_id(key) }
            }

            #[doc = #read_doc]
            pub async fn read(
                client: &#krate::DurableClient,
                key: impl ::core::convert::Into<::std::string::String>,
            ) -> ::core::result::Result<::core::option::Option<Self>, #krate::ClientError> {
                client.read_entity_state::<Self>(&Self::entity_id(key)).await
            }
        }

        #[doc = #signal_doc]
        #[allow(unreachable_pub)]
        pub struct #signal_ty<'__s, __S> {
            sender: &'__s __S,
            entity: #krate::EntityId,
            at: ::core::option::Option<#krate::__private::chrono::DateTime<#krate::__private::chrono::Utc>>,
        }

        #[automatically_derived]
        impl<__S> ::core::fmt::Debug for #signal_ty<'_, __S> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!(#signal_ty))
                    .field("entity", &self.entity)
                    .field("at", &self.at)
                    .finish_non_exhaustive()
            }
        }

        #[automatically_derived]
        #[allow(unreachable_pub)]
        impl<__S: #krate::EntitySignaler> #signal_ty<'_, __S> {
            #(#signal_methods)*
        }

        #[doc = #call_doc]
        #[allow(unreachable_pub)]
        pub struct #call_ty<'__c> {
            ctx: &'__c #krate::OrchestrationContext,
            entity: #krate::EntityId,
        }

        #[automatically_derived]
        impl ::core::fmt::Debug for #call_ty<'_> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!(#call_ty))
                    .field("entity", &self.entity)
                    .finish_non_exhaustive()
            }
        }

        #[automatically_derived]
        #[allow(unreachable_pub)]
        impl #call_ty<'_> {
            #(#call_methods)*
        }

        #krate::__private::inventory::submit! {
            #krate::__private::Registration::entity::<#self_ty>()
        }
    }
}
