//! AVX2 + FMA + F16C attention over the KV cache (scores, softmax, the weighted sum of
//! values) and f16 rounding, for the decoder's `attend`.

use std::arch::x86_64::*;

use crate::quant::hsum8;

/// Rounds to f16 and back with F16C (nearest even, as the portable version).
#[target_feature(enable = "avx2,fma,f16c")]
pub fn round_f16(x: &mut [f32]) {
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        let a: &mut [f32; 8] = c.try_into().expect("8 floats");
        // SAFETY: `a` is 8 readable and writable floats; unaligned load/store.
        unsafe {
            let v = _mm256_loadu_ps(a.as_ptr());
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
            _mm256_storeu_ps(a.as_mut_ptr(), _mm256_cvtph_ps(h));
        }
    }
    crate::quant::round_f16_portable(chunks.into_remainder());
}

#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn hsum(acc: __m256) -> f32 {
    let mut a = [0f32; 8];
    // SAFETY: `a` has room for 8 floats; unaligned store.
    unsafe { _mm256_storeu_ps(a.as_mut_ptr(), acc) };
    hsum8(&a)
}

/// `hsum16` of the 16 lanes held as `lo` (0..8) and `hi` (8..16): lanes `i` and
/// `i + 8` first, then `hsum8`'s order.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum16_v(lo: __m256, hi: __m256) -> f32 {
    let a = _mm256_add_ps(lo, hi);
    let r = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    let s = _mm_add_ps(r, _mm_movehl_ps(r, r));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn ld(x: &[f32], i: usize) -> __m256 {
    let a: &[f32; 8] = x[i..i + 8].try_into().expect("8 floats");
    // SAFETY: `a` is 8 readable floats; unaligned load.
    unsafe { _mm256_loadu_ps(a.as_ptr()) }
}

/// q·k in tinyBLAS order (see `quant::dot_f16_gemm`).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn dot_gemm(q: &[f32], k: &[f32], full: usize) -> f32 {
    let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    for c in (0..full).step_by(16) {
        lo = _mm256_fmadd_ps(ld(q, c), ld(k, c), lo);
        hi = _mm256_fmadd_ps(ld(q, c + 8), ld(k, c + 8), hi);
    }
    if full == q.len() {
        return hsum16_v(lo, hi);
    }
    let mut lanes = [0f32; 16];
    // SAFETY: `lanes` has room for 16 floats; unaligned stores.
    unsafe {
        _mm256_storeu_ps(lanes.as_mut_ptr(), lo);
        _mm256_storeu_ps(lanes.as_mut_ptr().add(8), hi);
    }
    for l in 0..q.len() - full {
        lanes[l] = q[full + l].mul_add(k[full + l], lanes[l]);
    }
    crate::quant::hsum16(&lanes)
}

/// q·k in ggml_vec_dot_f16 order (see `quant::dot_f16_vec`).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn dot_vec(q: &[f32], k: &[f32]) -> f32 {
    let n = q.len();
    let np = n / 64 * 64;
    let z = _mm256_setzero_ps();
    let mut a = [[z; 2]; 4];
    for i in (0..np).step_by(64) {
        for (j, aj) in a.iter_mut().enumerate() {
            let c = i + j * 16;
            aj[0] = _mm256_fmadd_ps(ld(q, c), ld(k, c), aj[0]);
            aj[1] = _mm256_fmadd_ps(ld(q, c + 8), ld(k, c + 8), aj[1]);
        }
    }
    let rlo = _mm256_add_ps(
        _mm256_add_ps(a[0][0], a[2][0]),
        _mm256_add_ps(a[1][0], a[3][0]),
    );
    let rhi = _mm256_add_ps(
        _mm256_add_ps(a[0][1], a[2][1]),
        _mm256_add_ps(a[1][1], a[3][1]),
    );
    let mut sum = hsum16_v(rlo, rhi) as f64;
    for i in np..n {
        sum += (q[i] * k[i]) as f64;
    }
    sum as f32
}

/// `quant::expf_poly` on 8 lanes (same operations, same order), or `None` when a
/// lane needs the out-of-range paths (then the caller goes lane by lane).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn expf8(x: __m256) -> Option<__m256> {
    let c = |b: u32| _mm256_set1_ps(f32::from_bits(b));
    let r = c(0x4b40_0000);
    let z = _mm256_fmadd_ps(x, c(0x3fb8_aa3b), r);
    let n = _mm256_sub_ps(z, r);
    // Every lane must have -126 <= n <= 127 (and not NaN) for the plain scaling.
    let ok = _mm256_and_ps(
        _mm256_cmp_ps::<_CMP_GE_OQ>(n, _mm256_set1_ps(-126.0)),
        _mm256_cmp_ps::<_CMP_LE_OQ>(n, _mm256_set1_ps(127.0)),
    );
    if _mm256_movemask_ps(ok) != 0xff {
        return None;
    }
    let neg_n = _mm256_sub_ps(_mm256_setzero_ps(), n);
    let b = _mm256_fmadd_ps(
        neg_n,
        c(0x35bf_be8e),
        _mm256_fmadd_ps(neg_n, c(0x3f31_7200), x),
    );
    let u = _mm256_mul_ps(b, b);
    let t1 = _mm256_fmadd_ps(c(0x3c07_2010), b, c(0x3d2b_9f17));
    let t2 = _mm256_fmadd_ps(t1, u, _mm256_fmadd_ps(c(0x3e2a_af33), b, c(0x3eff_fedb)));
    let j = _mm256_fmadd_ps(
        t2,
        u,
        _mm256_fmadd_ps(c(0x3f7f_fff6), b, _mm256_set1_ps(1.0)),
    );
    let ni = _mm256_cvtps_epi32(n);
    let pow2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
        ni,
        _mm256_set1_epi32(127),
    )));
    Some(_mm256_mul_ps(j, pow2))
}

/// `quant::softmax_probs` with 8-lane exponentials.
#[target_feature(enable = "avx2,fma,f16c")]
fn softmax_probs(sc: &mut [f32], n_ctx: usize, mx: f32) {
    let vmx = _mm256_set1_ps(mx);
    let mut sum = 0f64;
    for (b, chunk) in sc.chunks_exact_mut(16).enumerate() {
        let base = b * 16;
        let mut e = [0f32; 16];
        let mut fast = base + 16 <= n_ctx;
        if fast {
            let (lo, hi) = (ld(chunk, 0), ld(chunk, 8));
            match (expf8(_mm256_sub_ps(lo, vmx)), expf8(_mm256_sub_ps(hi, vmx))) {
                (Some(elo), Some(ehi)) => {
                    // SAFETY: `e` and `chunk` hold 16 floats; unaligned stores.
                    unsafe {
                        _mm256_storeu_ps(e.as_mut_ptr(), elo);
                        _mm256_storeu_ps(e.as_mut_ptr().add(8), ehi);
                    }
                    chunk.copy_from_slice(&e);
                }
                _ => fast = false,
            }
        }
        if !fast {
            for (i, s) in chunk.iter_mut().enumerate() {
                *s = if base + i < n_ctx {
                    crate::quant::expf_poly(*s - mx)
                } else {
                    0.0
                };
                e[i] = *s;
            }
        }
        sum += crate::quant::hsum16(&e) as f64;
    }
    let inv = (1.0 / sum) as f32;
    for s in sc[..n_ctx].iter_mut() {
        *s *= inv;
    }
    round_f16(&mut sc[..n_ctx]);
}

/// [`crate::quant::attend_impl`] with explicit vectors: the same operations per
/// lane in the same order, so the same bits.
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::too_many_arguments)]
pub fn attend(
    q: &[f32],
    kc: &[f32],
    vc: &[f32],
    n_ctx: usize,
    kvd: usize,
    off: usize,
    scale: f32,
    single: bool,
    out: &mut [f32],
) {
    const B: usize = crate::model::VBLK;
    const _: () = assert!(B == 16);
    let hd = q.len();
    let full = hd / 16 * 16;
    let n_blk = n_ctx.div_ceil(B);
    let mut sc = vec![0f32; n_blk * B];
    let mut mx = f32::NEG_INFINITY;
    for (j, s) in sc.iter_mut().enumerate().take(n_ctx) {
        let kr = &kc[j * kvd + off..j * kvd + off + hd];
        *s = if single {
            dot_vec(q, kr)
        } else {
            dot_gemm(q, kr, full)
        } * scale;
        mx = mx.max(*s);
    }
    softmax_probs(&mut sc, n_ctx, mx);
    let p: Vec<(__m256, __m256)> = (0..n_blk)
        .map(|b| (ld(&sc, b * B), ld(&sc, b * B + 8)))
        .collect();
    let vblk =
        |b: usize, e: usize| &vc[b * B * kvd + (off + e) * B..b * B * kvd + (off + e) * B + B];
    let z = _mm256_setzero_ps();
    for (e, o) in out.iter_mut().enumerate().take(hd) {
        if single {
            // Four 16-lane accumulators taking turns per block, reduced pairwise.
            let mut a = [[z; 2]; 4];
            let mut quads = p.chunks_exact(4);
            let mut b = 0;
            for quad in &mut quads {
                // Unrolled so the accumulators stay in registers.
                for (k, &(plo, phi)) in quad.iter().enumerate() {
                    let v = vblk(b + k, e);
                    a[k][0] = _mm256_fmadd_ps(plo, ld(v, 0), a[k][0]);
                    a[k][1] = _mm256_fmadd_ps(phi, ld(v, 8), a[k][1]);
                }
                b += 4;
            }
            for (k, &(plo, phi)) in quads.remainder().iter().enumerate() {
                let v = vblk(b + k, e);
                a[k][0] = _mm256_fmadd_ps(plo, ld(v, 0), a[k][0]);
                a[k][1] = _mm256_fmadd_ps(phi, ld(v, 8), a[k][1]);
            }
            let rlo = _mm256_add_ps(
                _mm256_add_ps(a[0][0], a[2][0]),
                _mm256_add_ps(a[1][0], a[3][0]),
            );
            let rhi = _mm256_add_ps(
                _mm256_add_ps(a[0][1], a[2][1]),
                _mm256_add_ps(a[1][1], a[3][1]),
            );
            *o = hsum16_v(rlo, rhi);
        } else {
            let (mut lo, mut hi) = (z, z);
            for (b, &(plo, phi)) in p.iter().enumerate() {
                let v = vblk(b, e);
                lo = _mm256_fmadd_ps(plo, ld(v, 0), lo);
                hi = _mm256_fmadd_ps(phi, ld(v, 8), hi);
            }
            *o = hsum16_v(lo, hi);
        }
    }
}
