//! Shared set-up of the embedder tests: the all-MiniLM-L6-v2 directory from
//! `$SIGIL_MINILM_DIR` (exported by scripts/test) or the standard cache location, loaded
//! once; the committed sentence-transformers reference.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;
use sigil_local::embed::{MINILM_DIR_NAME, MiniLm, resolve::is_complete};

/// The model directory; panics with a clear message when the model is not there.
pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("SIGIL_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            sigil_local::resolve::cache_dir()
                .join("models")
                .join(MINILM_DIR_NAME)
        });
    assert!(
        is_complete(&dir),
        "all-MiniLM-L6-v2 is not in {}: run the tests with scripts/test, which fetches it \
         (or `source scripts/dev-env.sh && source scripts/minilm-env.sh && ensure_minilm_model`)",
        dir.display()
    );
    dir
}

pub fn model() -> MiniLm {
    static M: OnceLock<MiniLm> = OnceLock::new();
    M.get_or_init(|| MiniLm::load(&model_dir()).expect("all-MiniLM-L6-v2 loads"))
        .clone()
}

#[derive(Deserialize)]
pub struct Sentence {
    pub text: String,
    pub token_ids: Vec<u32>,
    #[serde(default)]
    pub embedding: Vec<f32>,
}

#[derive(Deserialize)]
pub struct Reference {
    pub max_seq_length: usize,
    pub sentences: Vec<Sentence>,
    pub tokenizer_only: Vec<Sentence>,
}

/// tests/golden/minilm_reference.json (written by scripts/gen_embedding_reference.py).
pub fn reference() -> Reference {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/minilm_reference.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}
