//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong while loading, training or exporting.
#[derive(Debug, thiserror::Error)]
pub enum FinetuneError {
    /// A tensor operation failed (shape mismatch, backprop).
    #[error("tensor operation: {0}")]
    Candle(#[from] candle_core::Error),
    /// The base model could not be read by `sigil-local`.
    #[error("base model: {0}")]
    Local(#[from] sigil_local::LocalError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A setting, example or checkpoint does not make sense.
    #[error("{0}")]
    Invalid(String),
}

/// `Result` with [`FinetuneError`].
pub type Result<T> = std::result::Result<T, FinetuneError>;
