//! The encoder's numeric kernels: LayerNorm, one attention head, exact GELU and the
//! erf and exp it needs. `crate::simd` compiles each inside its SIMD scopes (AVX-512,
//! AVX2, portable) and dispatches at run time; `bert.rs` calls them through it.

use std::cell::Cell;

use crate::simd::{SGEMM_NR, sgemm_packed};

thread_local! {
    /// Per-thread scratch of [`attend_head_impl`] (taken while in use).
    static ATTN_SCRATCH: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// `row ← (row − mean) / √(var + eps) · gamma + beta`.
#[inline(always)]
pub(crate) fn layer_norm_impl(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    // Sums over 16 lanes: a plain `.sum()` is one serial chain of adds the compiler
    // must keep scalar (float addition is not associative).
    let n = row.len() as f32;
    let mut lanes = [0f32; 16];
    let mut chunks = row.chunks_exact(16);
    for c in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += v;
        }
    }
    let mean = (lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()) / n;
    let mut lanes = [0f32; 16];
    let mut chunks = row.chunks_exact(16);
    for c in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += (v - mean) * (v - mean);
        }
    }
    let rem: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    let var = (lanes.iter().sum::<f32>() + rem) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// One head of one sentence: `len × d` outputs, `softmax(Q Kᵀ) V` with the queries
/// already scaled by 1/√d. Both products run on the packed GEMM kernel: the keys are
/// packed as its weight panels (padded with zero keys to a multiple of 32, whose scores
/// are then ignored), the probabilities (padded columns zeroed) multiply the values,
/// packed likewise with the head width padded to a multiple of 32. The softmax
/// normalisation is applied to the `len × d` output rather than the `len × len`
/// probabilities. Inlined into the caller's AVX-512 scope, so the gathers and the
/// softmax vectorise.
#[inline(always)]
pub(crate) fn attend_head_impl(
    qkv: &[f32],
    (start, len): (usize, usize),
    h: usize,
    hd: usize,
    d: usize,
) -> Vec<f32> {
    const NR: usize = SGEMM_NR;
    let stride = 3 * h;
    let np = len.div_ceil(NR) * NR;
    let dp = d.div_ceil(NR) * NR;
    let sizes = [
        len * d,
        np * d,
        np * dp,
        len * np,
        len * dp,
        np.max(dp),
        len,
    ];
    let mut out = vec![0f32; len * d];
    // Not `with_scratch`: a closure would be compiled outside the caller's SIMD scope.
    let mut scratch = ATTN_SCRATCH.with(Cell::take);
    let need: usize = sizes.iter().sum();
    if scratch.len() < need {
        scratch.resize(need, 0.0);
    }
    {
        let buf = &mut scratch[..need];
        let (q, rest) = buf.split_at_mut(sizes[0]);
        let (kp, rest) = rest.split_at_mut(sizes[1]);
        let (vp, rest) = rest.split_at_mut(sizes[2]);
        let (s, rest) = rest.split_at_mut(sizes[3]);
        let (o, rest) = rest.split_at_mut(sizes[4]);
        let (zeros, inv) = rest.split_at_mut(sizes[5]);
        zeros.fill(0.0);
        // Queries contiguous; keys as `np / 32` panels of `d × 32`; values as `dp / 32`
        // panels of `np × 32`.
        kp.fill(0.0);
        vp.fill(0.0);
        for j in 0..len {
            let row = (start + j) * stride + hd * d;
            q[j * d..(j + 1) * d].copy_from_slice(&qkv[row..row + d]);
            let key = &qkv[row + h..row + h + d];
            let kbase = (j / NR) * d * NR + j % NR;
            for (c, &kv) in key.iter().enumerate() {
                kp[kbase + c * NR] = kv;
            }
            let val = &qkv[row + 2 * h..row + 2 * h + d];
            for (p, chunk) in val.chunks(NR).enumerate() {
                let at = (p * np + j) * NR;
                vp[at..at + chunk.len()].copy_from_slice(chunk);
            }
        }
        sgemm_packed(q, len, d, kp, np, zeros, s);
        for (srow, iv) in s.chunks_exact_mut(np).zip(inv.iter_mut()) {
            let (live, pad) = srow.split_at_mut(len);
            pad.fill(0.0);
            // Lane-wise max and sum: a plain fold is a serial chain the compiler keeps
            // scalar.
            let mut lanes = [f32::NEG_INFINITY; 16];
            for chunk in live.chunks(16) {
                for (l, &v) in lanes.iter_mut().zip(chunk) {
                    *l = l.max(v);
                }
            }
            let max = lanes.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l));
            for v in live.iter_mut() {
                *v = exp_neg(max - *v);
            }
            let mut sums = [0f32; 16];
            for chunk in live.chunks(16) {
                for (l, &v) in sums.iter_mut().zip(chunk) {
                    *l += v;
                }
            }
            *iv = 1.0 / sums.iter().sum::<f32>();
        }
        sgemm_packed(s, len, np, vp, dp, zeros, o);
        for ((orow, src), &iv) in out.chunks_exact_mut(d).zip(o.chunks_exact(dp)).zip(&*inv) {
            for (a, &b) in orow.iter_mut().zip(src) {
                *a = b * iv;
            }
        }
    }
    ATTN_SCRATCH.with(|c| c.set(scratch));
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
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let n_bits = t.to_bits().wrapping_sub(MAGIC.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    p * scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::layer_norm;

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
    fn layer_norm_matches_a_plain_computation() {
        for n in [1usize, 5, 16, 37, 384] {
            let row: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 101) as f32 * 0.3 - 9.0)
                .collect();
            let gamma: Vec<f32> = (0..n).map(|i| 0.5 + i as f32 * 0.01).collect();
            let beta: Vec<f32> = (0..n).map(|i| i as f32 * -0.02).collect();
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
            let mut got = row.clone();
            layer_norm_impl(&mut got, &gamma, &beta, 1e-12);
            let mut dispatched = row.clone();
            layer_norm(&mut dispatched, &gamma, &beta, 1e-12);
            for i in 0..n {
                let want = (row[i] as f64 - mean) / (var + 1e-12).sqrt() * gamma[i] as f64
                    + beta[i] as f64;
                assert!(
                    (got[i] as f64 - want).abs() < 1e-4,
                    "n={n} i={i}: {} vs {want}",
                    got[i]
                );
                assert!((dispatched[i] - got[i]).abs() < 1e-5, "n={n} i={i}");
            }
        }
    }
}
