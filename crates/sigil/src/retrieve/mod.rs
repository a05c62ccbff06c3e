//! Retrieval: the [`Retriever`] and [`Embedder`] traits every index and remote service
//! implements, the [`Passage`]s they return, and the [`Retrieve`] module that puts a
//! retriever into a program.
//!
//! [`ColBertV2`] queries a ColBERTv2 server as DSPy does and [`OpenAiEmbedder`] any
//! OpenAI-compatible embeddings endpoint. [`RrfRetriever`] fuses several retrievers
//! by reciprocal rank ([`reciprocal_rank_fusion`]: each passage scores the sum of
//! `1 / (k + rank)` over the lists, so retrievers with incomparable scores can be
//! combined). [`traced_search`] records a search of your own as a retrieval span.
//!
//! Indexes that need heavy crates (tantivy for BM25, the embedded BERT encoder) live
//! outside this crate and implement these traits; this module stays light.

mod fusion;
mod module;
mod remote;
mod traced;

pub use fusion::{RrfRetriever, reciprocal_rank_fusion};
pub use module::Retrieve;
pub use remote::{ColBertV2, OpenAiEmbedder};
pub use traced::traced_search;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One retrieved passage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// The passage's id in its corpus.
    pub id: String,
    /// The passage's text.
    pub text: String,
    /// The retriever's score (higher is better; scales differ between retrievers).
    pub score: f32,
    /// Any other fields of the corpus record (title, url, ...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, Value>,
}

/// Why a retrieval or an embedding failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RetrieveError {
    /// The corpus or index on disk is unusable (names the file and place).
    #[error("{0}")]
    Index(String),
    /// The query cannot be served (empty, too long for the model, ...).
    #[error("bad query: {0}")]
    Query(String),
    /// A remote retriever or embedding endpoint failed or was unreachable.
    #[error("remote retriever {url}: {reason}")]
    Remote {
        /// The endpoint.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The embedding model failed.
    #[error("embedding model: {0}")]
    Model(String),
}

/// Anything that returns the `k` passages best matching a query.
#[async_trait]
pub trait Retriever: Send + Sync {
    /// A short name for traces (`bm25`, `dense:all-MiniLM-L6-v2`, `colbertv2`).
    fn name(&self) -> &str;

    /// The `k` best passages for `query`, best first.
    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, RetrieveError>;
}

/// Anything that turns texts into fixed-size vectors (L2-normalised unless it says otherwise).
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The model's id, stored with every index built from it.
    fn model_id(&self) -> &str;

    /// The vectors' dimension.
    fn dim(&self) -> usize;

    /// One vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RetrieveError>;
}
