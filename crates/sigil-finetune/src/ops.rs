//! Two fused operations of the training pass, as candle custom ops. Each states its
//! local derivative; candle's autograd does the rest (the graph, the chain rule, the
//! order of the backward pass). Each is checked against candle's autograd of the
//! same function written with candle's primitives (the tests below).
//!
//! ## `x · Wᵀ` by a frozen weight `W`, whose backward pass gives only the input's gradient
//!
//! candle's own `matmul` backward always computes both operands' gradients: for a frozen
//! base weight that is a full `(batch, in, out)` gradient per projection per step, as
//! many FLOPs as the forward product and the largest allocation of the step, all thrown
//! away. LoRA never needs it. The backward here is the one product that is needed,
//! `∂L/∂x = ∂L/∂y · W`, which candle computes; the rest of the graph stays candle's
//! autograd.

//!
//! ## Causal softmax over the last dimension
//!
//! Attention's `(batch, heads, t, t)` scores written with primitives are a mask add and
//! a softmax of five broadcast operations, each a new `t x t` tensor kept for the
//! backward pass and walked by candle's strided (slow) element iterator; at 488
//! positions they were most of a step's time. Here row `i` is softmaxed over its first
//! `i + 1` entries (the rest are 0) in one pass, in parallel over rows, and the
//! backward pass is the softmax Jacobian-vector product
//! `dx = y ⊙ (dy − Σ y ⊙ dy)` in one more.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

/// The op, holding its weight `(out, in)`, contiguous.
struct FrozenLinear {
    w: Tensor,
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, x: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = l.dims();
        let Some((&k, lead)) = dims.split_last() else {
            candle_core::bail!("frozen-linear: a scalar input");
        };
        if !l.is_contiguous() {
            candle_core::bail!("frozen-linear: the input must be contiguous");
        }
        let m = l.shape().elem_count() / k.max(1);
        let (ws, wl) = self.w.storage_and_layout();
        let Storage::Cpu(w) = &*ws else {
            candle_core::bail!("frozen-linear: the weight is not on the CPU");
        };
        let (n, wk) = wl.shape().dims2()?;
        if wk != k {
            candle_core::bail!("frozen-linear: input width {k}, weight takes {wk}");
        }
        // x as (1, m, k); Wᵀ as (1, k, n) over W's row-major (n, k) storage.
        let lhs = Layout::contiguous_with_offset((1, m, k), l.start_offset());
        let rhs = Layout::new(Shape::from((1, k, n)), vec![n * k, 1, k], wl.start_offset());
        let y = x.matmul(w, (1, m, n, k), &lhs, &rhs)?;
        let mut out = lead.to_vec();
        out.push(n);
        Ok((y, Shape::from(out)))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        // One (rows, out) x (out, in) product rather than one per leading index.
        let n = self.w.dim(0)?;
        let rows = grad.elem_count() / n.max(1);
        let dx = grad.contiguous()?.reshape((rows, n))?.matmul(&self.w)?;
        Ok(Some(dx.reshape(x.shape())?))
    }
}

/// `x · wᵀ` for `x` of shape `(.., in)` and a frozen `w` of shape `(out, in)`; the
/// gradient flows to `x` only.
pub(crate) fn frozen_linear(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?
        .apply_op1(FrozenLinear { w: w.contiguous()? })
}

/// The f32 data of a contiguous CPU tensor layout.
fn f32s<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: f32 input expected");
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("{op}: the input must be contiguous"),
    }
}

/// Softmax of each row of `(.., rows, offset + rows)` scores over its causal prefix:
/// row `r` sees the first `offset + r + 1` entries.
struct CausalSoftmax {
    offset: usize,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32s(s, l, "causal-softmax")?;
        let dims = l.dims();
        let t = *dims.last().unwrap_or(&0);
        let rows = if dims.len() < 2 {
            0
        } else {
            dims[dims.len() - 2]
        };
        if t == 0 || rows + self.offset != t {
            candle_core::bail!(
                "causal-softmax: (.., t, {} + t) scores expected, got {dims:?}",
                self.offset
            );
        }
        let offset = self.offset;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(t)
            .zip(x.par_chunks(t))
            .enumerate()
            .for_each(|(row, (y, x))| {
                let n = offset + row % rows + 1;
                let max = x[..n].iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                for (yj, xj) in y[..n].iter_mut().zip(&x[..n]) {
                    *yj = (xj - max).exp();
                    sum += *yj;
                }
                let inv = 1.0 / sum;
                y[..n].iter_mut().for_each(|v| *v *= inv);
            });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(y.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxVjp)?))
    }
}

/// `y ⊙ (dy − Σ y ⊙ dy)` row by row: the gradient of a softmax whose output is `y`.
struct SoftmaxVjp;

impl CustomOp2 for SoftmaxVjp {
    fn name(&self) -> &'static str {
        "softmax-vjp"
    }

    fn cpu_fwd(
        &self,
        ys: &CpuStorage,
        yl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = f32s(ys, yl, "softmax-vjp")?;
        let g = f32s(gs, gl, "softmax-vjp")?;
        let t = *yl.dims().last().unwrap_or(&0);
        if t == 0 || y.len() != g.len() {
            candle_core::bail!("softmax-vjp: output and gradient shapes differ");
        }
        let mut dx = vec![0f32; y.len()];
        dx.par_chunks_mut(t)
            .zip(y.par_chunks(t).zip(g.par_chunks(t)))
            .for_each(|(dx, (y, g))| {
                let dot: f32 = y.iter().zip(g).map(|(a, b)| a * b).sum();
                for ((d, yj), gj) in dx.iter_mut().zip(y).zip(g) {
                    *d = yj * (gj - dot);
                }
            });
        Ok((CpuStorage::F32(dx), yl.shape().clone()))
    }
}

/// Softmax over the last dimension of `(.., t, offset + t)` scores with a causal mask:
/// row `i` sees the first `offset + i + 1` entries (a shared prefix of `offset`
/// positions, then itself causally); the rest are 0. `offset = 0` is square causal
/// attention.
pub(crate) fn causal_softmax(scores: &Tensor, offset: usize) -> candle_core::Result<Tensor> {
    scores.contiguous()?.apply_op1(CausalSoftmax { offset })
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    #[test]
    fn forward_and_input_gradient_match_candles_matmul() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let xs: Vec<f32> = (0..2 * 3 * 4).map(|i| (i as f32 * 0.37).sin()).collect();
        let ws: Vec<f32> = (0..5 * 4).map(|i| (i as f32 * 0.11).cos()).collect();
        let w = Tensor::from_vec(ws, (5, 4), &dev)?;
        let x = Var::from_tensor(&Tensor::from_vec(xs, (2, 3, 4), &dev)?)?;
        let ours = frozen_linear(x.as_tensor(), &w)?;
        let theirs = x.as_tensor().broadcast_matmul(&w.t()?)?;
        let diff = (&ours - &theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-6, "forward differs by {diff}");
        assert_eq!(ours.dims(), &[2, 3, 5]);
        // A loss that weights every output differently.
        let weights = Tensor::arange(0f32, 30., &dev)?.reshape((2, 3, 5))?;
        let g1 = (&ours * &weights)?.sum_all()?.backward()?;
        let g2 = (&theirs * &weights)?.sum_all()?.backward()?;
        let (a, b) = (
            g1.get(x.as_tensor()).unwrap(),
            g2.get(x.as_tensor()).unwrap(),
        );
        let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-4, "input gradient differs by {diff}");
        // And no gradient for the frozen weight.
        assert!(g1.get(&w).is_none());
        Ok(())
    }

    #[test]
    fn causal_softmax_and_its_gradient_match_the_masked_primitive_graph() -> candle_core::Result<()>
    {
        let dev = Device::Cpu;
        let (b, h, t) = (2, 3, 5);
        let xs: Vec<f32> = (0..b * h * t * t)
            .map(|i| (i as f32 * 0.713).sin() * 3.0)
            .collect();
        let x = Var::from_tensor(&Tensor::from_vec(xs, (b, h, t, t), &dev)?)?;
        let mask: Vec<f32> = (0..t)
            .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (t, t), &dev)?;
        let ours = causal_softmax(x.as_tensor(), 0)?;
        let theirs = candle_nn::ops::softmax(&x.as_tensor().broadcast_add(&mask)?, 3)?;
        let diff = (&ours - &theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-6, "forward differs by {diff}");
        let weights = Tensor::arange(0f32, (b * h * t * t) as f32, &dev)?
            .reshape((b, h, t, t))?
            .sin()?;
        let g1 = (&ours * &weights)?.sum_all()?.backward()?;
        let g2 = (&theirs * &weights)?.sum_all()?.backward()?;
        let (a, c) = (
            g1.get(x.as_tensor()).unwrap(),
            g2.get(x.as_tensor()).unwrap(),
        );
        let diff = (a - c)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "gradient differs by {diff}");
        Ok(())
    }

    #[test]
    fn causal_softmax_refuses_non_square_scores() -> candle_core::Result<()> {
        let x = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu)?;
        assert!(causal_softmax(&x, 0).is_err());
        let y = Tensor::zeros((2, 3, 5), candle_core::DType::F32, &Device::Cpu)?;
        assert!(
            causal_softmax(&y, 1).is_err(),
            "3 rows + 1 is not 5 columns"
        );
        assert!(causal_softmax(&y, 2).is_ok());
        Ok(())
    }

    #[test]
    fn a_mismatched_width_is_an_error_not_a_panic() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::zeros((2, 3), candle_core::DType::F32, &dev)?;
        let w = Tensor::zeros((5, 4), candle_core::DType::F32, &dev)?;
        assert!(frozen_linear(&x, &w).is_err());
        Ok(())
    }
}
