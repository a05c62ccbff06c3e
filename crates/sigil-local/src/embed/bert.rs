//! The BERT encoder forward pass (embeddings, post-LayerNorm encoder layers with exact
//! erf GELU), mean pooling and L2 normalisation, as sentence-transformers computes
//! all-MiniLM-L6-v2.
//!
//! A batch is *packed*, not padded: the tokens of all its sentences sit one after another
//! in one `[tokens × hidden]` matrix, so every linear layer is one GEMM over real tokens
//! only, and attention runs within each sentence. Mean pooling over the real tokens is
//! exactly sentence-transformers' mean over the attention mask of a padded batch.

use std::cell::Cell;

use rayon::prelude::*;
use serde::Deserialize;

use super::EmbedError;
use super::safetensors::SafeTensors;
use crate::simd::{SGEMM_NR, attend_head, gelu, layer_norm, sgemm_packed};

/// The fields of `config.json` the forward pass needs.
#[derive(Clone, Debug, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f32,
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f32 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

/// Takes a tensor by name and shape out of the checkpoint.
type TakeFn<'a> = dyn FnMut(&str, &[usize]) -> Result<Vec<f32>, EmbedError> + 'a;

/// A linear layer `y = x Wᵀ + b` with `W` packed in 32-column panels for the GEMM kernel.
struct Linear {
    packed: Vec<f32>,
    bias: Vec<f32>,
    n: usize,
    k: usize,
}

/// Packs an `n × k` row-major weight into the panel layout of [`sgemm_packed`].
pub(crate) fn pack_weights(w: &[f32], n: usize, k: usize) -> Vec<f32> {
    let mut packed = vec![0f32; n * k];
    for p in 0..n / SGEMM_NR {
        for kk in 0..k {
            for j in 0..SGEMM_NR {
                packed[(p * k + kk) * SGEMM_NR + j] = w[(p * SGEMM_NR + j) * k + kk];
            }
        }
    }
    packed
}

impl Linear {
    fn new(w: Vec<f32>, bias: Vec<f32>, n: usize, k: usize) -> Result<Self, EmbedError> {
        if !n.is_multiple_of(SGEMM_NR) {
            return Err(EmbedError::Config(format!(
                "layer width {n} is not a multiple of {SGEMM_NR}"
            )));
        }
        Ok(Linear {
            packed: pack_weights(&w, n, k),
            bias,
            n,
            k,
        })
    }

    /// `out[m × n] = x[m × k] Wᵀ + b` on the calling thread.
    fn gemm(&self, x: &[f32], m: usize, out: &mut [f32]) {
        sgemm_packed(x, m, self.k, &self.packed, self.n, &self.bias, out)
    }

    /// As [`Linear::gemm`], rows split across rayon workers when `par`.
    fn forward_into(&self, par: bool, x: &[f32], m: usize, out: &mut [f32]) {
        let rows = rows_per_task(m);
        zip_chunks(
            par,
            &mut out[..m * self.n],
            rows * self.n,
            &x[..m * self.k],
            rows * self.k,
            |o, a| self.gemm(a, a.len() / self.k, o),
        );
    }
}

/// `f` on matching chunks of `out` and `inp` (`out_len` and `in_len` floats), on rayon
/// workers when `par`, else in order on this thread.
fn zip_chunks(
    par: bool,
    out: &mut [f32],
    out_len: usize,
    inp: &[f32],
    in_len: usize,
    f: impl Fn(&mut [f32], &[f32]) + Sync + Send,
) {
    if par {
        out.par_chunks_mut(out_len)
            .zip(inp.par_chunks(in_len))
            .for_each(|(o, a)| f(o, a));
    } else {
        out.chunks_mut(out_len)
            .zip(inp.chunks(in_len))
            .for_each(|(o, a)| f(o, a));
    }
}

/// Rows per GEMM task: a multiple of the 12-row kernel, enough tasks for the pool,
/// no more than 192 rows so a task's slice of the input stays in L2.
fn rows_per_task(m: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let per = m.div_ceil(threads * 2).div_ceil(12) * 12;
    per.clamp(12, 192)
}

/// Rows per block of the fused attention-output + feed-forward step: the block's
/// `rows × intermediate` activations (96 × 1536 floats, 590 KB) stay in L2 between the
/// up and down projections.
const FFN_ROWS: usize = 96;

thread_local! {
    /// Per-thread scratch of the feed-forward blocks (reused; taken while in use, so a
    /// nested use on the same thread just allocates its own).
    static FFN_SCRATCH: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch buffer `slot`, grown to at least `len` floats
/// (contents unspecified: `f` must write before it reads).
#[inline(always)]
fn with_scratch<R>(
    slot: &'static std::thread::LocalKey<Cell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    let mut buf = slot.with(Cell::take);
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let r = f(&mut buf[..len]);
    slot.with(|c| c.set(buf));
    r
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    fn apply(&self, row: &mut [f32]) {
        layer_norm(row, &self.gamma, &self.beta, self.eps)
    }
}

struct Layer {
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    up: Linear,
    down: Linear,
    out_norm: LayerNorm,
}

/// BERT weights, ready to run.
pub struct Bert {
    pub config: BertConfig,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl Bert {
    /// Builds the model from a `BertModel` checkpoint (names with or without `bert.`).
    pub fn from_safetensors(config: BertConfig, mut st: SafeTensors) -> Result<Self, EmbedError> {
        let c = &config;
        if c.hidden_act != "gelu" {
            return Err(EmbedError::Config(format!(
                "hidden_act {:?} is not supported (only the exact \"gelu\")",
                c.hidden_act
            )));
        }
        if c.num_attention_heads == 0 || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            return Err(EmbedError::Config(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                c.hidden_size, c.num_attention_heads
            )));
        }
        let prefix = if st.contains("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let mut take = |name: &str, shape: &[usize]| st.take(&format!("{prefix}{name}"), shape);
        let norm = |take: &mut TakeFn<'_>, name: &str| -> Result<LayerNorm, EmbedError> {
            Ok(LayerNorm {
                gamma: take(&format!("{name}.weight"), &[h])?,
                beta: take(&format!("{name}.bias"), &[h])?,
                eps: c.layer_norm_eps,
            })
        };
        let word = take("embeddings.word_embeddings.weight", &[c.vocab_size, h])?;
        let position = take(
            "embeddings.position_embeddings.weight",
            &[c.max_position_embeddings, h],
        )?;
        let token_type = take(
            "embeddings.token_type_embeddings.weight",
            &[c.type_vocab_size, h],
        )?;
        let emb_norm = norm(&mut take, "embeddings.LayerNorm")?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let mut w = Vec::with_capacity(3 * h * h);
            let mut b = Vec::with_capacity(3 * h);
            for part in ["query", "key", "value"] {
                w.extend(take(&format!("{p}.attention.self.{part}.weight"), &[h, h])?);
                b.extend(take(&format!("{p}.attention.self.{part}.bias"), &[h])?);
            }
            // Attention scores are q·k / √d: the 1/√d is folded into the query
            // projection here, so attention itself does not scale.
            let scale = 1.0 / ((h / c.num_attention_heads) as f32).sqrt();
            w[..h * h].iter_mut().for_each(|v| *v *= scale);
            b[..h].iter_mut().for_each(|v| *v *= scale);
            let qkv = Linear::new(w, b, 3 * h, h)?;
            let attn_out = Linear::new(
                take(&format!("{p}.attention.output.dense.weight"), &[h, h])?,
                take(&format!("{p}.attention.output.dense.bias"), &[h])?,
                h,
                h,
            )?;
            let attn_norm = norm(&mut take, &format!("{p}.attention.output.LayerNorm"))?;
            let up = Linear::new(
                take(&format!("{p}.intermediate.dense.weight"), &[f, h])?,
                take(&format!("{p}.intermediate.dense.bias"), &[f])?,
                f,
                h,
            )?;
            let down = Linear::new(
                take(&format!("{p}.output.dense.weight"), &[h, f])?,
                take(&format!("{p}.output.dense.bias"), &[h])?,
                h,
                f,
            )?;
            let out_norm = norm(&mut take, &format!("{p}.output.LayerNorm"))?;
            layers.push(Layer {
                qkv,
                attn_out,
                attn_norm,
                up,
                down,
                out_norm,
            });
        }
        Ok(Bert {
            config,
            word,
            position,
            token_type,
            emb_norm,
            layers,
        })
    }

    /// Pooled, L2-normalised embeddings of token sequences (each `[CLS] … [SEP]`, no
    /// longer than `max_position_embeddings`, ids below `vocab_size`: the caller checks),
    /// the work of each layer spread over rayon's threads.
    pub fn embed_packed(&self, seqs: &[Vec<u32>]) -> Vec<Vec<f32>> {
        self.embed_batch(seqs, true)
    }

    /// As [`Bert::embed_packed`], with the work inside the batch on rayon's threads only
    /// when `par`: callers running many batches in parallel pass `false`, so each
    /// thread runs whole batches without waiting on the others between steps.
    pub fn embed_batch(&self, seqs: &[Vec<u32>], par: bool) -> Vec<Vec<f32>> {
        let h = self.config.hidden_size;
        let mut spans = Vec::with_capacity(seqs.len());
        let mut total = 0;
        for s in seqs {
            spans.push((total, s.len()));
            total += s.len();
        }
        // The sentence each token belongs to: (first token, length).
        let mut owner = Vec::with_capacity(total);
        for &(start, len) in &spans {
            owner.extend(std::iter::repeat_n((start, len), len));
        }

        let ids: Vec<u32> = seqs.concat();
        let mut x = vec![0f32; total * h];
        x.chunks_mut(h)
            .zip(&owner)
            .enumerate()
            .for_each(|(t, (row, &(start, _)))| {
                let id = ids[t] as usize;
                let pos = t - start;
                let w = &self.word[id * h..(id + 1) * h];
                let p = &self.position[pos * h..(pos + 1) * h];
                let ty = &self.token_type[..h];
                for (((o, a), b), c) in row.iter_mut().zip(w).zip(p).zip(ty) {
                    *o = a + b + c;
                }
                self.emb_norm.apply(row);
            });

        // Buffers shared by the layers: the queries/keys/values and the attention output.
        let mut qkv = vec![0f32; total * 3 * h];
        let mut ctx = vec![0f32; total * h];
        for layer in &self.layers {
            self.layer_forward(par, layer, &mut x, &mut qkv, &mut ctx, &spans, total);
        }

        spans
            .iter()
            .map(|&(start, len)| {
                let mut v = vec![0f32; h];
                for row in x[start * h..(start + len) * h].chunks_exact(h) {
                    for (o, a) in v.iter_mut().zip(row) {
                        *o += a;
                    }
                }
                let inv_len = 1.0 / len.max(1) as f32;
                v.iter_mut().for_each(|a| *a *= inv_len);
                let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|a| *a /= norm);
                v
            })
            .collect()
    }

    /// One encoder layer, updating `x` (`total × h`) in place: the QKV projection (rows
    /// in parallel), attention (sentence × head tasks in parallel), then per block of
    /// [`FFN_ROWS`] rows: output projection, residual, LayerNorm, feed-forward, residual,
    /// LayerNorm, with the block's intermediate activations kept in cache.
    #[allow(clippy::too_many_arguments)]
    fn layer_forward(
        &self,
        par: bool,
        l: &Layer,
        x: &mut [f32],
        qkv: &mut [f32],
        ctx: &mut [f32],
        spans: &[(usize, usize)],
        total: usize,
    ) {
        let h = self.config.hidden_size;
        let f = self.config.intermediate_size;
        let heads = self.config.num_attention_heads;
        l.qkv.forward_into(par, x, total, qkv);
        attention(par, qkv, spans, h, heads, ctx);
        zip_chunks(par, x, FFN_ROWS * h, ctx, FFN_ROWS * h, |xb, cb| {
            let m = xb.len() / h;
            with_scratch(&FFN_SCRATCH, m * (h + f), |buf| {
                let (y, up) = buf.split_at_mut(m * h);
                l.attn_out.gemm(cb, m, y);
                add_assign(y, xb);
                y.chunks_exact_mut(h).for_each(|r| l.attn_norm.apply(r));
                l.up.gemm(y, m, up);
                gelu(up);
                l.down.gemm(up, m, xb);
                add_assign(xb, y);
                xb.chunks_exact_mut(h).for_each(|r| l.out_norm.apply(r));
            })
        });
    }
}

fn add_assign(y: &mut [f32], x: &[f32]) {
    y.iter_mut().zip(x).for_each(|(a, b)| *a += b);
}

/// Multi-head self-attention within each sentence: `qkv` is `total × 3h` (queries,
/// pre-scaled by 1/√d, keys, values), `ctx` receives `total × h`. One task per
/// (sentence, head), run in parallel when `par`.
fn attention(
    par: bool,
    qkv: &[f32],
    spans: &[(usize, usize)],
    h: usize,
    heads: usize,
    ctx: &mut [f32],
) {
    let d = h / heads;
    let tasks: Vec<(usize, usize)> = spans
        .iter()
        .enumerate()
        .flat_map(|(s, _)| (0..heads).map(move |hd| (s, hd)))
        .collect();
    let run = |&(s, hd): &(usize, usize)| attend_head(qkv, spans[s], h, hd, d);
    let blocks: Vec<Vec<f32>> = if par {
        tasks.par_iter().map(run).collect()
    } else {
        tasks.iter().map(run).collect()
    };
    for (&(s, hd), block) in tasks.iter().zip(&blocks) {
        let (start, len) = spans[s];
        for (i, row) in block.chunks_exact(d).enumerate().take(len) {
            let t = start + i;
            ctx[t * h + hd * d..t * h + (hd + 1) * d].copy_from_slice(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_norm_normalises() {
        let ln = LayerNorm {
            gamma: vec![1.0; 4],
            beta: vec![0.5; 4],
            eps: 1e-12,
        };
        let mut row = vec![1.0, 2.0, 3.0, 4.0];
        ln.apply(&mut row);
        let mean: f32 = row.iter().sum::<f32>() / 4.0;
        assert!((mean - 0.5).abs() < 1e-6);
        assert!((row[3] - row[0] - 2.0 * 1.5 / 1.25f32.sqrt()).abs() < 1e-5);
    }
}
