//! # Sigil: declarative LM programming
//!
//! Declare what each LM step takes and returns as a [`Signature`], compose steps
//! into a program of [`Module`]s, and run it with a [`Ctx`] that carries the LM.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sigil::prelude::*;
//!
//! let lm = sigil::lm::OpenAiClient::from_model_id("openai/gpt-4o-mini")?;
//! let ctx = Ctx::new(lm);
//! let qa = Predict::parse("question -> answer")?;
//! let out = qa.call(&ctx, Example::new().input("question", "What is 2+2?")).await?;
//! println!("{}", out.get_str("answer").unwrap_or_default());
//! # Ok(()) }
//! ```
//!
//! The map, in the order a newcomer meets it: [`signature`] → [`data`] →
//! [`adapter`] → [`lm`] → [`module`] → [`evaluate`]; [`trace`] records what every step did.

pub mod adapter;
pub mod artifact;
pub mod data;
pub mod evaluate;
pub mod lm;
pub mod module;
pub mod optimize;
pub mod retrieve;
pub mod rng;
pub mod signature;
pub mod tool;
pub mod trace;

// This crate's own unit tests use the testkit's scripted LM and completion builders,
// compiled in (see testing.rs); the alias lets that shared code say `sigil::`.
#[cfg(test)]
extern crate self as sigil;
#[cfg(test)]
mod testing;

#[doc(hidden)]
pub use schemars as __schemars;
pub use sigil_macros::{SigilEnum, SigilObject, Signature};

/// The names most programs use.
pub mod prelude {
    pub use crate::adapter::{Adapter, ChatAdapter, FallbackPolicy, JsonAdapter};
    pub use crate::data::{Dataset, Example, Prediction};
    pub use crate::lm::{Lm, LmParams, LmRequest, LmResponse, Message, Usage, WithClientOptions};
    pub use crate::module::{CallCtx, ChainOfThought, Ctx, Module, ModuleError, Predict};
    pub use crate::signature::{Field, FieldKind, FieldType, Signature};
}
