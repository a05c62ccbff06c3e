//! The BERT encoder forward pass (embeddings, post-LayerNorm encoder layers with exact
//! erf GELU), mean pooling and L2 normalisation, as sentence-transformers computes
//! all-MiniLM-L6-v2.
//!
//! A batch is *packed*, not padded: the tokens of all its sentences sit one after another
//! in one `[tokens × hidden]` matrix, so every linear layer is one GEMM over real tokens
//! only, and attention runs within each sentence. Mean pooling over the real tokens is
//! exactly sentence-transformers' mean over the attention mask of a padded batch.

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

    /// `x` is `m × k`; returns `m × n`. Rows are split across rayon workers.
    fn forward(&self, x: &[f32], m: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * self.n];
        let rows = rows_per_task(m);
        out.par_chunks_mut(rows * self.n)
            .zip(x.par_chunks(rows * self.k))
            .for_each(|(o, a)| {
                sgemm_packed(
                    a,
                    a.len() / self.k,
                    self.k,
                    &self.packed,
                    self.n,
                    &self.bias,
                    o,
                )
            });
        out
    }
}

/// Rows per GEMM task: a multiple of the 12-row kernel, enough tasks for the pool,
/// no more than 192 rows so a task's slice of the input stays in L2.
fn rows_per_task(m: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let per = m.div_ceil(threads * 2).div_ceil(12) * 12;
    per.clamp(12, 192)
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    fn apply_rows(&self, x: &mut [f32]) {
        let h = self.gamma.len();
        x.par_chunks_mut(h)
            .with_min_len(32)
            .for_each(|row| self.apply(row));
    }

    fn apply(&self, row: &mut [f32]) {
        layer_norm(row, &self.gamma, &self.beta, self.eps)
    }
}

/// `row ← (row − mean) / √(var + eps) · gamma + beta`.
#[inline(always)]
pub(crate) fn layer_norm_impl(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
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
    /// longer than `max_position_embeddings`, ids below `vocab_size`: the caller checks).
    pub fn embed_packed(&self, seqs: &[Vec<u32>]) -> Vec<Vec<f32>> {
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
        x.par_chunks_mut(h)
            .zip(owner.par_iter())
            .enumerate()
            .with_min_len(32)
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

        for layer in &self.layers {
            x = self.layer_forward(layer, x, &spans, total);
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

    fn layer_forward(
        &self,
        l: &Layer,
        x: Vec<f32>,
        spans: &[(usize, usize)],
        total: usize,
    ) -> Vec<f32> {
        let h = self.config.hidden_size;
        let heads = self.config.num_attention_heads;
        let qkv = l.qkv.forward(&x, total);
        let ctx = attention(&qkv, spans, total, h, heads);
        let mut y = l.attn_out.forward(&ctx, total);
        add_assign(&mut y, &x);
        l.attn_norm.apply_rows(&mut y);
        let mut up = l.up.forward(&y, total);
        up.par_chunks_mut(4096).for_each(gelu);
        let mut z = l.down.forward(&up, total);
        add_assign(&mut z, &y);
        l.out_norm.apply_rows(&mut z);
        z
    }
}

fn add_assign(y: &mut [f32], x: &[f32]) {
    y.par_chunks_mut(8192)
        .zip(x.par_chunks(8192))
        .for_each(|(y, x)| y.iter_mut().zip(x).for_each(|(a, b)| *a += b));
}

/// Multi-head self-attention within each sentence: `qkv` is `total × 3h` (queries, keys,
/// values), the result `total × h`. One task per (sentence, head), run in parallel.
fn attention(
    qkv: &[f32],
    spans: &[(usize, usize)],
    total: usize,
    h: usize,
    heads: usize,
) -> Vec<f32> {
    let d = h / heads;
    let tasks: Vec<(usize, usize)> = spans
        .iter()
        .enumerate()
        .flat_map(|(s, _)| (0..heads).map(move |hd| (s, hd)))
        .collect();
    let blocks: Vec<Vec<f32>> = tasks
        .par_iter()
        .map(|&(s, hd)| attend_head(qkv, spans[s], h, hd, d))
        .collect();
    let mut ctx = vec![0f32; total * h];
    for (&(s, hd), block) in tasks.iter().zip(&blocks) {
        let (start, len) = spans[s];
        for (i, row) in block.chunks_exact(d).enumerate().take(len) {
            let t = start + i;
            ctx[t * h + hd * d..t * h + (hd + 1) * d].copy_from_slice(row);
        }
    }
    ctx
}

/// One head of one sentence: `len × d` outputs. Keys are gathered transposed (`d × len`)
/// and values contiguous (`len × d`), so scores and the weighted sum of values are
/// vector loops over adjacent floats with no horizontal sums. Inlined into the caller's
/// AVX-512 scope.
#[inline(always)]
pub(crate) fn attend_head_impl(
    qkv: &[f32],
    (start, len): (usize, usize),
    h: usize,
    hd: usize,
    d: usize,
) -> Vec<f32> {
    let stride = 3 * h;
    let scale = 1.0 / (d as f32).sqrt();
    let mut kt = vec![0f32; d * len];
    let mut v = Vec::with_capacity(len * d);
    for j in 0..len {
        let row = (start + j) * stride + hd * d;
        for (c, &x) in qkv[row + h..row + h + d].iter().enumerate() {
            kt[c * len + j] = x;
        }
        v.extend_from_slice(&qkv[row + 2 * h..row + 2 * h + d]);
    }
    let mut out = vec![0f32; len * d];
    let mut scores = vec![0f32; len];
    for (i, o) in out.chunks_exact_mut(d).enumerate() {
        let row = (start + i) * stride + hd * d;
        let q = &qkv[row..row + d];
        scores.fill(0.0);
        for (&qc, kc) in q.iter().zip(kt.chunks_exact(len)) {
            let qc = qc * scale;
            for (s, &k) in scores.iter_mut().zip(kc) {
                *s += qc * k;
            }
        }
        // Lane-wise max and sum: a plain fold is a serial chain the compiler keeps scalar.
        let mut lanes = [f32::NEG_INFINITY; 16];
        for chunk in scores.chunks(16) {
            for (l, &s) in lanes.iter_mut().zip(chunk) {
                *l = l.max(s);
            }
        }
        let max = lanes.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l));
        for s in scores.iter_mut() {
            *s = exp_neg(max - *s);
        }
        let mut sums = [0f32; 16];
        for chunk in scores.chunks(16) {
            for (l, &s) in sums.iter_mut().zip(chunk) {
                *l += s;
            }
        }
        let inv = 1.0 / sums.iter().sum::<f32>();
        if d == 32 {
            // The common head size: the accumulator stays in two vector registers.
            let mut acc = [0f32; 32];
            for (&p, vj) in scores.iter().zip(v.chunks_exact(32)) {
                for (a, b) in acc.iter_mut().zip(vj) {
                    *a += p * b;
                }
            }
            for (o, a) in o.iter_mut().zip(acc) {
                *o = a * inv;
            }
        } else {
            for (&p, vj) in scores.iter().zip(v.chunks_exact(d)) {
                for (a, b) in o.iter_mut().zip(vj) {
                    *a += p * b;
                }
            }
            o.iter_mut().for_each(|a| *a *= inv);
        }
    }
    out
}

/// Exact (erf) GELU: `x · ½ · (1 + erf(x / √2))`.
#[inline(always)]
pub(crate) fn gelu_impl(xs: &mut [f32]) {
    for x in xs {
        *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// erf to about 3e-7 absolute error (Abramowitz & Stegun 7.1.26, 1.5e-7, plus f32
/// rounding), branch-free so
/// the compiler vectorises it.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp_neg(a * a);
    y.copysign(x)
}

/// `e^-x` for `x ≥ 0` without a libm call: 2^n · e^r with |r| ≤ ln2/2 and a degree-6
/// Taylor polynomial (relative error < 2e-7); underflows to 0 past x = 87.
#[inline(always)]
fn exp_neg(x: f32) -> f32 {
    let x = (-x).max(-87.0);
    // Round to nearest with the 1.5·2^23 trick: `t`'s low mantissa bits then hold the
    // integer n, read back as bits below (no libm `roundf`, no float→int conversion, so
    // loops over this vectorise).
    const MAGIC: f32 = 12_582_912.0;
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    // ln 2 split in two (Cody–Waite): n·LN2_HI is exact, so r keeps its precision.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r / 720.0)))));
    let n_bits = t.to_bits().wrapping_sub(MAGIC.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    p * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Maclaurin series in f64 (converges well for |x| < 4).
    fn erf_ref(x: f64) -> f64 {
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_is_accurate() {
        for i in -400..=400 {
            let x = i as f32 / 100.0;
            let got = erf(x) as f64;
            let want = erf_ref(x as f64);
            assert!((got - want).abs() < 4e-7, "erf({x}) = {got}, want {want}");
        }
        assert_eq!(erf(20.0), 1.0);
        assert_eq!(erf(-20.0), -1.0);
    }

    #[test]
    fn exp_neg_is_accurate() {
        for i in 0..=800 {
            let x = i as f32 / 10.0;
            let want = (-(x as f64)).exp();
            let got = exp_neg(x) as f64;
            assert!(
                (got - want).abs() <= 5e-7 * want + 1e-38,
                "exp(-{x}) = {got}, want {want}"
            );
        }
    }

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
