//! Why an index could not be built, opened or searched.

use std::path::Path;

use sigil::retrieve::RetrieveError;

/// Every failure names the file (and line, for the corpus) it is about.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IndexError {
    /// A corpus record is unusable.
    #[error("corpus {path} line {line}: {reason}")]
    Corpus {
        path: String,
        line: usize,
        reason: String,
    },
    /// The corpus has no records.
    #[error("corpus {path} is empty: no passages to index")]
    EmptyCorpus { path: String },
    /// Reading or writing a file failed.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    /// The index manifest is missing or unreadable.
    #[error("index manifest {path}: {reason}")]
    Manifest { path: String, reason: String },
    /// The index on disk was built with another model, kind or format version.
    #[error("index {path} cannot be used: {reason}")]
    Incompatible { path: String, reason: String },
    /// The index files are damaged.
    #[error("index {path} is damaged: {reason}")]
    Damaged { path: String, reason: String },
    /// The index directory exists and holds something that is not a Sigil index.
    #[error("{path} exists and is not a sigil index (no manifest.json); refusing to overwrite it")]
    NotAnIndex { path: String },
    /// tantivy failed.
    #[error("BM25 index {path}: {reason}")]
    Tantivy { path: String, reason: String },
    /// The embedder failed while building.
    #[error("embedding the corpus: {0}")]
    Embed(RetrieveError),
    /// A setting is invalid (a dense index without an embedder, ...).
    #[error("{0}")]
    Config(String),
}

impl IndexError {
    pub(crate) fn io(path: &Path, e: impl std::fmt::Display) -> Self {
        IndexError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }

    pub(crate) fn tantivy(path: &Path, e: impl std::fmt::Display) -> Self {
        IndexError::Tantivy {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }

    pub(crate) fn damaged(path: &Path, reason: impl Into<String>) -> Self {
        IndexError::Damaged {
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }
}

impl From<IndexError> for RetrieveError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::Embed(inner) => inner,
            other => RetrieveError::Index(other.to_string()),
        }
    }
}
