//! # sigil-testkit: what Sigil's tests share
//!
//! A dev-dependency only (`publish = false`):
//!
//! - [`ScriptedLm`]: a fake LM answering from a script or a function, recording
//!   every request;
//! - [`chat`] and [`OpenAiBody`]: the chat adapter's completion text and an OpenAI
//!   chat-completions response body;
//! - [`Cli`]: runs a binary with arguments, environment and stdin and returns its
//!   status, stdout and stderr;
//! - [`expect`]: span-tree expectations checked against collected spans, failing with
//!   a diff of the expected and actual trees;
//! - [`Gbnf`]: a GBNF recognizer, to check grammars without a llama.cpp server;
//! - [`FinetuneApiServer`]: a local server speaking OpenAI's fine-tuning endpoints.

pub mod cli;
pub mod completion;
mod diff;
pub mod expect;
pub mod finetune_api;
pub mod gbnf;
pub mod lm;
mod request;

pub use cli::{Cli, CliOutput};
pub use completion::{OpenAiBody, chat};
pub use expect::{ExpectedSpan, SpanMismatch};
pub use finetune_api::FinetuneApiServer;
pub use gbnf::Gbnf;
pub use lm::ScriptedLm;
pub use request::field_of;

#[cfg(test)]
mod tests;
