//! The dense index: one unit vector per passage from an [`Embedder`], searched
//! exactly (cosine) below a size threshold and through an HNSW graph above it.
//!
//! Files: `manifest.json`, `passages.jsonl` (the documents, in vector order),
//! `vectors.f32` (little-endian f32, `documents x dim`), and `hnsw.bin` when the
//! index has an ANN graph.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use sigil::retrieve::{Embedder, Passage, RetrieveError, Retriever};

use crate::hnsw::{Hnsw, HnswParams};
use crate::manifest::{Manifest, Staging, check_replaceable};
use crate::{Corpus, Document, IndexError, IndexKind};

const PASSAGES_FILE: &str = "passages.jsonl";
const VECTORS_FILE: &str = "vectors.f32";
const GRAPH_FILE: &str = "hnsw.bin";

/// How a dense index is built and searched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DenseOptions {
    /// Corpora of at least this many passages get an HNSW graph; smaller ones are
    /// searched exactly (default 5,000: below it exact search takes well under a
    /// millisecond at 384 dimensions).
    pub ann_threshold: usize,
    pub hnsw: HnswParams,
    /// HNSW candidate list size when searching (at least `k`).
    pub ef_search: usize,
    /// Passages per embedder call while building.
    pub batch: usize,
}

impl Default for DenseOptions {
    fn default() -> Self {
        DenseOptions {
            ann_threshold: 5_000,
            hnsw: HnswParams::default(),
            ef_search: 64,
            batch: 32,
        }
    }
}

/// A dense (embedding) index over a corpus.
pub struct DenseIndex {
    name: String,
    dir: PathBuf,
    embedder: Arc<dyn Embedder>,
    docs: Vec<Document>,
    vectors: Vec<f32>,
    dim: usize,
    graph: Option<Hnsw>,
    ef_search: usize,
    manifest: Manifest,
}

impl DenseIndex {
    /// Embeds `corpus` with `embedder` and writes the index into `dir` atomically
    /// (replacing an older index there), then opens it.
    pub async fn build(
        corpus: &Corpus,
        dir: &Path,
        embedder: Arc<dyn Embedder>,
        options: DenseOptions,
    ) -> Result<DenseIndex, IndexError> {
        check_replaceable(dir)?;
        let staging = Staging::new(dir)?;
        write_dense(corpus, staging.path(), embedder.as_ref(), &options).await?;
        staging.commit()?;
        DenseIndex::open(dir, embedder, options)
    }

    /// Opens an index built by [`DenseIndex::build`]; it must have been built with
    /// the same embedding model and dimension as `embedder`.
    pub fn open(
        dir: &Path,
        embedder: Arc<dyn Embedder>,
        options: DenseOptions,
    ) -> Result<DenseIndex, IndexError> {
        let manifest = Manifest::read(dir)?;
        let dim = embedder.dim();
        manifest.check(dir, IndexKind::Dense, Some((embedder.model_id(), dim)))?;
        let n = manifest.documents;

        let ppath = dir.join(PASSAGES_FILE);
        let text = std::fs::read_to_string(&ppath).map_err(|e| IndexError::io(&ppath, e))?;
        let docs = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str::<Document>(l)
                    .map_err(|e| IndexError::damaged(&ppath, format!("line {}: {e}", i + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if docs.len() != n {
            return Err(IndexError::damaged(
                &ppath,
                format!("{} passages, the manifest says {n}", docs.len()),
            ));
        }

        let vpath = dir.join(VECTORS_FILE);
        let bytes = std::fs::read(&vpath).map_err(|e| IndexError::io(&vpath, e))?;
        if bytes.len() != n * dim * 4 {
            return Err(IndexError::damaged(
                &vpath,
                format!(
                    "{} bytes, expected {n} vectors x {dim} x 4 = {}",
                    bytes.len(),
                    n * dim * 4
                ),
            ));
        }
        let vectors: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();

        let graph = if manifest.ann {
            let gpath = dir.join(GRAPH_FILE);
            let bytes = std::fs::read(&gpath).map_err(|e| IndexError::io(&gpath, e))?;
            Some(Hnsw::from_bytes(&bytes, n).map_err(|r| IndexError::damaged(&gpath, r))?)
        } else {
            None
        };
        Ok(DenseIndex {
            name: format!("dense:{}", embedder.model_id()),
            dir: dir.to_path_buf(),
            embedder,
            docs,
            vectors,
            dim,
            graph,
            ef_search: options.ef_search,
            manifest,
        })
    }

    /// The manifest the index was opened with.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether searches go through the HNSW graph.
    pub fn is_ann(&self) -> bool {
        self.graph.is_some()
    }

    /// The `k` passages most similar to an already-embedded unit `query`.
    /// `exact` forces a full scan even when the index has a graph.
    pub fn search_vector(&self, query: &[f32], k: usize, exact: bool) -> Vec<Passage> {
        let hits: Vec<(u32, f32)> = match (&self.graph, exact) {
            (Some(g), false) => g.search(&self.vectors, self.dim, query, k, self.ef_search),
            _ => exact_search(&self.vectors, self.dim, query, k),
        };
        hits.into_iter()
            .map(|(i, score)| {
                let d = &self.docs[i as usize];
                Passage {
                    id: d.id.clone(),
                    text: d.text.clone(),
                    score,
                    metadata: d.passage_metadata(),
                }
            })
            .collect()
    }

    /// Embeds `query` (one call to the embedder).
    pub async fn embed_query(&self, query: &str) -> Result<Vec<f32>, RetrieveError> {
        if query.trim().is_empty() {
            return Err(RetrieveError::Query("the query is empty".into()));
        }
        let mut v = self.embedder.embed(&[query.to_string()]).await?;
        let v = v.pop().filter(|v| v.len() == self.dim).ok_or_else(|| {
            RetrieveError::Model(format!(
                "{} returned no {}-dimensional vector for the query",
                self.embedder.model_id(),
                self.dim
            ))
        })?;
        Ok(normalize(v))
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Cosine similarity of `query` with every vector; the `k` best, best first (ties by
/// corpus order).
fn exact_search(vectors: &[f32], dim: usize, query: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut all: Vec<(u32, f32)> = vectors
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, v)| (i as u32, v.iter().zip(query).map(|(a, b)| a * b).sum()))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && (norm - 1.0).abs() > 1e-4 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Embeds the corpus and writes the dense files and manifest into `dir`.
pub(crate) async fn write_dense(
    corpus: &Corpus,
    dir: &Path,
    embedder: &dyn Embedder,
    options: &DenseOptions,
) -> Result<(), IndexError> {
    let dim = embedder.dim();
    if dim == 0 {
        return Err(IndexError::Config(format!(
            "embedder {} reports dimension 0",
            embedder.model_id()
        )));
    }
    let mut vectors: Vec<f32> = Vec::with_capacity(corpus.docs.len() * dim);
    for (b, chunk) in corpus.docs.chunks(options.batch.max(1)).enumerate() {
        let texts: Vec<String> = chunk.iter().map(Document::indexed_text).collect();
        let got = embedder.embed(&texts).await.map_err(|e| {
            let first = b * options.batch.max(1);
            IndexError::Embed(annotate(e, &corpus.docs[first].id))
        })?;
        if got.len() != chunk.len() {
            return Err(IndexError::Embed(RetrieveError::Model(format!(
                "{} returned {} vectors for {} passages",
                embedder.model_id(),
                got.len(),
                chunk.len()
            ))));
        }
        for (v, d) in got.into_iter().zip(chunk) {
            if v.len() != dim {
                return Err(IndexError::Embed(RetrieveError::Model(format!(
                    "{} returned a {}-dimensional vector for passage {:?}, expected {dim}",
                    embedder.model_id(),
                    v.len(),
                    d.id
                ))));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(IndexError::Embed(RetrieveError::Model(format!(
                    "{} returned a non-finite vector for passage {:?}",
                    embedder.model_id(),
                    d.id
                ))));
            }
            vectors.extend(normalize(v));
        }
    }

    let ppath = dir.join(PASSAGES_FILE);
    let mut out = String::new();
    for d in &corpus.docs {
        out.push_str(&serde_json::to_string(d).map_err(|e| IndexError::io(&ppath, e))?);
        out.push('\n');
    }
    std::fs::write(&ppath, out).map_err(|e| IndexError::io(&ppath, e))?;

    let vpath = dir.join(VECTORS_FILE);
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&vpath).map_err(|e| IndexError::io(&vpath, e))?,
    );
    for x in &vectors {
        file.write_all(&x.to_le_bytes())
            .map_err(|e| IndexError::io(&vpath, e))?;
    }
    file.flush().map_err(|e| IndexError::io(&vpath, e))?;

    let ann = corpus.docs.len() >= options.ann_threshold;
    if ann {
        let gpath = dir.join(GRAPH_FILE);
        let graph = Hnsw::build(&vectors, dim, options.hnsw);
        std::fs::write(&gpath, graph.to_bytes()).map_err(|e| IndexError::io(&gpath, e))?;
    }
    let mut manifest = Manifest::new(IndexKind::Dense, &corpus.hash, corpus.docs.len());
    manifest.model_id = Some(embedder.model_id().to_string());
    manifest.dim = Some(dim);
    manifest.ann = ann;
    manifest.write(dir)
}

/// Adds which batch failed to an embedder error.
fn annotate(e: RetrieveError, first_id: &str) -> RetrieveError {
    let at = format!("(batch starting at passage {first_id:?})");
    match e {
        RetrieveError::Query(m) => RetrieveError::Query(format!("{m} {at}")),
        RetrieveError::Model(m) => RetrieveError::Model(format!("{m} {at}")),
        RetrieveError::Index(m) => RetrieveError::Index(format!("{m} {at}")),
        RetrieveError::Remote { url, reason } => RetrieveError::Remote {
            url,
            reason: format!("{reason} {at}"),
        },
    }
}

#[async_trait]
impl Retriever for DenseIndex {
    fn name(&self) -> &str {
        &self.name
    }

    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, RetrieveError> {
        let q = self.embed_query(query).await?;
        Ok(self.search_vector(&q, k, false))
    }
}
