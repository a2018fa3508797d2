//! What `#[entity]` expands to: the `Entity` impl with its dispatch, the typed signal/call/read
//! proxies and the registration.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemImpl, Path, Type};

use super::EntityArgs;
use super::model::Operation;

pub(super) fn generate(
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
            fn __durable_entity_state<T: #krate::EntityState>() {}
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
