//! [`LocalLm`]: the embedded engine behind Sigil's [`Lm`] trait.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use sigil::lm::{Lm, LmError, LmRequest, LmResponse, OutputConstraint, Usage};

use crate::batch::{self, Job, Sequence, Shared};
use crate::constraint::Grammar;
use crate::engine::Model;
use crate::error::{LocalError, Result};
use crate::prefix::PrefixCache;
use crate::resolve::{ModelSpec, resolve};

/// Settings of a [`LocalLm`].
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// Context length (prompt + answer), capped by the model's training context.
    pub n_ctx: usize,
    /// Answer length when the request sets none.
    pub default_max_tokens: u32,
    /// Memory budget of the prefix KV cache, in bytes (0 disables it).
    pub prefix_cache_bytes: usize,
    /// Concurrent calls decoded together in one batch at most (further calls wait).
    pub max_batch: usize,
    /// A GGUF LoRA adapter (llama.cpp's layout, as `sigil-finetune` writes it) applied
    /// to every call.
    pub lora: Option<PathBuf>,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            n_ctx: 4096,
            default_max_tokens: 512,
            prefix_cache_bytes: 256 << 20,
            max_batch: 16,
            lora: None,
        }
    }
}

/// A GGUF model run in-process. Concurrent calls are decoded together: a worker
/// thread runs one forward pass over every active call per step (see [`crate::batch`]).
pub struct LocalLm {
    shared: Arc<Shared>,
    jobs: std::sync::mpsc::Sender<Job>,
    path: PathBuf,
}

impl std::fmt::Debug for LocalLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLm")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What one generation produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<u32>,
    pub finish_reason: &'static str,
    pub prompt_tokens: usize,
    pub cached_tokens: usize,
}

impl LocalLm {
    /// Loads the model at `path` and starts its batch worker thread (which ends when
    /// the `LocalLm` is dropped).
    pub fn load(path: &Path, config: LocalConfig) -> Result<LocalLm> {
        let mut model = Model::load(path)?;
        if let Some(lora) = &config.lora {
            model.llama = model.llama.with_lora(lora)?;
        }
        let model = Arc::new(model);
        let kv_dim = model.llama.cfg.kv_dim();
        let shared = Arc::new(Shared {
            model,
            prefix: Arc::new(Mutex::new(PrefixCache::new(
                config.prefix_cache_bytes,
                kv_dim,
            ))),
            config,
            peak_batch: Default::default(),
        });
        let (jobs, rx) = std::sync::mpsc::channel();
        let sh = shared.clone();
        std::thread::Builder::new()
            .name("sigil-local-batch".into())
            .spawn(move || batch::worker(sh, rx))
            .map_err(|e| LocalError::Malformed(format!("cannot start the batch worker: {e}")))?;
        Ok(LocalLm {
            shared,
            jobs,
            path: path.to_path_buf(),
        })
    }

    /// Resolves the default model (explicit path, cache, hub, pip; see [`resolve`]) and loads it.
    pub async fn from_default(explicit: Option<&Path>, config: LocalConfig) -> Result<LocalLm> {
        let path = resolve(explicit, &ModelSpec::default(), None).await?;
        let p = path.clone();
        tokio::task::spawn_blocking(move || LocalLm::load(&p, config))
            .await
            .map_err(|e| LocalError::Malformed(format!("loader task failed: {e}")))?
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.shared.model
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes held by the prefix cache.
    pub fn prefix_cache_bytes(&self) -> usize {
        self.shared
            .prefix
            .lock()
            .map(|p| p.used_bytes())
            .unwrap_or(0)
    }

    /// The most calls decoded together in one forward pass so far.
    pub fn peak_batch(&self) -> usize {
        self.shared
            .peak_batch
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs one request to completion on the calling thread, outside the batch
    /// (blocking; uses every core).
    pub fn generate(&self, req: &LmRequest) -> Result<Generation> {
        Sequence::new(&self.shared, req, None)?.run_alone(&self.shared)
    }

    /// Runs one request in the shared batch. With `deltas`, the answer's text is also
    /// sent piece by piece as it is decided (the pieces concatenate to the final text).
    pub async fn complete(
        &self,
        request: LmRequest,
        deltas: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    ) -> Result<Generation> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job {
                request,
                stream: deltas,
                reply,
            })
            .map_err(|_| LocalError::Malformed("the batch worker has stopped".into()))?;
        rx.await
            .map_err(|_| LocalError::Malformed("the batch worker dropped the request".into()))?
    }
}

fn to_lm_error(e: LocalError) -> LmError {
    match e {
        LocalError::Constraint(m) => LmError::Unsupported(format!("constraint: {m}")),
        e @ LocalError::ContextOverflow { .. } => LmError::ContextWindowExceeded {
            provider: "local".into(),
            message: e.to_string(),
        },
        other => LmError::Other(format!("local model: {other}")),
    }
}

#[async_trait]
impl Lm for LocalLm {
    /// `local/<model file>`, and `+<adapter file>` with an adapter: traces, caches and
    /// artifacts tell the fine-tuned model from its base.
    fn model_id(&self) -> String {
        let base = self
            .path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.shared.model.name.clone());
        match self.shared.config.lora.as_ref().and_then(|p| p.file_name()) {
            Some(a) => format!("local/{base}+{}", a.to_string_lossy()),
            None => format!("local/{base}"),
        }
    }

    fn supports_constraint(&self, constraint: &OutputConstraint) -> bool {
        Grammar::compile(constraint).is_ok()
    }

    async fn call(&self, request: LmRequest) -> std::result::Result<LmResponse, LmError> {
        if !request.tools.is_empty() {
            // The embedded engine has no native tool calling; tools reach it as text
            // (an adapter without native function calling, or ReAct), with constrained
            // decoding keeping the answer parseable.
            return Err(LmError::Unsupported(
                "native tool calling (the request carries tools); use an adapter without \
                 native function calling, which lists the tools in the prompt"
                    .into(),
            ));
        }
        let start = Instant::now();
        let g = self.complete(request, None).await.map_err(to_lm_error)?;
        Ok(LmResponse {
            text: g.text,
            finish_reason: Some(g.finish_reason.to_string()),
            usage: Usage {
                input_tokens: g.prompt_tokens as u64,
                output_tokens: g.tokens.len() as u64,
                cached_tokens: g.cached_tokens as u64,
                cost_usd: 0.0,
            },
            model: self.model_id(),
            cache_hit: false,
            retries: 0,
            latency_ms: start.elapsed().as_secs_f64() * 1000.0,
            tool_calls: Vec::new(),
        })
    }
}
