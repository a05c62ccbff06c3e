//! `#[derive(SigilObject)]`: a `schemars::JsonSchema` type as a nested-object field type.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput};

pub fn derive(input: DeriveInput) -> syn::Result<TokenStream> {
    if let Data::Union(u) = &input.data {
        return Err(syn::Error::new_spanned(
            u.union_token,
            "#[derive(SigilObject)] works on structs and enums that implement schemars::JsonSchema, not unions",
        ));
    }
    let ident = &input.ident;
    let mut generics = input.generics.clone();
    if generics.type_params().next().is_some() {
        let (_, ty_generics, _) = input.generics.split_for_impl();
        generics
            .make_where_clause()
            .predicates
            .push(syn::parse_quote!(#ident #ty_generics: ::sigil::__schemars::JsonSchema));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::sigil::signature::SigilType for #ident #ty_generics #where_clause {
            fn field_type() -> ::sigil::signature::FieldType {
                ::sigil::signature::FieldType::object_of::<Self>()
            }
        }
    })
}
