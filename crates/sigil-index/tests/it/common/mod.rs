//! Shared test pieces: a deterministic bag-of-words embedder and small corpora.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use sigil::retrieve::{Embedder, RetrieveError};

/// Hashes each word to a signed coordinate: texts sharing words get similar vectors.
/// Refuses texts of more than `window` words, like a model with a context window.
pub struct HashEmbedder {
    pub model: String,
    pub dim: usize,
    pub window: usize,
    /// Fail every call after this many (None: never).
    pub fail_after: Option<usize>,
    pub calls: AtomicUsize,
}

impl HashEmbedder {
    pub fn new(model: &str, dim: usize) -> Self {
        HashEmbedder {
            model: model.into(),
            dim,
            window: 256,
            fail_after: None,
            calls: AtomicUsize::new(0),
        }
    }
    pub fn arc(model: &str, dim: usize) -> Arc<dyn Embedder> {
        Arc::new(Self::new(model, dim))
    }
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

#[async_trait]
impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        &self.model
    }
    fn dim(&self) -> usize {
        self.dim
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RetrieveError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_after.is_some_and(|n| call >= n) {
            return Err(RetrieveError::Model("the model crashed".into()));
        }
        let mut out = Vec::new();
        for t in texts {
            let ws = words(t);
            if ws.len() > self.window {
                return Err(RetrieveError::Query(format!(
                    "the text has {} words, more than the model's window of {}",
                    ws.len(),
                    self.window
                )));
            }
            let mut v = vec![0.0f32; self.dim];
            for w in ws {
                let h = fnv(&w);
                let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
                v[(h % self.dim as u64) as usize] += sign;
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|x| *x /= norm);
            } else {
                v[0] = 1.0;
            }
            out.push(v);
        }
        Ok(out)
    }
}

/// A few passages with titles and extra fields.
pub const SMALL_CORPUS: &str = r#"{"id": "eld", "title": "Eldermoor", "text": "Eldermoor is a river town founded in 1742 on the banks of the Sallow River.", "region": "north"}
{"id": "sal", "title": "Sallow River", "text": "The Sallow River rises in the Greyfen Hills and flows south to the sea at Port Wren."}
{"id": "wren", "title": "Port Wren", "text": "Port Wren is a fishing harbour whose red and white lighthouse was built in 1861."}
{"id": "grey", "title": "Greyfen Hills", "text": "The Greyfen Hills are moorland where shepherds keep black-faced sheep."}
{"id": "mill", "title": "Tansy Mill", "text": "Tansy Mill grinds barley with a water wheel turned by a stream of the Greyfen Hills."}
"#;

/// Writes `text` to `dir/name` and returns the path.
pub fn write_corpus(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}
