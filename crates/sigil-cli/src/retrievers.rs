//! Opens (building when needed) the index each retrieve step of a program file names:
//! BM25, dense (all-MiniLM-L6-v2 on the embedded encoder) or hybrid, stored under
//! `.sigil/indexes/<program>.<step>.<kind>`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use sigil::retrieve::{Embedder, Retriever};
use sigil_index::{IndexKind, IndexSpec};

use crate::program::ProgramFile;
use crate::program::spec::StepSpec;

/// The opened retrievers of a program, by step name.
#[derive(Default)]
pub struct Retrievers(HashMap<String, Arc<dyn Retriever>>);

impl Retrievers {
    /// Opens the index of every retrieve step in `pf`.
    pub async fn open_all(pf: &ProgramFile) -> anyhow::Result<Retrievers> {
        let mut out = HashMap::new();
        let mut embedder: Option<Arc<dyn Embedder>> = None;
        for step in &pf.spec.steps {
            if step.module.as_ref().map(|m| m.get_ref().as_str()) != Some("retrieve") {
                continue;
            }
            let name = step.name.get_ref().clone();
            let kind: IndexKind = step
                .index
                .as_ref()
                .map(|k| k.get_ref().as_str())
                .unwrap_or("bm25")
                .parse()?;
            let corpus = pf.resolve(
                step.corpus
                    .as_ref()
                    .map(|c| c.get_ref().as_str())
                    .unwrap_or_default(),
            );
            let dir = PathBuf::from(".sigil")
                .join("indexes")
                .join(format!("{}.{name}.{kind}", pf.spec.name));
            let emb = if kind == IndexKind::Bm25 {
                None
            } else {
                if embedder.is_none() {
                    embedder = Some(load_embedder().await?);
                }
                embedder.clone()
            };
            let retriever = sigil_index::open_or_build(&IndexSpec::new(&corpus, kind, &dir), emb)
                .await
                .with_context(|| {
                    format!("step `{name}`: the {kind} index of {}", corpus.display())
                })?;
            out.insert(name, retriever);
        }
        Ok(Retrievers(out))
    }

    /// The retriever for a step (for `build_program`).
    pub fn for_step(
        &self,
        _pf: &ProgramFile,
        step: &StepSpec,
    ) -> anyhow::Result<Arc<dyn Retriever>> {
        self.0
            .get(step.name.get_ref())
            .cloned()
            .ok_or_else(|| anyhow!("no index was opened for step `{}`", step.name.get_ref()))
    }
}

/// The embedded sentence encoder (fetched on first use).
pub async fn load_embedder() -> anyhow::Result<Arc<dyn Embedder>> {
    let dir = sigil_local::embed::resolve::resolve_minilm(None, None)
        .await
        .context("fetching the sentence-embedding model")?;
    let model = tokio::task::spawn_blocking(move || sigil_local::embed::MiniLm::load(&dir))
        .await
        .map_err(|e| anyhow!("embedding model loader failed: {e}"))?
        .context("loading the sentence-embedding model")?;
    Ok(Arc::new(model))
}
