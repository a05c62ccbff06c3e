//! Embedded retrieval indexes for Sigil, built from a JSONL corpus and kept on disk.
//!
//! - [`Bm25Index`]: lexical BM25 search with tantivy (English stemming).
//! - [`DenseIndex`]: sentence vectors from any [`Embedder`] (e.g. all-MiniLM-L6-v2),
//!   searched exactly below [`DenseOptions::ann_threshold`] passages and through an
//!   HNSW graph above it.
//! - hybrid: both, fused by reciprocal rank ([`sigil::retrieve::RrfRetriever`]).
//!
//! Every index directory carries a [`Manifest`] (kind, embedding model and dimension,
//! format version, corpus hash) that is checked on open: an index built with another
//! model or format version is refused with an error that says so. Builds are atomic:
//! they happen in a hidden directory beside the target, renamed over it at the end,
//! and removed on failure.
//!
//! The one entry point for program files is [`open_or_build`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), sigil_index::IndexError> {
//! use sigil_index::{IndexKind, IndexSpec, open_or_build};
//! let spec = IndexSpec::new("examples/data/mini_wiki.jsonl", IndexKind::Bm25, ".sigil/index/wiki");
//! let retriever = open_or_build(&spec, None).await?;
//! let passages = retriever.retrieve("Who built the lighthouse?", 3).await;
//! # Ok(()) }
//! ```

mod bm25;
mod corpus;
mod dense;
mod error;
pub mod hnsw;
mod manifest;

pub use bm25::Bm25Index;
pub use corpus::{Corpus, Document};
pub use dense::{DenseIndex, DenseOptions};
pub use error::IndexError;
pub use manifest::{FORMAT_VERSION, MANIFEST_FILE, Manifest};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sigil::retrieve::{Embedder, Retriever, RrfRetriever};

use manifest::{Staging, check_replaceable};

/// Which index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    Bm25,
    Dense,
    Hybrid,
}

impl std::fmt::Display for IndexKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IndexKind::Bm25 => "bm25",
            IndexKind::Dense => "dense",
            IndexKind::Hybrid => "hybrid",
        })
    }
}

impl std::str::FromStr for IndexKind {
    type Err = IndexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bm25" => Ok(IndexKind::Bm25),
            "dense" => Ok(IndexKind::Dense),
            "hybrid" => Ok(IndexKind::Hybrid),
            other => Err(IndexError::Config(format!(
                "unknown index kind {other:?}; expected bm25, dense or hybrid"
            ))),
        }
    }
}

/// What to open (or build): a corpus, an index kind and the index directory.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexSpec {
    pub corpus: PathBuf,
    pub kind: IndexKind,
    pub dir: PathBuf,
    /// Dense build and search settings.
    pub dense: DenseOptions,
    /// Rebuild even when a current index exists.
    pub rebuild: bool,
}

impl IndexSpec {
    pub fn new(corpus: impl Into<PathBuf>, kind: IndexKind, dir: impl Into<PathBuf>) -> Self {
        IndexSpec {
            corpus: corpus.into(),
            kind,
            dir: dir.into(),
            dense: DenseOptions::default(),
            rebuild: false,
        }
    }
}

/// Opens the index at `spec.dir`, building it first when it is missing or was
/// built from a different corpus (its hash differs) or `spec.rebuild` is set.
///
/// `embedder` is required for dense and hybrid indexes. An index in `spec.dir` of
/// another kind, model, dimension or format version is an error (never silently
/// replaced), and so is a non-empty directory that is not a Sigil index.
pub async fn open_or_build(
    spec: &IndexSpec,
    embedder: Option<Arc<dyn Embedder>>,
) -> Result<Arc<dyn Retriever>, IndexError> {
    let embedder = match (spec.kind, embedder) {
        (IndexKind::Bm25, _) => None,
        (_, Some(e)) => Some(e),
        (kind, None) => {
            return Err(IndexError::Config(format!(
                "a {kind} index needs an embedder"
            )));
        }
    };
    let corpus = Corpus::load(&spec.corpus)?;
    let mut build = spec.rebuild;
    if spec.dir.join(MANIFEST_FILE).is_file() {
        let manifest = Manifest::read(&spec.dir)?;
        let model = embedder.as_ref().map(|e| (e.model_id(), e.dim()));
        manifest.check(&spec.dir, spec.kind, model)?;
        build |= manifest.corpus_hash != corpus.hash;
    } else {
        check_replaceable(&spec.dir)?;
        build = true;
    }
    if build {
        build_index(&corpus, spec, embedder.clone()).await?;
    }
    open_index(spec, embedder)
}

/// Builds the index `spec` describes from `corpus` (atomically).
async fn build_index(
    corpus: &Corpus,
    spec: &IndexSpec,
    embedder: Option<Arc<dyn Embedder>>,
) -> Result<(), IndexError> {
    check_replaceable(&spec.dir)?;
    let staging = Staging::new(&spec.dir)?;
    let dir = staging.path();
    match (spec.kind, embedder) {
        (IndexKind::Bm25, _) => bm25::write_bm25(corpus, dir)?,
        (IndexKind::Dense, Some(e)) => {
            dense::write_dense(corpus, dir, e.as_ref(), &spec.dense).await?
        }
        (IndexKind::Hybrid, Some(e)) => {
            let sub = |name: &str| -> Result<PathBuf, IndexError> {
                let p = dir.join(name);
                std::fs::create_dir(&p).map_err(|err| IndexError::io(&p, err))?;
                Ok(p)
            };
            bm25::write_bm25(corpus, &sub("bm25")?)?;
            dense::write_dense(corpus, &sub("dense")?, e.as_ref(), &spec.dense).await?;
            let mut m = Manifest::new(IndexKind::Hybrid, &corpus.hash, corpus.docs.len());
            m.model_id = Some(e.model_id().to_string());
            m.dim = Some(e.dim());
            m.write(dir)?;
        }
        (kind, None) => {
            return Err(IndexError::Config(format!(
                "a {kind} index needs an embedder"
            )));
        }
    }
    staging.commit()
}

/// Opens the (existing) index `spec` describes.
fn open_index(
    spec: &IndexSpec,
    embedder: Option<Arc<dyn Embedder>>,
) -> Result<Arc<dyn Retriever>, IndexError> {
    let dir: &Path = &spec.dir;
    Ok(match (spec.kind, embedder) {
        (IndexKind::Bm25, _) => Arc::new(Bm25Index::open(dir)?),
        (IndexKind::Dense, Some(e)) => Arc::new(DenseIndex::open(dir, e, spec.dense)?),
        (IndexKind::Hybrid, Some(e)) => Arc::new(open_hybrid(dir, e, spec.dense)?),
        (kind, None) => {
            return Err(IndexError::Config(format!(
                "a {kind} index needs an embedder"
            )));
        }
    })
}

/// Opens a hybrid index directory: its BM25 and dense halves fused by RRF (k = 60).
pub fn open_hybrid(
    dir: &Path,
    embedder: Arc<dyn Embedder>,
    options: DenseOptions,
) -> Result<RrfRetriever, IndexError> {
    let manifest = Manifest::read(dir)?;
    manifest.check(
        dir,
        IndexKind::Hybrid,
        Some((embedder.model_id(), embedder.dim())),
    )?;
    let bm25: Arc<dyn Retriever> = Arc::new(Bm25Index::open(&dir.join("bm25"))?);
    let dense: Arc<dyn Retriever> =
        Arc::new(DenseIndex::open(&dir.join("dense"), embedder, options)?);
    Ok(RrfRetriever::new(vec![bm25, dense]).named("hybrid"))
}
