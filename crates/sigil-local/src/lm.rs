//! [`LocalLm`]: the embedded engine behind Sigil's [`Lm`] trait.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use sigil::lm::{Lm, LmError, LmRequest, LmResponse, OutputConstraint, Usage};

use crate::constraint::Grammar;
use crate::engine::Model;
use crate::error::{LocalError, Result};
use crate::prefix::PrefixCache;
use crate::resolve::{ModelSpec, resolve};
use crate::sampler::{Rng, SamplingParams, sample};

/// Settings of a [`LocalLm`].
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// Context length (prompt + answer), capped by the model's training context.
    pub n_ctx: usize,
    /// Answer length when the request sets none.
    pub default_max_tokens: u32,
    /// Memory budget of the prefix KV cache, in bytes (0 disables it).
    pub prefix_cache_bytes: usize,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            n_ctx: 4096,
            default_max_tokens: 512,
            prefix_cache_bytes: 256 << 20,
        }
    }
}

/// A GGUF model run in-process.
pub struct LocalLm {
    model: Arc<Model>,
    config: LocalConfig,
    prefix: Arc<Mutex<PrefixCache>>,
    /// One generation at a time: the kernels already use every core.
    busy: Arc<tokio::sync::Mutex<()>>,
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
    /// Loads the model at `path`.
    pub fn load(path: &Path, config: LocalConfig) -> Result<LocalLm> {
        let model = Arc::new(Model::load(path)?);
        let kv_dim = model.llama.cfg.kv_dim();
        Ok(LocalLm {
            model,
            prefix: Arc::new(Mutex::new(PrefixCache::new(
                config.prefix_cache_bytes,
                kv_dim,
            ))),
            config,
            busy: Arc::new(tokio::sync::Mutex::new(())),
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
        &self.model
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes held by the prefix cache.
    pub fn prefix_cache_bytes(&self) -> usize {
        self.prefix.lock().map(|p| p.used_bytes()).unwrap_or(0)
    }

    fn n_ctx(&self) -> usize {
        self.config
            .n_ctx
            .min(self.model.llama.cfg.n_ctx_train)
            .max(16)
    }

    /// Runs one request to completion (blocking; uses every core).
    pub fn generate(&self, req: &LmRequest) -> Result<Generation> {
        let m = &self.model;
        let prompt = m.template.render(&req.messages)?;
        let tokens = m.tokenizer.encode(&prompt, true);
        if tokens.is_empty() {
            return Err(LocalError::Tokenizer("the prompt is empty".into()));
        }
        let n_ctx = self.n_ctx();
        let want = req
            .params
            .max_tokens
            .unwrap_or(self.config.default_max_tokens) as usize;
        if tokens.len() >= n_ctx {
            return Err(LocalError::ContextOverflow {
                prompt: tokens.len(),
                context: n_ctx,
                reserve: 1,
            });
        }
        let max_tokens = want.min(n_ctx - tokens.len());
        let grammar = match &req.constraint {
            Some(c) => Some(Grammar::compile(c)?),
            None => None,
        };
        let params = SamplingParams {
            temperature: req.params.temperature.unwrap_or(0.0) as f32,
            top_p: req.params.top_p.unwrap_or(1.0) as f32,
        };
        let seed = req.params.seed.unwrap_or_else(|| {
            if params.temperature > 0.0 {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0)
            } else {
                0
            }
        });
        let mut rng = Rng::new(seed ^ req.rollout_id.unwrap_or(0).wrapping_mul(0x9e37_79b9));

        let (mut cache, cached) = match self.prefix.lock().ok().and_then(|mut p| p.lookup(&tokens))
        {
            Some(kv) => {
                let n = kv.len;
                (kv, n)
            }
            None => (m.new_cache(), 0),
        };
        let mut logits = m.llama.forward(&tokens[cached..], &mut cache)?;
        if self.config.prefix_cache_bytes > 0
            && let Ok(mut p) = self.prefix.lock()
        {
            p.insert(&tokens, &cache);
        }

        let tk = &m.tokenizer;
        let mut state = grammar.as_ref().map(|g| g.start());
        let mut out_tokens = Vec::new();
        let mut bytes: Vec<u8> = Vec::new();
        let mut finish = "length";
        let mut text_override: Option<String> = None;
        while out_tokens.len() < max_tokens {
            if let Some(st) = &state
                && st.finished()
            {
                finish = "stop";
                break;
            }
            // A literal the constraint forces (field headers, separators, JSON keys):
            // append its tokens and run them as one batch instead of sampling each.
            if let Some(st) = &mut state {
                let forced = st.forced().to_string();
                if forced.chars().count() >= 2 {
                    let toks = tk.encode(&forced, false);
                    if !toks.is_empty()
                        && out_tokens.len() + toks.len() <= max_tokens
                        && st.feed(&forced)
                    {
                        out_tokens.extend_from_slice(&toks);
                        bytes.extend_from_slice(forced.as_bytes());
                        if st.finished() {
                            finish = "stop";
                            break;
                        }
                        if out_tokens.len() >= max_tokens {
                            break;
                        }
                        logits = m.llama.forward(&toks, &mut cache)?;
                        continue;
                    }
                }
            }
            let tok = match &state {
                None => {
                    let mut cands: Vec<(u32, f32)> = if params.temperature <= 0.0 {
                        vec![(crate::sampler::argmax(&logits), 0.0)]
                    } else {
                        logits
                            .iter()
                            .enumerate()
                            .map(|(i, &l)| (i as u32, l))
                            .collect()
                    };
                    sample(&mut cands, &params, &mut rng).unwrap_or(tk.eos)
                }
                Some(st) => {
                    let limit = if params.temperature <= 0.0 { 1 } else { 64 };
                    // Best tokens first: the top 512 by logit, then (rarely) the rest.
                    let by_logit = |a: &u32, b: &u32| {
                        logits[*b as usize]
                            .total_cmp(&logits[*a as usize])
                            .then(a.cmp(b))
                    };
                    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
                    let top = 512.min(order.len());
                    if top < order.len() {
                        order.select_nth_unstable_by(top, by_logit);
                    }
                    order[..top].sort_unstable_by(by_logit);
                    let mut cands = Vec::new();
                    for phase in 0..2 {
                        let range = if phase == 0 {
                            0..top
                        } else {
                            if !cands.is_empty() || top == order.len() {
                                break;
                            }
                            order[top..].sort_unstable_by(by_logit);
                            top..order.len()
                        };
                        for &t in &order[range] {
                            let ok = if tk.stop_tokens.contains(&t) {
                                st.accepting()
                            } else {
                                let b = tk.token_bytes(t);
                                !b.is_empty()
                                    && std::str::from_utf8(b).is_ok_and(|s| st.clone().feed(s))
                            };
                            if ok {
                                cands.push((t, logits[t as usize]));
                                if cands.len() >= limit {
                                    break;
                                }
                            }
                        }
                    }
                    match sample(&mut cands, &params, &mut rng) {
                        Some(t) => t,
                        None => {
                            // No token continues the constraint: finish it by text.
                            finish = "stop";
                            break;
                        }
                    }
                }
            };
            if tk.stop_tokens.contains(&tok) {
                finish = "stop";
                break;
            }
            out_tokens.push(tok);
            bytes.extend_from_slice(tk.token_bytes(tok));
            if let Some(st) = &mut state {
                let s = std::str::from_utf8(tk.token_bytes(tok)).unwrap_or("");
                st.feed(s);
            }
            if !req.params.stop.is_empty() {
                let text = String::from_utf8_lossy(&bytes);
                if let Some(pos) = req
                    .params
                    .stop
                    .iter()
                    .filter(|s| !s.is_empty())
                    .filter_map(|s| text.find(s.as_str()))
                    .min()
                {
                    text_override = Some(text[..pos].to_string());
                    finish = "stop";
                    break;
                }
            }
            if out_tokens.len() >= max_tokens {
                break;
            }
            logits = m.llama.forward(&[tok], &mut cache)?;
        }
        let mut text =
            text_override.unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        if let Some(st) = &state
            && !st.accepting()
        {
            // Out of budget (or stopped) mid-structure: complete it so the answer parses.
            text.push_str(&st.completion());
        }
        Ok(Generation {
            text,
            tokens: out_tokens,
            finish_reason: finish,
            prompt_tokens: tokens.len(),
            cached_tokens: cached,
        })
    }
}

fn to_lm_error(e: LocalError) -> LmError {
    match e {
        LocalError::Constraint(m) => LmError::Unsupported(format!("constraint: {m}")),
        other => LmError::Other(format!("local model: {other}")),
    }
}

#[async_trait]
impl Lm for LocalLm {
    fn model_id(&self) -> String {
        format!(
            "local/{}",
            self.path
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.model.name.clone())
        )
    }

    fn supports_constraint(&self, constraint: &OutputConstraint) -> bool {
        Grammar::compile(constraint).is_ok()
    }

    async fn call(&self, request: LmRequest) -> std::result::Result<LmResponse, LmError> {
        let start = Instant::now();
        let _guard = self.busy.lock().await;
        let this = LocalLm {
            model: self.model.clone(),
            config: self.config.clone(),
            prefix: self.prefix.clone(),
            busy: self.busy.clone(),
            path: self.path.clone(),
        };
        let g = tokio::task::spawn_blocking(move || this.generate(&request))
            .await
            .map_err(|e| LmError::Other(format!("local model task failed: {e}")))?
            .map_err(to_lm_error)?;
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
        })
    }
}
