//! The portable kernels behind [`super::QMatrix`]: activation quantisation, the
//! integer dot-product tiles, attention and the small float helpers they share. The
//! AVX2 versions in `simd/x86.rs` compute the same bits.

use super::*;

/// `tmp` (`rows x n_tok`) into `out` (`n_tok x rows`): each output row is written
/// contiguously.
pub(super) fn transpose_into(tmp: &[f32], rows: usize, n_tok: usize, out: &mut [f32]) {
    for (t, o) in out.chunks_exact_mut(rows).enumerate() {
        for (r, v) in o.iter_mut().enumerate() {
            *v = tmp[r * n_tok + t];
        }
    }
}

/// Rounds each value to the nearest f16 (ties to even), kept as f32.
pub(crate) fn round_f16_portable(x: &mut [f32]) {
    for v in x {
        *v = half::f16::from_f32(*v).to_f32();
    }
}

/// Rounds to nearest, ties to even (as `_mm256_round_ps`), for |x| < 2^22, without a
/// libm call: adding and subtracting 1.5 * 2^23 leaves the rounded value.
#[inline(always)]
pub(super) fn round_even(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

/// One activation row quantized to 8 bits per 32-block.
#[derive(Clone, Debug)]
pub struct QAct {
    pub qs: Vec<i8>,
    pub d: Vec<f32>,
    /// `d * sum(qs)` per block (Q8_1 only), rounded through f16 as GGML stores it.
    pub s: Vec<f32>,
}

impl QAct {
    pub fn quantize(x: &[f32], with_sum: bool) -> QAct {
        let nb = x.len() / QK;
        let mut qs = vec![0i8; x.len()];
        let mut d = Vec::with_capacity(nb + SCALE_PAD);
        let mut s = Vec::with_capacity(if with_sum { nb + SCALE_PAD } else { 0 });
        for b in 0..nb {
            let xb = &x[b * QK..(b + 1) * QK];
            let amax = xb.iter().fold(0f32, |a, v| a.max(v.abs()));
            let dd = amax / 127.0;
            let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
            let mut sum = 0i32;
            for j in 0..QK {
                let q = round_even(xb[j] * id) as i8;
                qs[b * QK + j] = q;
                sum += q as i32;
            }
            d.push(f16::from_f32(dd).to_f32());
            if with_sum {
                s.push(f16::from_f32(sum as f32 * dd).to_f32());
            }
        }
        // Zeros after the last block, as for weight scales (see [`SCALE_PAD`]).
        d.resize(nb + SCALE_PAD, 0.0);
        if with_sum {
            s.resize(nb + SCALE_PAD, 0.0);
        }
        QAct { qs, d, s }
    }
}

/// `exp(x)` by the range reduction and degree-5 polynomial that llama.cpp's AVX-512 CPU
/// kernels use for softmax and SiLU (the Arm optimized-routines method: `x = n ln2 + b`,
/// `exp(b)` by a polynomial, scaled by `2^n`; at most ~1.5 ulp from the true value).
/// Same operations in the same order, so the results are bit-identical to those kernels.
#[inline(always)]
pub(crate) fn expf_poly(x: f32) -> f32 {
    let r = f32::from_bits(0x4b40_0000);
    let z = x.mul_add(f32::from_bits(0x3fb8_aa3b), r);
    let n = z - r;
    if n.is_nan() || n.abs() > 192.0 {
        return if n > 0.0 { f32::INFINITY } else { 0.0 };
    }
    let b = (-n).mul_add(
        f32::from_bits(0x35bf_be8e),
        (-n).mul_add(f32::from_bits(0x3f31_7200), x),
    );
    let u = b * b;
    let j = f32::from_bits(0x3c07_2010)
        .mul_add(b, f32::from_bits(0x3d2b_9f17))
        .mul_add(
            u,
            f32::from_bits(0x3e2a_af33).mul_add(b, f32::from_bits(0x3eff_fedb)),
        )
        .mul_add(u, f32::from_bits(0x3f7f_fff6).mul_add(b, 1.0));
    scalef(j, n as i32)
}

/// `j * 2^n` with one rounding (like `_mm512_scalef_ps` for these ranges).
#[inline(always)]
pub(super) fn scalef(j: f32, n: i32) -> f32 {
    if (-126..=127).contains(&n) {
        j * f32::from_bits(((n + 127) as u32) << 23)
    } else if n > 127 {
        j * f32::from_bits(254 << 23) * f32::from_bits(((n - 127 + 127).min(254) as u32) << 23)
    } else {
        (j as f64 * (2f64).powi(n)) as f32
    }
}

/// SiLU-gated product `silu(g) * u` as llama.cpp's vector kernel computes it.
#[inline(always)]
pub(crate) fn swiglu(g: f32, u: f32) -> f32 {
    g / (1.0 + expf_poly(-g)) * u
}

/// llama.cpp's AVX2 horizontal sum of 8 lanes (`hsum_float_8`).
#[inline(always)]
pub(crate) fn hsum8(x: &[f32; 8]) -> f32 {
    let r = [x[0] + x[4], x[1] + x[5], x[2] + x[6], x[3] + x[7]];
    (r[0] + r[2]) + (r[1] + r[3])
}

/// `_mm512_reduce_add_ps` order.
#[inline(always)]
pub(crate) fn hsum16(x: &[f32; 16]) -> f32 {
    let mut a = [0f32; 8];
    for i in 0..8 {
        a[i] = x[i] + x[i + 8];
    }
    let b = [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]];
    (b[0] + b[2]) + (b[1] + b[3])
}

/// Portable kernels; `simd` compiles the same code with AVX2/FMA enabled.
///
/// The accumulation order follows llama.cpp's x86 kernels (8 lanes of 4-element
/// integer sums, fused multiply-add with the product of the block scales, the same
/// horizontal sum), so that quantization rounding downstream sees the same values.
#[inline(always)]
pub(crate) fn tile_impl(
    w: &QMatrix,
    acts: &[QAct],
    x: &[f32],
    r0: usize,
    nr: usize,
    n_tok: usize,
    out: &mut [f32],
) {
    let cols = w.cols;
    let bpr = cols / QK;
    match &w.q {
        Quants::Q4_1 { d, m, qs } => {
            for i in 0..nr {
                let r = r0 + i;
                let wd = &d[r * bpr..(r + 1) * bpr];
                let wm = &m[r * bpr..(r + 1) * bpr];
                let wq = &qs[r * bpr * 16..(r + 1) * bpr * 16];
                for (t, a) in acts.iter().enumerate() {
                    let mut acc = [0f32; 8];
                    let mut summs = 0f32;
                    for b in 0..bpr {
                        let q = &wq[b * 16..b * 16 + 16];
                        let aq = &a.qs[b * QK..b * QK + QK];
                        let mut lanes = [0i32; 8];
                        for j in 0..16 {
                            lanes[j / 4] += (q[j] & 15) as i32 * aq[j] as i32;
                            lanes[4 + j / 4] += (q[j] >> 4) as i32 * aq[j + 16] as i32;
                        }
                        let dd = h2f(wd[b]) * a.d[b];
                        for l in 0..8 {
                            acc[l] = dd.mul_add(lanes[l] as f32, acc[l]);
                        }
                        summs = h2f(wm[b]).mul_add(a.s[b], summs);
                    }
                    out[i * n_tok + t] = hsum8(&acc) + summs;
                }
            }
        }
        Quants::Q4_0 { d, qs } => {
            for i in 0..nr {
                let r = r0 + i;
                let wd = &d[r * bpr..(r + 1) * bpr];
                let wq = &qs[r * bpr * 16..(r + 1) * bpr * 16];
                for (t, a) in acts.iter().enumerate() {
                    let mut acc = [0f32; 8];
                    for b in 0..bpr {
                        let q = &wq[b * 16..b * 16 + 16];
                        let aq = &a.qs[b * QK..b * QK + QK];
                        let mut lanes = [0i32; 8];
                        for j in 0..16 {
                            lanes[j / 4] += ((q[j] & 15) as i32 - 8) * aq[j] as i32;
                            lanes[4 + j / 4] += ((q[j] >> 4) as i32 - 8) * aq[j + 16] as i32;
                        }
                        let dd = h2f(wd[b]) * a.d[b];
                        for l in 0..8 {
                            acc[l] = dd.mul_add(lanes[l] as f32, acc[l]);
                        }
                    }
                    out[i * n_tok + t] = hsum8(&acc);
                }
            }
        }
        Quants::Q8_0 { d, qs } => {
            for i in 0..nr {
                let r = r0 + i;
                let wd = &d[r * bpr..(r + 1) * bpr];
                let wq = &qs[r * cols..(r + 1) * cols];
                for (t, a) in acts.iter().enumerate() {
                    let mut acc = [0f32; 8];
                    for b in 0..bpr {
                        let q = &wq[b * QK..b * QK + QK];
                        let aq = &a.qs[b * QK..b * QK + QK];
                        let mut lanes = [0i32; 8];
                        for j in 0..QK {
                            lanes[j / 4] += q[j] as i32 * aq[j] as i32;
                        }
                        let dd = h2f(wd[b]) * a.d[b];
                        for l in 0..8 {
                            acc[l] = dd.mul_add(lanes[l] as f32, acc[l]);
                        }
                    }
                    out[i * n_tok + t] = hsum8(&acc);
                }
            }
        }
        Quants::F32(v) => {
            for i in 0..nr {
                let r = r0 + i;
                let wr = &v[r * cols..(r + 1) * cols];
                for t in 0..n_tok {
                    out[i * n_tok + t] = dot_f32(wr, &x[t * cols..(t + 1) * cols]);
                }
            }
        }
    }
}

/// One attention head for one query: `q` (already rounded to f16), keys and values of
/// `n_ctx` positions with row stride `stride` starting at `off`; writes `out` (head size).
/// KQ and KQV accumulate in 16 fused lanes like llama.cpp's AVX-512 tinyBLAS f16 GEMM;
/// probabilities are rounded to f16 as llama.cpp converts them for the KQV product.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend_impl(
    q: &[f32],
    kc: &[f32],
    vc: &[f32],
    n_ctx: usize,
    kvd: usize,
    off: usize,
    scale: f32,
    single: bool,
    round_f16: impl Fn(&mut [f32]),
    out: &mut [f32],
) {
    use crate::model::VBLK;
    let hd = q.len();
    let full = hd / 16 * 16;
    let n_blk = n_ctx.div_ceil(VBLK);
    let mut sc = vec![0f32; n_blk * VBLK];
    let mut mx = f32::NEG_INFINITY;
    for (j, s) in sc.iter_mut().enumerate().take(n_ctx) {
        let kr = &kc[j * kvd + off..j * kvd + off + hd];
        *s = if single {
            dot_f16_vec(q, kr)
        } else {
            dot_f16_gemm(q, kr, full)
        } * scale;
        mx = mx.max(*s);
    }
    softmax_probs(&mut sc, n_ctx, mx, &round_f16);
    if single {
        // One query: llama.cpp's ggml_vec_dot_f16 (four 16-lane accumulators taking
        // turns per 16 positions, reduced pairwise); its KV length is padded to a
        // multiple of 64 with zero probabilities, so there are no leftovers.
        let mut acc = vec![[[0f32; 16]; 4]; hd];
        for b in 0..n_blk {
            let p: &[f32; 16] = sc[b * VBLK..b * VBLK + 16]
                .try_into()
                .expect("16 probabilities");
            let blk = &vc[b * VBLK * kvd..(b + 1) * VBLK * kvd];
            for (e, a) in acc.iter_mut().enumerate() {
                let vr = &blk[(off + e) * VBLK..(off + e) * VBLK + 16];
                let a = &mut a[b % 4];
                for l in 0..16 {
                    a[l] = p[l].mul_add(vr[l], a[l]);
                }
            }
        }
        for (o, a) in out.iter_mut().zip(&acc) {
            *o = reduce4x16(a);
        }
        return;
    }
    // Several queries: llama.cpp's tinyBLAS f16 GEMM, one 16-lane accumulator per
    // output over blocks of 16 positions.
    let mut acc = vec![[0f32; 16]; hd];
    for b in 0..n_blk {
        let p: &[f32; 16] = sc[b * VBLK..b * VBLK + 16]
            .try_into()
            .expect("16 probabilities");
        let blk = &vc[b * VBLK * kvd..(b + 1) * VBLK * kvd];
        for (e, a) in acc.iter_mut().enumerate() {
            let vr = &blk[(off + e) * VBLK..(off + e) * VBLK + 16];
            for l in 0..16 {
                a[l] = p[l].mul_add(vr[l], a[l]);
            }
        }
    }
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = hsum16(a);
    }
}

/// Scores to probabilities in place: `exp(s - mx)` over `n_ctx` positions, normalised,
/// rounded to f16; the padding after `n_ctx` (up to a whole 16-block) is 0.
///
/// llama.cpp pads the KV length (masked positions: probability 0), so the softmax runs
/// in whole 16-wide chunks, each chunk's sum reduced then added in f64.
#[inline(always)]
pub(crate) fn softmax_probs(sc: &mut [f32], n_ctx: usize, mx: f32, round_f16: impl Fn(&mut [f32])) {
    let mut sum = 0f64;
    for (b, chunk) in sc.chunks_mut(16).enumerate() {
        let mut e = [0f32; 16];
        for (i, s) in chunk.iter_mut().enumerate() {
            *s = if b * 16 + i < n_ctx {
                expf_poly(*s - mx)
            } else {
                0.0
            };
            e[i] = *s;
        }
        sum += hsum16(&e) as f64;
    }
    let inv = (1.0 / sum) as f32;
    for s in sc[..n_ctx].iter_mut() {
        *s *= inv;
    }
    round_f16(&mut sc[..n_ctx]);
}

/// `(a0 + a2) + (a1 + a3)` lane-wise, then the 16 lanes summed (ggml's F16 reduce).
#[inline(always)]
pub(super) fn reduce4x16(a: &[[f32; 16]; 4]) -> f32 {
    let mut r = [0f32; 16];
    for l in 0..16 {
        r[l] = (a[0][l] + a[2][l]) + (a[1][l] + a[3][l]);
    }
    hsum16(&r)
}

/// q·k as tinyBLAS: 16 lanes, fused multiply-add over 16-element steps.
#[inline(always)]
pub(super) fn dot_f16_gemm(q: &[f32], k: &[f32], full: usize) -> f32 {
    let mut lanes = [0f32; 16];
    for c in (0..full).step_by(16) {
        let (qa, ka) = (&q[c..c + 16], &k[c..c + 16]);
        for l in 0..16 {
            lanes[l] = qa[l].mul_add(ka[l], lanes[l]);
        }
    }
    for l in 0..q.len() - full {
        lanes[l] = q[full + l].mul_add(k[full + l], lanes[l]);
    }
    hsum16(&lanes)
}

/// q·k as ggml_vec_dot_f16: 64-element steps into four 16-lane accumulators, pairwise
/// reduction, leftovers added in f64.
#[inline(always)]
pub(super) fn dot_f16_vec(q: &[f32], k: &[f32]) -> f32 {
    let n = q.len();
    let np = n / 64 * 64;
    let mut acc = [[0f32; 16]; 4];
    for i in (0..np).step_by(64) {
        for (j, a) in acc.iter_mut().enumerate() {
            let (qa, ka) = (
                &q[i + j * 16..i + j * 16 + 16],
                &k[i + j * 16..i + j * 16 + 16],
            );
            for l in 0..16 {
                a[l] = qa[l].mul_add(ka[l], a[l]);
            }
        }
    }
    let mut sum = reduce4x16(&acc) as f64;
    for i in np..n {
        sum += (q[i] * k[i]) as f64;
    }
    sum as f32
}

/// f32 dot product in 8 lanes (vectorizes).
#[inline(always)]
pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let n8 = a.len() / 8 * 8;
    for (ca, cb) in a[..n8].chunks_exact(8).zip(b[..n8].chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += ca[k] * cb[k];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for k in n8..a.len() {
        s += a[k] * b[k];
    }
    s
}
