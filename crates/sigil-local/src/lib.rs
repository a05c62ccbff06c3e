//! Sigil's embedded local LM: a pure-Rust GGUF inference engine.
//!
//! GGUF reader, GPT2-style BPE tokenizer and chat template from the model's metadata,
//! a llama forward pass with its own KV cache, quantized kernels, sampling, a prefix KV
//! cache and constrained decoding; [`LocalLm`] implements [`sigil::lm::Lm`].
#![deny(unsafe_code)]

pub mod error;
pub mod gguf;

pub use error::{LocalError, Result};
pub mod quant;
mod simd;
pub use simd::simd_level;
mod batch;
pub mod engine;
pub mod model;
pub mod sampler;
pub mod template;
pub mod tokenizer;
pub use engine::Model;
pub mod constraint;
pub mod embed;
pub mod lm;
pub mod lora;
pub mod prefix;
pub mod resolve;
pub use lm::{Generation, LocalConfig, LocalLm};
