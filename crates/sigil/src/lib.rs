//! # Sigil: declarative LM programming
//!
//! Sigil is a Rust take on DSPy: you declare what each language-model step takes and
//! returns, compose steps into a program, and let an optimizer find the instructions
//! and demos that score best on your data. The compiled prompts are a readable TOML
//! file you review, diff and load back.
//!
//! ## A first program
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
//! The sections below follow what that program touches, then what comes after it:
//! measuring it, compiling it, shipping the result and watching it run.
//!
//! ## Signatures
//!
//! A [`Signature`](signature::Signature) names the input and output fields of one LM
//! step, their [types](signature::FieldType) and descriptions, and its instructions.
//! Write it as a string (`"question, context: list[str] -> answer: int"`) or declare
//! a struct with `#[derive(Signature)]` ([`Signature`](macro@Signature), with
//! [`SigilEnum`] and [`SigilObject`] for enum and object fields). See [`signature`].
//!
//! ## Examples and data
//!
//! An [`Example`](data::Example) is a record of named values, some marked as inputs and
//! the rest labels; a [`Prediction`](data::Prediction) is what a module returns: its
//! output fields and the LM usage behind them. A [`Dataset`](data::Dataset) is an
//! ordered list of examples, loaded with [`load_jsonl`](data::load_jsonl) or
//! [`load_csv`](data::load_csv), shuffled and split with a seed. See [`data`].
//!
//! ## Modules and the context
//!
//! A program is a struct that implements [`Module`](module::Module): its `forward`
//! calls sub-modules, and [`submodules!`] names them so every predictor has a path
//! (`hop2.refine`). [`Predict`](module::Predict) is the one module that calls an LM;
//! [`ChainOfThought`](module::ChainOfThought) adds a reasoning field first. Everything
//! a call needs travels in a [`Ctx`](module::Ctx): the LM, the adapter, default
//! parameters, an optimizer's overlay and the trace hooks. There are no global
//! settings. See [`module`].
//!
//! ## Tools and agents
//!
//! A [`Tool`](tool::Tool) is a function an agent may call: a name, a description and a
//! JSON schema per argument, made from a typed async fn or from schemas and a closure.
//! [`ReAct`](module::ReAct) is DSPy's agent over any signature: it reasons, calls a
//! tool, reads the observation and repeats, then extracts the answer. The MCP client
//! that turns a server's tools into [`Tool`](tool::Tool)s is the `sigil-mcp` crate.
//! See [`tool`].
//!
//! ## Adapters
//!
//! An [`Adapter`](adapter::Adapter) turns a signature, demos and inputs into chat
//! messages and parses a completion back into typed fields.
//! [`ChatAdapter`](adapter::ChatAdapter) (the default) and
//! [`JsonAdapter`](adapter::JsonAdapter) write DSPy's formats byte for byte; a
//! [`FallbackPolicy`](adapter::FallbackPolicy) says whether a failed parse is retried
//! with JSON. See [`adapter`].
//!
//! ## Language models
//!
//! Anything that implements [`Lm`](lm::Lm) can answer requests.
//! [`OpenAiClient`](lm::OpenAiClient) speaks to OpenAI and every OpenAI-compatible
//! server (Ollama, vLLM, llama.cpp), [`AnthropicClient`](lm::AnthropicClient) to
//! Anthropic; both retry with backoff and limit concurrent requests.
//! [`lm_from_config`](lm::lm_from_config) builds a client from an
//! [`LmConfig`](lm::LmConfig) and the environment, and [`CachedLm`](lm::CachedLm)
//! puts a request cache in front of any LM. During a compile a
//! [`Budget`](optimize::Budget) caps calls, tokens and cost. See [`lm`].
//!
//! ## Evaluation
//!
//! [`Evaluate`](evaluate::Evaluate) runs a program over a dataset with bounded
//! concurrency and scores each output with a [`Metric`](evaluate::Metric)
//! ([`ExactMatch`](evaluate::ExactMatch), [`F1`](evaluate::F1), or any closure). The
//! [`EvalReport`](evaluate::EvalReport) has every example's result and the mean with a
//! bootstrap confidence interval; [`paired_bootstrap`](evaluate::paired_bootstrap)
//! compares two programs on the same examples. See [`evaluate`].
//!
//! ## Optimizers
//!
//! An [`Optimizer`](optimize::Optimizer) takes a program, a trainset, a valset and a
//! metric, and searches for better instructions and demos per predictor:
//! [`BootstrapFewShotWithRandomSearch`](optimize::BootstrapFewShotWithRandomSearch),
//! [`MiproV2`](optimize::MiproV2) and the others DSPy has. They share an
//! [`EngineConfig`](optimize::EngineConfig) (seed, concurrency, budget, checkpoints)
//! and return a [`Compiled`](optimize::Compiled) whose overlay you run with
//! [`Compiled::ctx`](optimize::Compiled::ctx); [`held_out_report`](optimize::held_out_report)
//! scores it honestly on a test set. See [`optimize`].
//!
//! ## Artifacts
//!
//! An [`Artifact`](artifact::Artifact) is a compiled program as a TOML file: per
//! predictor the signature, instructions, demos and the exact messages the LM
//! receives, plus provenance ([`Provenance`](artifact::Provenance)) and scores.
//! [`Artifact::load`](artifact::Artifact::load) checks it before use and
//! [`Artifact::overlay`](artifact::Artifact::overlay) applies it; DSPy's saved programs
//! are read and written by [`artifact::dspy`]. See [`artifact`].
//!
//! ## Tracing
//!
//! Every step emits a start and an end event to the [`Hook`](trace::Hook)s registered
//! on its ctx. [`SpanCollector`](trace::SpanCollector) turns them into
//! [`Span`](trace::Span)s off the calling task and hands them to
//! [`SpanSink`](trace::SpanSink)s: memory, the SQLite store (`sigil-store`), or an
//! OTLP backend ([`trace::otlp`]). [`TraceEnv`](trace::TraceEnv) reads the tracing
//! settings from the environment. See [`trace`].
//!
//! ## Retrieval
//!
//! A [`Retriever`](retrieve::Retriever) returns the passages best matching a query and
//! an [`Embedder`](retrieve::Embedder) turns texts into vectors; the
//! [`Retrieve`](retrieve::Retrieve) module puts a retriever into a program. Remote
//! services live here; BM25 and dense indexes are in `sigil-index`. See [`retrieve`].
//!
//! [`rng`] holds the seeded generator behind every shuffle and sample, for
//! reproducing them in your own code.

#![warn(missing_docs)]

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

/// The `schemars` crate, for the code `#[derive(SigilObject)]` generates.
#[doc(hidden)]
pub use schemars as __schemars;
pub use sigil_macros::{SigilEnum, SigilObject, Signature};

/// The names most programs use: `use sigil::prelude::*;`.
///
/// Enough to declare a program, give it an LM and run it: the module types and the
/// context, examples and predictions, the built-in adapters, the [`Lm`](lm::Lm) trait,
/// LM parameters and the client setters
/// ([`WithClientOptions`](lm::WithClientOptions)). Everything else is in its module.
pub mod prelude {
    pub use crate::adapter::{ChatAdapter, FallbackPolicy, JsonAdapter};
    pub use crate::data::{Dataset, Example, Prediction};
    pub use crate::lm::{Lm, LmParams, WithClientOptions};
    pub use crate::module::{CallCtx, ChainOfThought, Ctx, Module, ModuleError, Predict};
    pub use crate::signature::Signature;
}
