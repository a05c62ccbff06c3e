//! Shared pieces of the example programs: choosing the LM from the environment, the
//! example data, and a tiny keyword retriever (the real retrieval indexes live in the
//! Retrieve module).

pub mod wiki;

use std::path::PathBuf;
use std::sync::Arc;

use sigil::adapter::Adapter;
use sigil::data::{Dataset, load_jsonl};
use sigil::lm::{Lm, LmConfig, WithClientOptions, lm_from_config};

/// The LM the examples use: `SIGIL_LM` (default `openai/smollm2`) at
/// `SIGIL_OPENAI_BASE_URL` / `OPENAI_BASE_URL` when set (e.g. a local llama.cpp server).
pub fn lm_from_env() -> anyhow::Result<Arc<dyn Lm>> {
    let model = std::env::var("SIGIL_LM").unwrap_or_else(|_| "openai/smollm2".into());
    let mut config = LmConfig::new(model);
    if let Ok(url) = std::env::var("SIGIL_OPENAI_BASE_URL") {
        config = config.base_url(url);
    }
    Ok(lm_from_config(config)?)
}

/// The adapter an `--adapter NAME` flag names (`chat` or `json`).
pub fn adapter_flag(name: &str) -> anyhow::Result<Option<Arc<dyn Adapter>>> {
    let adapter = sigil::adapter::by_name(name).ok_or_else(|| {
        anyhow::anyhow!(
            "--adapter: unknown adapter {name:?}; use one of {}",
            sigil::adapter::BUILT_IN.join(", ")
        )
    })?;
    Ok(Some(adapter))
}

/// `examples/data/<name>`.
pub fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// A passage of the mini corpus.
#[derive(Clone, Debug)]
pub struct Passage {
    pub id: String,
    pub title: String,
    pub text: String,
}

/// Loads `mini_wiki.jsonl`.
pub fn load_corpus() -> anyhow::Result<Vec<Passage>> {
    let d: Dataset = load_jsonl(data_path("mini_wiki.jsonl"), &[])?;
    Ok(d.iter()
        .map(|e| Passage {
            id: e.get_str("id").unwrap_or_default(),
            title: e.get_str("title").unwrap_or_default(),
            text: e.get_str("text").unwrap_or_default(),
        })
        .collect())
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(|w| w.to_lowercase())
        .collect()
}

/// The `k` passages sharing the most words with `query` (ties keep corpus order).
pub fn keyword_search(corpus: &[Passage], query: &str, k: usize) -> Vec<Passage> {
    let q = words(query);
    let mut scored: Vec<(usize, usize)> = corpus
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let text = words(&format!("{} {}", p.title, p.text));
            (q.iter().filter(|w| text.contains(w)).count(), i)
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(k)
        .map(|(_, i)| corpus[i].clone())
        .collect()
}
