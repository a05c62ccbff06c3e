//! `#[derive(Signature)]` (being written).
use proc_macro::TokenStream;

#[proc_macro_derive(Signature, attributes(input, output, signature))]
pub fn derive_signature(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
