//! The llama forward pass (GQA, RoPE, RMSNorm, SwiGLU, tied or separate output
//! embeddings) over quantized weights, with this crate's own KV cache.

use half::f16;
use rayon::prelude::*;

use crate::error::{LocalError, Result};
use crate::gguf::{GgmlType, Gguf};
use crate::quant::{QMatrix, to_f32_vec};

mod gate_up;
use gate_up::GateUp;

/// Hyper-parameters read from `llama.*` metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub n_layer: usize,
    pub n_ff: usize,
    pub head_dim: usize,
    pub rope_dim: usize,
    pub rope_base: f32,
    pub eps: f32,
    pub n_ctx_train: usize,
    pub vocab: usize,
}

impl LlamaConfig {
    /// Reads the hyper-parameters from `llama.*` metadata and the embedding's shape.
    pub fn from_gguf(g: &Gguf) -> Result<LlamaConfig> {
        let arch = g.get_str("general.architecture").unwrap_or("");
        if arch != "llama" {
            return Err(LocalError::UnsupportedArch(arch.to_string()));
        }
        let u = |k: &str| g.get_u64(&format!("llama.{k}")).map(|v| v as usize);
        let f = |k: &str, d: f32| {
            g.get(&format!("llama.{k}"))
                .and_then(|v| v.as_f64())
                .map(|v| v as f32)
                .unwrap_or(d)
        };
        let n_embd = u("embedding_length")?;
        let n_head = u("attention.head_count")?;
        let n_head_kv = u("attention.head_count_kv").unwrap_or(n_head);
        if n_head == 0 || n_head_kv == 0 || n_embd % n_head != 0 || n_head % n_head_kv != 0 {
            return Err(LocalError::Malformed(format!(
                "bad head counts: {n_head} heads, {n_head_kv} kv heads, width {n_embd}"
            )));
        }
        let head_dim = n_embd / n_head;
        let rope_dim = u("rope.dimension_count").unwrap_or(head_dim);
        if rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(LocalError::Malformed(format!(
                "rope dimension {rope_dim} for head size {head_dim}"
            )));
        }
        let tok = g
            .tensor("token_embd.weight")
            .ok_or_else(|| LocalError::Missing("tensor token_embd.weight".into()))?;
        let vocab = tok.dims.get(1).copied().unwrap_or(1) as usize;
        let cfg = LlamaConfig {
            n_embd,
            n_head,
            n_head_kv,
            n_layer: u("block_count")?,
            n_ff: u("feed_forward_length")?,
            head_dim,
            rope_dim,
            rope_base: f("rope.freq_base", 10000.0),
            eps: f("attention.layer_norm_rms_epsilon", 1e-5),
            n_ctx_train: u("context_length").unwrap_or(2048),
            vocab,
        };
        Ok(cfg)
    }

    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    /// Q, K and V projections as one matrix (rows of Q, then K, then V).
    wqkv: QMatrix,
    wo: QMatrix,
    ffn_norm: Vec<f32>,
    gate_up: GateUp,
    w_down: QMatrix,
}

/// A loaded llama model.
pub struct Llama {
    pub cfg: LlamaConfig,
    tok_embd: QMatrix,
    layers: Vec<Layer>,
    out_norm: Vec<f32>,
    output: Option<QMatrix>,
    /// A LoRA adapter applied to the projections, if one was loaded.
    lora: Option<crate::lora::LoraAdapter>,
}

impl std::fmt::Debug for Llama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llama")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Positions per block of the transposed value cache.
pub const VBLK: usize = 16;

/// KV state of one sequence. Per layer: keys as `len` rows of `kv_dim`; values
/// transposed in blocks of [`VBLK`] positions (`block, column, position % VBLK`), the
/// layout llama.cpp's KQV product reads. Both rounded through f16, as llama.cpp's
/// default F16 cache stores them.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    pub len: usize,
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl KvCache {
    pub fn new(cfg: &LlamaConfig) -> KvCache {
        KvCache {
            len: 0,
            k: vec![Vec::new(); cfg.n_layer],
            v: vec![Vec::new(); cfg.n_layer],
        }
    }

    fn push_v(&mut self, layer: usize, pos: usize, row: &[f32]) {
        let kvd = row.len();
        let vl = &mut self.v[layer];
        let need = (pos / VBLK + 1) * VBLK * kvd;
        if vl.len() < need {
            vl.resize(need, 0.0);
        }
        let base = (pos / VBLK) * VBLK * kvd + pos % VBLK;
        for (c, &x) in row.iter().enumerate() {
            vl[base + c * VBLK] = x;
        }
    }

    /// Drops everything after the first `n` positions.
    pub fn truncate(&mut self, n: usize, kv_dim: usize) {
        if n < self.len {
            self.len = n;
            for l in self.k.iter_mut() {
                l.truncate(n * kv_dim);
            }
            for l in self.v.iter_mut() {
                l.truncate(n.div_ceil(VBLK) * VBLK * kv_dim);
                zero_tail(l, n, kv_dim);
            }
        }
    }

    /// A copy of the first `n` positions.
    pub fn prefix(&self, n: usize, kv_dim: usize) -> KvCache {
        let n = n.min(self.len);
        KvCache {
            len: n,
            k: self.k.iter().map(|l| l[..n * kv_dim].to_vec()).collect(),
            v: self
                .v
                .iter()
                .map(|l| {
                    let mut v = l[..(n.div_ceil(VBLK) * VBLK * kv_dim).min(l.len())].to_vec();
                    zero_tail(&mut v, n, kv_dim);
                    v
                })
                .collect(),
        }
    }

    pub fn size_bytes(&self) -> usize {
        self.k
            .iter()
            .chain(self.v.iter())
            .map(|l| l.capacity() * 4)
            .sum()
    }
}

/// Zeroes the slots of positions `>= n` in the last value block.
fn zero_tail(v: &mut [f32], n: usize, kv_dim: usize) {
    if n.is_multiple_of(VBLK) {
        return;
    }
    let base = (n / VBLK) * VBLK * kv_dim;
    for c in 0..kv_dim {
        for l in n % VBLK..VBLK {
            if let Some(x) = v.get_mut(base + c * VBLK + l) {
                *x = 0.0;
            }
        }
    }
}

fn f16r(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

fn rms_norm(x: &mut [f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let n = w.len();
    for (xr, or) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        let ss: f64 = xr.iter().map(|&v| (v * v) as f64).sum();
        let scale = 1.0 / ((ss / n as f64) as f32 + eps).sqrt();
        for i in 0..n {
            or[i] = xr[i] * scale * w[i];
        }
    }
}

impl Llama {
    /// Loads a llama-architecture model from a parsed GGUF.
    pub fn from_gguf(g: &Gguf) -> Result<Llama> {
        let cfg = LlamaConfig::from_gguf(g)?;
        let (n_embd, vocab) = (cfg.n_embd, cfg.vocab);
        let mat = |name: &str, rows: usize, cols: usize| -> Result<QMatrix> {
            let t = g
                .tensor(name)
                .ok_or_else(|| LocalError::Missing(format!("tensor {name}")))?;
            if t.dims.len() != 2 || t.dims[0] as usize != cols || t.dims[1] as usize != rows {
                return Err(LocalError::Malformed(format!(
                    "tensor {name} has shape {:?}, expected [{cols}, {rows}]",
                    t.dims
                )));
            }
            QMatrix::from_gguf(name, t.ty, rows, cols, g.tensor_data(t))
        };
        let vec = |name: &str, n: usize| -> Result<Vec<f32>> {
            let t = g
                .tensor(name)
                .ok_or_else(|| LocalError::Missing(format!("tensor {name}")))?;
            if t.n_elements() as usize != n {
                return Err(LocalError::Malformed(format!(
                    "tensor {name} has {} elements, expected {n}",
                    t.n_elements()
                )));
            }
            to_f32_vec(t.ty, g.tensor_data(t), n, name)
        };
        let kv = cfg.kv_dim();
        let layers = (0..cfg.n_layer)
            .map(|i| {
                let p = |s: &str| format!("blk.{i}.{s}.weight");
                let (wq, wk, wv) = (
                    mat(&p("attn_q"), n_embd, n_embd)?,
                    mat(&p("attn_k"), kv, n_embd)?,
                    mat(&p("attn_v"), kv, n_embd)?,
                );
                Ok(Layer {
                    attn_norm: vec(&p("attn_norm"), n_embd)?,
                    wqkv: QMatrix::concat_rows(&p("attn_qkv"), &[&wq, &wk, &wv])?,
                    wo: mat(&p("attn_output"), n_embd, n_embd)?,
                    ffn_norm: vec(&p("ffn_norm"), n_embd)?,
                    gate_up: GateUp::new(
                        &p("ffn_gate_up"),
                        mat(&p("ffn_gate"), cfg.n_ff, n_embd)?,
                        mat(&p("ffn_up"), cfg.n_ff, n_embd)?,
                    )?,
                    w_down: mat(&p("ffn_down"), n_embd, cfg.n_ff)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let output = match g.tensor("output.weight") {
            Some(_) => Some(mat("output.weight", vocab, n_embd)?),
            None => None,
        };
        Ok(Llama {
            tok_embd: mat("token_embd.weight", vocab, n_embd)?,
            out_norm: vec("output_norm.weight", n_embd)?,
            layers,
            output,
            cfg,
            lora: None,
        })
    }

    /// Applies the GGUF LoRA adapter at `path` (llama.cpp's layout) to every call.
    pub fn with_lora(mut self, path: &std::path::Path) -> Result<Llama> {
        let c = &self.cfg;
        let (d, kv, ff) = (c.n_embd, c.kv_dim(), c.n_ff);
        let adapter = crate::lora::LoraAdapter::load(path, c.n_layer, |target| match target {
            "attn_k" | "attn_v" => (kv, d),
            "ffn_down" => (d, ff),
            "ffn_gate" | "ffn_up" => (ff, d),
            _ => (d, d),
        })?;
        self.lora = Some(adapter);
        Ok(self)
    }

    /// Whether a LoRA adapter is applied.
    pub fn has_lora(&self) -> bool {
        self.lora.is_some()
    }

    /// Bytes of weights held.
    pub fn size_bytes(&self) -> usize {
        let l: usize = self
            .layers
            .iter()
            .map(|l| {
                [&l.wqkv, &l.wo, &l.w_down]
                    .iter()
                    .map(|m| m.size_bytes())
                    .sum::<usize>()
                    + l.gate_up.size_bytes()
                    + (l.attn_norm.len() + l.ffn_norm.len()) * 4
            })
            .sum();
        l + self.tok_embd.size_bytes() + self.output.as_ref().map_or(0, |o| o.size_bytes())
    }

    /// `(sin, cos)` of each rotation angle at `pos`.
    fn rope_angles(&self, pos: usize, out: &mut [(f32, f32)]) {
        let out = &mut out[..self.cfg.rope_dim / 2];
        let scale = self.cfg.rope_base.powf(-2.0 / self.cfg.rope_dim as f32);
        let mut theta = pos as f32;
        for sc in out.iter_mut() {
            *sc = theta.sin_cos();
            theta *= scale;
        }
    }

    #[inline(always)]
    fn rope(&self, x: &mut [f32], n_heads: usize, angles: &[(f32, f32)]) {
        let hd = self.cfg.head_dim;
        for (i, &(s, c)) in angles[..self.cfg.rope_dim / 2].iter().enumerate() {
            for h in 0..n_heads {
                let b = h * hd + 2 * i;
                let (x0, x1) = (x[b], x[b + 1]);
                // Fused as GCC contracts llama.cpp's `x0*cos - x1*sin`, `x0*sin + x1*cos`.
                x[b] = x0.mul_add(c, -(x1 * s));
                x[b + 1] = x0.mul_add(s, x1 * c);
            }
        }
    }

    /// Runs `tokens` after the positions already in `cache`, appends their KV and
    /// returns the logits of the last token.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        let mut out = self.forward_batch(&mut [SeqInput { tokens, cache }])?;
        out.pop()
            .ok_or_else(|| LocalError::Malformed("forward produced no logits".into()))
    }

    /// One forward pass over several sequences at once, each with its own KV cache and
    /// positions: the weight matrices are read once for every token of every sequence.
    /// Returns the logits of each sequence's last token, in order.
    ///
    /// Each token's arithmetic is the same as in a pass over its sequence alone (the
    /// matrix kernels compute every token independently; attention of a sequence fed a
    /// single token uses the single-token order, as [`Llama::forward`] does), so
    /// batching never changes an answer.
    pub fn forward_batch(&self, seqs: &mut [SeqInput<'_>]) -> Result<Vec<Vec<f32>>> {
        // On a pool thread, so that each parallel region below is a cheap split with
        // the other workers rather than a cross-thread injection and wake-up.
        let mut res = None;
        rayon::scope(|_| res = Some(self.forward_batch_in_pool(seqs)));
        res.unwrap_or_else(|| Err(LocalError::Malformed("forward pass did not run".into())))
    }

    fn forward_batch_in_pool(&self, seqs: &mut [SeqInput<'_>]) -> Result<Vec<Vec<f32>>> {
        let c = &self.cfg;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        if seqs.iter().any(|s| s.tokens.is_empty()) {
            return Err(LocalError::Malformed(
                "forward called with no tokens".into(),
            ));
        }
        if let Some(&bad) = seqs
            .iter()
            .flat_map(|s| s.tokens.iter())
            .find(|&&t| t as usize >= c.vocab)
        {
            return Err(LocalError::Tokenizer(format!(
                "token id {bad} is outside the vocabulary"
            )));
        }
        let (d, kvd, hd) = (c.n_embd, c.kv_dim(), c.head_dim);
        // Per token row: (sequence, position); per sequence: its first row.
        let mut rows: Vec<(usize, usize)> = Vec::new();
        let mut first_row = Vec::with_capacity(seqs.len());
        for (si, s) in seqs.iter().enumerate() {
            first_row.push(rows.len());
            let p0 = s.cache.len;
            rows.extend((0..s.tokens.len()).map(|t| (si, p0 + t)));
        }
        let single: Vec<bool> = seqs.iter().map(|s| s.tokens.len() == 1).collect();
        let t_n = rows.len();
        let mut x = vec![0f32; t_n * d];
        for (xr, &tok) in x
            .chunks_exact_mut(d)
            .zip(seqs.iter().flat_map(|s| s.tokens.iter()))
        {
            self.tok_embd.row_f32(tok as usize, xr);
        }
        let mut xn = vec![0f32; t_n * d];
        let qkvd = d + 2 * kvd;
        let mut qkv = vec![0f32; t_n * qkvd];
        let mut q = vec![0f32; t_n * d];
        let mut k = vec![0f32; t_n * kvd];
        let mut v = vec![0f32; t_n * kvd];
        let mut att = vec![0f32; t_n * d];
        let mut o = vec![0f32; t_n * d];
        let mut gate = vec![0f32; t_n * c.n_ff];
        let group = c.n_head / c.n_head_kv;
        let scale = 1.0 / (hd as f32).sqrt();
        // Rotation angles per token, shared by every layer.
        let half = (c.rope_dim / 2).max(1);
        let mut angles = vec![(0f32, 0f32); t_n * half];
        for (a, &(_, pos)) in angles.chunks_exact_mut(half).zip(&rows) {
            self.rope_angles(pos, a);
        }
        for (li, l) in self.layers.iter().enumerate() {
            rms_norm(&mut x, &l.attn_norm, c.eps, &mut xn);
            l.wqkv.matmul(&xn, t_n, &mut qkv);
            let lora = self.lora.as_ref().map(|a| (&a.layers[li], a.scale));
            if let Some((ll, s)) = lora {
                let adds = [(&ll.q, 0), (&ll.k, d), (&ll.v, d + kvd)];
                for (pair, offset) in adds {
                    if let Some(p) = pair {
                        p.add(&xn, t_n, s, &mut qkv, qkvd, offset);
                    }
                }
            }
            for (t, r) in qkv.chunks_exact(qkvd).enumerate() {
                q[t * d..(t + 1) * d].copy_from_slice(&r[..d]);
                k[t * kvd..(t + 1) * kvd].copy_from_slice(&r[d..d + kvd]);
                v[t * kvd..(t + 1) * kvd].copy_from_slice(&r[d + kvd..]);
            }
            crate::simd::with_fma(|| {
                for (t, a) in angles.chunks_exact(half).enumerate() {
                    self.rope(&mut q[t * d..(t + 1) * d], c.n_head, a);
                    self.rope(&mut k[t * kvd..(t + 1) * kvd], c.n_head_kv, a);
                }
            });
            for (t, &(si, pos)) in rows.iter().enumerate() {
                let cache = &mut *seqs[si].cache;
                let kr = &k[t * kvd..(t + 1) * kvd];
                cache.k[li].extend(kr.iter().map(|&a| f16r(a)));
                let vr: Vec<f32> = v[t * kvd..(t + 1) * kvd].iter().map(|&a| f16r(a)).collect();
                cache.push_v(li, pos, &vr);
            }
            let caches: Vec<&KvCache> = seqs.iter().map(|s| &*s.cache).collect();
            // One task per (token, head).
            att.par_chunks_mut(hd).enumerate().for_each(|(idx, out)| {
                let (t, h) = (idx / c.n_head, idx % c.n_head);
                let (si, pos) = rows[t];
                let (kc, vc) = (&caches[si].k[li], &caches[si].v[li]);
                let kh = h / group;
                let qh: Vec<f32> = q[t * d + h * hd..t * d + (h + 1) * hd]
                    .iter()
                    .map(|&a| f16r(a))
                    .collect();
                crate::simd::attend(&qh, kc, vc, pos + 1, kvd, kh * hd, scale, single[si], out);
            });
            l.wo.matmul(&att, t_n, &mut o);
            if let Some((ll, s)) = lora
                && let Some(p) = &ll.o
            {
                p.add(&att, t_n, s, &mut o, d, 0);
            }
            for (a, b) in x.iter_mut().zip(&o) {
                *a += b;
            }
            rms_norm(&mut x, &l.ffn_norm, c.eps, &mut xn);
            match lora {
                Some((ll, s)) if ll.gate.is_some() || ll.up.is_some() => {
                    let mut up = vec![0f32; gate.len()];
                    l.gate_up.apart(&xn, t_n, &mut gate, &mut up);
                    for (p, out) in [(&ll.gate, &mut gate), (&ll.up, &mut up)] {
                        if let Some(p) = p {
                            p.add(&xn, t_n, s, out, c.n_ff, 0);
                        }
                    }
                    crate::simd::with_fma(|| {
                        for (g, u) in gate.iter_mut().zip(&up) {
                            *g = crate::quant::swiglu(*g, *u);
                        }
                    });
                }
                _ => l.gate_up.swiglu(&xn, t_n, &mut gate),
            }
            l.w_down.matmul(&gate, t_n, &mut o);
            if let Some((ll, s)) = lora
                && let Some(p) = &ll.down
            {
                p.add(&gate, t_n, s, &mut o, d, 0);
            }
            for (a, b) in x.iter_mut().zip(&o) {
                *a += b;
            }
        }
        for s in seqs.iter_mut() {
            s.cache.len += s.tokens.len();
        }
        // The last token of each sequence goes through the output head, all at once.
        let n_seq = seqs.len();
        let mut normed = vec![0f32; n_seq * d];
        for (si, s) in seqs.iter().enumerate() {
            let r = first_row[si] + s.tokens.len() - 1;
            rms_norm(
                &mut x[r * d..(r + 1) * d],
                &self.out_norm,
                c.eps,
                &mut normed[si * d..(si + 1) * d],
            );
        }
        let mut logits = vec![0f32; n_seq * c.vocab];
        self.output
            .as_ref()
            .unwrap_or(&self.tok_embd)
            .matmul(&normed, n_seq, &mut logits);
        Ok(logits.chunks_exact(c.vocab).map(<[f32]>::to_vec).collect())
    }
}

/// One sequence of a batched forward pass: new tokens and the KV cache they extend.
pub struct SeqInput<'a> {
    pub tokens: &'a [u32],
    pub cache: &'a mut KvCache,
}

/// Whether `ty` is a type this engine computes with.
pub fn check_type(ty: GgmlType) -> bool {
    ty.supported()
}
