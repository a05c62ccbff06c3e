//! Typed errors of the local engine.

use std::path::PathBuf;

/// Everything that can go wrong loading or running a local model.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot read model file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a GGUF file: {0}")]
    NotGguf(String),
    #[error("truncated GGUF file: {0}")]
    Truncated(String),
    #[error("malformed GGUF file: {0}")]
    Malformed(String),
    #[error(
        "unsupported model architecture {0:?} (only llama-architecture GGUF models are supported)"
    )]
    UnsupportedArch(String),
    #[error(
        "tensor {tensor} uses quantization {kind}, which is not supported (supported: F32, F16, Q4_0, Q4_1, Q8_0)"
    )]
    UnsupportedQuant { tensor: String, kind: String },
    #[error("model is missing {0}")]
    Missing(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error(
        "prompt of {prompt} tokens does not fit the context of {context} tokens (with {reserve} reserved for the answer)"
    )]
    ContextOverflow {
        prompt: usize,
        context: usize,
        reserve: usize,
    },
    #[error("constraint: {0}")]
    Constraint(String),
    #[error("model fetch failed: {0}")]
    Fetch(String),
}

pub type Result<T> = std::result::Result<T, LocalError>;
