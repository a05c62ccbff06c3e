//! The frozen base model: GGUF weights dequantized to f32 candle tensors, and the
//! llama forward pass over them with an optional LoRA adapter.
//!
//! The layout follows the GGUF file, not Hugging Face's: Q and K rows are already
//! permuted for llama.cpp's rotary embedding, which rotates adjacent pairs
//! (`x[2i]`, `x[2i+1]`), so that is the rotation used here, and an adapter trained on
//! these weights is in the space llama.cpp applies it in.

use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use sigil_local::gguf::Gguf;
use sigil_local::model::LlamaConfig;
use sigil_local::quant::{QMatrix, to_f32_vec};

use crate::error::{FinetuneError, Result};
use crate::lora::{LoraAdapter, Target};
use crate::ops::{causal_softmax, frozen_linear};

/// One transformer block's frozen weights; matrices are `(out, in)`.
struct Block {
    attn_norm: Tensor,
    wq: Tensor,
    wk: Tensor,
    wv: Tensor,
    wo: Tensor,
    ffn_norm: Tensor,
    w_gate: Tensor,
    w_up: Tensor,
    w_down: Tensor,
}

impl Block {
    fn weight(&self, t: Target) -> &Tensor {
        match t {
            Target::AttnQ => &self.wq,
            Target::AttnK => &self.wk,
            Target::AttnV => &self.wv,
            Target::AttnOutput => &self.wo,
            Target::FfnGate => &self.w_gate,
            Target::FfnUp => &self.w_up,
            Target::FfnDown => &self.w_down,
        }
    }
}

/// A llama-architecture GGUF model as frozen f32 tensors on the CPU.
pub struct BaseModel {
    /// Hyper-parameters, read by `sigil-local` from the GGUF metadata.
    pub cfg: LlamaConfig,
    tok_embd: Tensor,
    blocks: Vec<Block>,
    out_norm: Tensor,
    /// `None` when the output head is tied to the token embedding.
    output: Option<Tensor>,
    device: Device,
}

impl std::fmt::Debug for BaseModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaseModel")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Dequantizes a GGUF matrix (`dims = [cols, rows]`) into a `(rows, cols)` tensor.
fn matrix(g: &Gguf, name: &str, device: &Device) -> Result<Tensor> {
    let t = g
        .tensor(name)
        .ok_or_else(|| FinetuneError::Invalid(format!("the base model has no tensor {name}")))?;
    if t.dims.len() != 2 {
        return Err(FinetuneError::Invalid(format!(
            "tensor {name} has shape {:?}, expected a matrix",
            t.dims
        )));
    }
    let (cols, rows) = (t.dims[0] as usize, t.dims[1] as usize);
    let q = QMatrix::from_gguf(name, t.ty, rows, cols, g.tensor_data(t))?;
    let mut data = vec![0f32; rows * cols];
    for (r, out) in data.chunks_exact_mut(cols).enumerate() {
        q.row_f32(r, out);
    }
    Ok(Tensor::from_vec(data, (rows, cols), device)?)
}

fn vector(g: &Gguf, name: &str, n: usize, device: &Device) -> Result<Tensor> {
    let t = g
        .tensor(name)
        .ok_or_else(|| FinetuneError::Invalid(format!("the base model has no tensor {name}")))?;
    let v = to_f32_vec(t.ty, g.tensor_data(t), n, name)?;
    Ok(Tensor::from_vec(v, n, device)?)
}

/// `x · wᵀ` for `x` of shape `(.., in)` and a trainable `w` of shape `(out, in)`.
fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    Ok(x.broadcast_matmul(&w.t()?)?)
}

/// What every block of a forward pass over `t` positions shares: the rotary tables.
pub struct Positions {
    cos: Tensor,
    sin: Tensor,
}

/// Whether a pass builds the graph through the adapter (training) or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grad {
    /// The adapter's matrices are tracked: the pass can be differentiated.
    Track,
    /// Nothing is tracked: a pass whose activations are only kept, or only read.
    None,
}

/// RMSNorm written with differentiable primitives.
fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    let x = x.broadcast_div(&(ms + eps)?.sqrt()?)?;
    Ok(x.broadcast_mul(w)?)
}

/// Rotates adjacent pairs of `x` (`(b, heads, t, head_dim)`) by the angles in
/// `cos`/`sin` (`(t, head_dim / 2, 1)`).
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = x.dims4()?;
    let x = x.reshape((b, h, t, d / 2, 2))?;
    let x0 = x.narrow(4, 0, 1)?;
    let x1 = x.narrow(4, 1, 1)?;
    let r0 = (x0.broadcast_mul(cos)? - x1.broadcast_mul(sin)?)?;
    let r1 = (x0.broadcast_mul(sin)? + x1.broadcast_mul(cos)?)?;
    Ok(Tensor::cat(&[r0, r1], 4)?.reshape((b, h, t, d))?)
}

impl BaseModel {
    /// Loads and dequantizes a llama-architecture GGUF model.
    pub fn load(path: &Path) -> Result<BaseModel> {
        let g = Gguf::open(path)?;
        Self::from_gguf(&g)
    }

    /// Builds the model from a parsed GGUF.
    pub fn from_gguf(g: &Gguf) -> Result<BaseModel> {
        let cfg = LlamaConfig::from_gguf(g)?;
        if cfg.rope_dim != cfg.head_dim {
            return Err(FinetuneError::Invalid(format!(
                "partial rotary embeddings ({} of {}) are not supported",
                cfg.rope_dim, cfg.head_dim
            )));
        }
        let device = Device::Cpu;
        let n = cfg.n_embd;
        let blocks = (0..cfg.n_layer)
            .map(|i| {
                let p = |s: &str| format!("blk.{i}.{s}.weight");
                Ok(Block {
                    attn_norm: vector(g, &p("attn_norm"), n, &device)?,
                    wq: matrix(g, &p("attn_q"), &device)?,
                    wk: matrix(g, &p("attn_k"), &device)?,
                    wv: matrix(g, &p("attn_v"), &device)?,
                    wo: matrix(g, &p("attn_output"), &device)?,
                    ffn_norm: vector(g, &p("ffn_norm"), n, &device)?,
                    w_gate: matrix(g, &p("ffn_gate"), &device)?,
                    w_up: matrix(g, &p("ffn_up"), &device)?,
                    w_down: matrix(g, &p("ffn_down"), &device)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let output = match g.tensor("output.weight") {
            Some(_) => Some(matrix(g, "output.weight", &device)?),
            None => None,
        };
        Ok(BaseModel {
            tok_embd: matrix(g, "token_embd.weight", &device)?,
            out_norm: vector(g, "output_norm.weight", n, &device)?,
            blocks,
            output,
            cfg,
            device,
        })
    }

    /// The device the weights live on (the CPU).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `(out, in)` of a target matrix.
    pub fn target_shape(&self, t: Target) -> (usize, usize) {
        let (n, kv, ff) = (self.cfg.n_embd, self.cfg.kv_dim(), self.cfg.n_ff);
        match t {
            Target::AttnQ | Target::AttnOutput => (n, n),
            Target::AttnK | Target::AttnV => (kv, n),
            Target::FfnGate | Target::FfnUp => (ff, n),
            Target::FfnDown => (n, ff),
        }
    }

    /// A projection of block `layer`, with the adapter's low-rank update when it has one.
    fn project(
        &self,
        x: &Tensor,
        layer: usize,
        t: Target,
        lora: Option<&LoraAdapter>,
        grad: Grad,
    ) -> Result<Tensor> {
        let base = frozen_linear(x, self.blocks[layer].weight(t))?;
        match lora.and_then(|l| l.pair(layer, t).map(|p| (l.scale(), p))) {
            Some((scale, (a, b))) => {
                let (a, b) = match grad {
                    Grad::Track => (a.as_tensor().clone(), b.as_tensor().clone()),
                    Grad::None => (a.as_tensor().detach(), b.as_tensor().detach()),
                };
                let delta = linear(&linear(x, &a)?, &b)?;
                Ok((base + (delta * scale)?)?)
            }
            None => Ok(base),
        }
    }

    /// The rotary tables of a pass over `t` positions.
    pub fn positions(&self, t: usize) -> Result<Positions> {
        let (cos, sin) = self.rope_tables(t)?;
        Ok(Positions { cos, sin })
    }

    /// The token embeddings `(b, t, n_embd)` of token rows `(b, t)`.
    pub fn embed(&self, tokens: &Tensor) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        Ok(self
            .tok_embd
            .index_select(&tokens.flatten_all()?, 0)?
            .reshape((b, t, self.cfg.n_embd))?)
    }

    /// Number of transformer blocks.
    pub fn n_layer(&self) -> usize {
        self.blocks.len()
    }

    /// Block `l` of the stack over the residual stream `x` (`(b, t, n_embd)`), causal
    /// attention from position 0.
    pub fn block(
        &self,
        l: usize,
        x: &Tensor,
        pos: &Positions,
        lora: Option<&LoraAdapter>,
        grad: Grad,
    ) -> Result<Tensor> {
        Ok(self.block_with_prefix(l, None, x, pos, lora, grad)?.1)
    }

    /// Block `l` over a shared prefix and the rows that continue it: `prefix`
    /// (`(1, p, n_embd)`, positions `0..p`) is the start of every row of `x`
    /// (`(b, t, n_embd)`, positions `p..p + t`). The prefix attends causally to itself;
    /// each row attends to the whole prefix and causally to itself. This is exactly the
    /// block over each row with the prefix in front, with the prefix computed once;
    /// its gradient is the sum over the rows (candle's broadcast backward).
    /// `pos` must cover `p + t` positions.
    pub fn block_with_prefix(
        &self,
        l: usize,
        prefix: Option<&Tensor>,
        x: &Tensor,
        pos: &Positions,
        lora: Option<&LoraAdapter>,
        grad: Grad,
    ) -> Result<(Option<Tensor>, Tensor)> {
        let c = &self.cfg;
        let blk = &self.blocks[l];
        let (hd, nh, nkv) = (c.head_dim, c.n_head, c.n_head_kv);
        let eps = c.eps as f64;
        let rep = nh / nkv;
        let p = match prefix {
            Some(px) => px.dims3()?.1,
            None => 0,
        };
        // q (scaled, rotated), k (rotated) and v of a stream starting at position `at`.
        let qkv = |x: &Tensor, at: usize| -> Result<(Tensor, Tensor, Tensor)> {
            let (b, t, _) = x.dims3()?;
            let h = rms_norm(x, &blk.attn_norm, eps)?;
            let heads = |y: Tensor, n: usize| -> Result<Tensor> {
                Ok(y.reshape((b, t, n, hd))?.transpose(1, 2)?.contiguous()?)
            };
            let (cos, sin) = (pos.cos.narrow(0, at, t)?, pos.sin.narrow(0, at, t)?);
            let q = heads(self.project(&h, l, Target::AttnQ, lora, grad)?, nh)?;
            let k = heads(self.project(&h, l, Target::AttnK, lora, grad)?, nkv)?;
            let v = heads(self.project(&h, l, Target::AttnV, lora, grad)?, nkv)?;
            // The 1/sqrt(head_dim) scale on q, before the (t x t) product.
            let q = (rope(&q, &cos, &sin)? / (hd as f64).sqrt())?;
            Ok((q, rope(&k, &cos, &sin)?, v))
        };
        // Grouped-query attention: query head h reads KV head h / (nh / nkv).
        let expand = |y: Tensor| -> Result<Tensor> {
            let (b, _, t, _) = y.dims4()?;
            Ok(y.unsqueeze(2)?
                .expand((b, nkv, rep, t, hd))?
                .reshape((b, nh, t, hd))?)
        };
        // Attention output, then the rest of the block, of one stream.
        let finish = |x: &Tensor, y: Tensor| -> Result<Tensor> {
            let (b, t, _) = x.dims3()?;
            let y = y.transpose(1, 2)?.reshape((b, t, c.n_embd))?;
            let x = (x + self.project(&y, l, Target::AttnOutput, lora, grad)?)?;
            let h = rms_norm(&x, &blk.ffn_norm, eps)?;
            let g = self.project(&h, l, Target::FfnGate, lora, grad)?;
            let u = self.project(&h, l, Target::FfnUp, lora, grad)?;
            let act = (candle_nn::ops::silu(&g)? * u)?;
            Ok((&x + self.project(&act, l, Target::FfnDown, lora, grad)?)?)
        };
        let (b, _, _) = x.dims3()?;
        let (q, mut k, mut v) = qkv(x, p)?;
        let prefix_out = match prefix {
            Some(px) => {
                let (qp, kp, vp) = qkv(px, 0)?;
                let (ke, ve) = (expand(kp.clone())?, expand(vp.clone())?);
                let yp = causal_softmax(&qp.matmul(&ke.t()?)?, 0)?.matmul(&ve)?;
                let shape = (b, nkv, p, hd);
                k = Tensor::cat(&[kp.broadcast_as(shape)?, k], 2)?;
                v = Tensor::cat(&[vp.broadcast_as(shape)?, v], 2)?;
                Some(finish(px, yp)?)
            }
            None => None,
        };
        let (k, v) = (expand(k)?, expand(v)?);
        let y = causal_softmax(&q.matmul(&k.t()?)?, p)?.matmul(&v)?;
        Ok((prefix_out, finish(x, y)?))
    }

    /// The output norm of the last block's residual stream.
    pub fn final_norm(&self, x: &Tensor) -> Result<Tensor> {
        rms_norm(x, &self.out_norm, self.cfg.eps as f64)
    }

    fn rope_tables(&self, t: usize) -> Result<(Tensor, Tensor)> {
        let half = self.cfg.head_dim / 2;
        let scale = self.cfg.rope_base.powf(-2.0 / self.cfg.rope_dim as f32);
        let mut cos = Vec::with_capacity(t * half);
        let mut sin = Vec::with_capacity(t * half);
        for pos in 0..t {
            let mut theta = pos as f32;
            for _ in 0..half {
                let (s, c) = theta.sin_cos();
                sin.push(s);
                cos.push(c);
                theta *= scale;
            }
        }
        Ok((
            Tensor::from_vec(cos, (t, half, 1), &self.device)?,
            Tensor::from_vec(sin, (t, half, 1), &self.device)?,
        ))
    }

    /// The final hidden states `(b, t, n_embd)` (after the output norm) of a batch of
    /// equal-length token rows `(b, t)`, causal attention from position 0, with the
    /// whole graph through the adapter kept (so it can be differentiated in one pass).
    pub fn hidden(&self, tokens: &Tensor, lora: Option<&LoraAdapter>) -> Result<Tensor> {
        self.hidden_with(tokens, lora, Grad::Track)
    }

    fn hidden_with(
        &self,
        tokens: &Tensor,
        lora: Option<&LoraAdapter>,
        grad: Grad,
    ) -> Result<Tensor> {
        let (_, t) = tokens.dims2()?;
        let pos = self.positions(t)?;
        let mut x = self.embed(tokens)?;
        for l in 0..self.blocks.len() {
            x = self.block(l, &x, &pos, lora, grad)?;
        }
        self.final_norm(&x)
    }

    /// Vocabulary logits of hidden states `(.., n_embd)`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(frozen_linear(
            hidden,
            self.output.as_ref().unwrap_or(&self.tok_embd),
        )?)
    }

    /// The logits of the last position of `tokens` (one sequence).
    pub fn last_logits(&self, tokens: &[u32], lora: Option<&LoraAdapter>) -> Result<Vec<f32>> {
        let t = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let h = self.hidden_with(&t, lora, Grad::None)?;
        let last = h.narrow(1, tokens.len() - 1, 1)?.flatten_all()?;
        Ok(self
            .logits(&last.unsqueeze(0)?)?
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1()?)
    }

    /// Greedy decoding of up to `n` tokens (recomputing the whole prefix each step:
    /// for tests and checks, not for serving).
    pub fn greedy(
        &self,
        prompt: &[u32],
        n: usize,
        stop: &[u32],
        lora: Option<&LoraAdapter>,
    ) -> Result<Vec<u32>> {
        let mut seq = prompt.to_vec();
        let mut out = Vec::new();
        for _ in 0..n {
            let logits = self.last_logits(&seq, lora)?;
            let tok = argmax(&logits);
            out.push(tok);
            if stop.contains(&tok) {
                break;
            }
            seq.push(tok);
        }
        Ok(out)
    }
}

/// The index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}
