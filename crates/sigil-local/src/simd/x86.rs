//! AVX2 integer dot products. Each block gives 8 i32 lanes of 4 consecutive products
//! (`maddubs` + `madd`), accumulated with one FMA per block and summed like
//! `quant::hsum8`: bit-identical to the portable kernels in `quant.rs`.

use std::arch::x86_64::*;

use crate::quant::QAct;

mod attend;
pub use attend::attend;
use attend::hsum;

/// Integer dot products of 32-blocks: 8 lanes of 4 consecutive products, either by
/// `maddubs` + `madd` (AVX2) or by one `dpbusd` (AVX-512 VNNI); the same integers.
/// Block scales are f16 bits, widened with F16C (exact, as `half` does).
macro_rules! quant_kernels {
    ($feat:literal, |$ux:ident, $sy:ident| $dot:expr, $q4:ident, $q8:ident) => {
        #[inline]
        #[target_feature(enable = $feat)]
        fn dot_u8_i8($ux: __m256i, $sy: __m256i) -> __m256i {
            $dot
        }

        /// Q4_1 (with mins `m`) or Q4_0 (without: nibbles offset by 8) against 8-bit
        /// activations, rows `r0..r0 + nr` against every token.
        #[target_feature(enable = $feat)]
        #[allow(clippy::too_many_arguments)]
        pub fn $q4(
            d: &[u16],
            m: Option<&[u16]>,
            qs: &[u8],
            bpr: usize,
            acts: &[QAct],
            r0: usize,
            nr: usize,
            n_tok: usize,
            out: &mut [f32],
        ) {
            check_bounds(
                d.len(),
                qs.len(),
                16,
                m.map(<[u16]>::len),
                bpr,
                acts,
                r0,
                nr,
                n_tok,
                out.len(),
            );
            match m {
                Some(m) => q4_rows::<true>(d, m, qs, bpr, acts, r0, nr, n_tok, out),
                None => q4_rows::<false>(d, &[], qs, bpr, acts, r0, nr, n_tok, out),
            }
        }

        #[inline]
        #[target_feature(enable = $feat)]
        #[allow(clippy::too_many_arguments)]
        fn q4_rows<const MIN: bool>(
            d: &[u16],
            m: &[u16],
            qs: &[u8],
            bpr: usize,
            acts: &[QAct],
            r0: usize,
            nr: usize,
            n_tok: usize,
            out: &mut [f32],
        ) {
            let mut i = 0;
            while i < nr {
                let o = &mut out[i * n_tok..];
                if n_tok == 1 && nr - i >= 4 {
                    // One token: four rows share each activation block.
                    // SAFETY: check_bounds verified every offset the kernels read.
                    unsafe { q4_group::<4, 1, MIN>(d, m, qs, bpr, acts, r0 + i, o, 1) };
                    i += 4;
                    continue;
                }
                let mut t0 = 0;
                while t0 < n_tok {
                    let (a, o) = (&acts[t0..], &mut o[t0..]);
                    let r = r0 + i;
                    // SAFETY: check_bounds verified every offset the kernels read.
                    t0 += unsafe {
                        match n_tok - t0 {
                            1 => q4_group::<1, 1, MIN>(d, m, qs, bpr, a, r, o, n_tok),
                            2 => q4_group::<1, 2, MIN>(d, m, qs, bpr, a, r, o, n_tok),
                            3 => q4_group::<1, 3, MIN>(d, m, qs, bpr, a, r, o, n_tok),
                            _ => q4_group::<1, 4, MIN>(d, m, qs, bpr, a, r, o, n_tok),
                        }
                    };
                }
                i += 1;
            }
        }

        /// `R` rows from `r` against `G` tokens: each weight block is unpacked once
        /// and each activation block loaded once, and every (row, token) keeps its
        /// own accumulator, so per output the operations and their order are those
        /// of a single dot product. The products of block scales are computed eight
        /// blocks at a time (F16C widening, one vector multiply) ahead of the dot
        /// products. Output `(i, k)` goes to `out[i * ostride + k]`. Returns `G`.
        ///
        /// # Safety
        /// `check_bounds` must have accepted rows `r..r + R` and the first `G`
        /// activations, and `out` must hold `(R - 1) * ostride + G` values.
        #[inline]
        #[target_feature(enable = $feat)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn q4_group<const R: usize, const G: usize, const MIN: bool>(
            d: &[u16],
            m: &[u16],
            qs: &[u8],
            bpr: usize,
            acts: &[QAct],
            r: usize,
            out: &mut [f32],
            ostride: usize,
        ) -> usize {
            let mask = _mm_set1_epi8(15);
            let eight = _mm256_set1_epi8(8);
            let wq: [*const u8; R] = std::array::from_fn(|i| qs[(r + i) * bpr * 16..].as_ptr());
            let wd: [*const u16; R] = std::array::from_fn(|i| d[(r + i) * bpr..].as_ptr());
            let wm: [*const u16; R] = std::array::from_fn(|i| {
                if MIN {
                    m[(r + i) * bpr..].as_ptr()
                } else {
                    m.as_ptr()
                }
            });
            let aq: [*const i8; G] = std::array::from_fn(|k| acts[k].qs.as_ptr());
            let ad: [*const f32; G] = std::array::from_fn(|k| acts[k].d.as_ptr());
            let asum: [*const f32; G] = std::array::from_fn(|k| acts[k].s.as_ptr());
            let mut acc = [[_mm256_setzero_ps(); G]; R];
            let mut summs = [[0f32; G]; R];
            let mut c0 = 0;
            while c0 < bpr {
                // SAFETY: c0 < bpr; scales are padded by SCALE_PAD past the last
                // block, and the caller checked the rows' and activations' lengths.
                unsafe {
                    let mut dd = [[[0f32; 8]; G]; R];
                    let mut mm = [[0f32; 8]; R];
                    for i in 0..R {
                        let wd8 = _mm256_cvtph_ps(_mm_loadu_si128(wd[i].add(c0).cast()));
                        for k in 0..G {
                            let ad8 = _mm256_loadu_ps(ad[k].add(c0));
                            _mm256_storeu_ps(dd[i][k].as_mut_ptr(), _mm256_mul_ps(wd8, ad8));
                        }
                        if MIN {
                            let wm8 = _mm256_cvtph_ps(_mm_loadu_si128(wm[i].add(c0).cast()));
                            _mm256_storeu_ps(mm[i].as_mut_ptr(), wm8);
                        }
                    }
                    for j in 0..(bpr - c0).min(8) {
                        let b = c0 + j;
                        let mut ux = [_mm256_setzero_si256(); R];
                        let mut sx = [_mm256_setzero_si256(); R];
                        for i in 0..R {
                            let x = _mm_loadu_si128(wq[i].add(b * 16).cast());
                            let lo = _mm_and_si128(x, mask);
                            let hi = _mm_and_si128(_mm_srli_epi16(x, 4), mask);
                            let qx = _mm256_set_m128i(hi, lo);
                            if MIN {
                                ux[i] = qx;
                            } else {
                                sx[i] = _mm256_sub_epi8(qx, eight);
                                ux[i] = _mm256_sign_epi8(sx[i], sx[i]);
                            }
                        }
                        for k in 0..G {
                            let qy = _mm256_loadu_si256(aq[k].add(b * 32).cast());
                            for i in 0..R {
                                let sy = if MIN { qy } else { _mm256_sign_epi8(qy, sx[i]) };
                                let s = dot_u8_i8(ux[i], sy);
                                acc[i][k] = _mm256_fmadd_ps(
                                    _mm256_broadcast_ss(&dd[i][k][j]),
                                    _mm256_cvtepi32_ps(s),
                                    acc[i][k],
                                );
                                if MIN {
                                    summs[i][k] = mm[i][j].mul_add(*asum[k].add(b), summs[i][k]);
                                }
                            }
                        }
                    }
                }
                c0 += 8;
            }
            for i in 0..R {
                for k in 0..G {
                    out[i * ostride + k] = hsum(acc[i][k]) + summs[i][k];
                }
            }
            G
        }

        /// Q8_0 rows `r0..r0 + nr` against every token.
        #[target_feature(enable = $feat)]
        #[allow(clippy::too_many_arguments)]
        pub fn $q8(
            d: &[u16],
            qs: &[i8],
            bpr: usize,
            acts: &[QAct],
            r0: usize,
            nr: usize,
            n_tok: usize,
            out: &mut [f32],
        ) {
            check_bounds(
                d.len(),
                qs.len(),
                32,
                None,
                bpr,
                acts,
                r0,
                nr,
                n_tok,
                out.len(),
            );
            let mut i = 0;
            while i < nr {
                let o = &mut out[i * n_tok..];
                if n_tok == 1 && nr - i >= 4 {
                    // SAFETY: check_bounds verified every offset the kernels read.
                    unsafe { q8_group::<4, 1>(d, qs, bpr, acts, r0 + i, o, 1) };
                    i += 4;
                    continue;
                }
                let mut t0 = 0;
                while t0 < n_tok {
                    let (a, o) = (&acts[t0..], &mut o[t0..]);
                    let r = r0 + i;
                    // SAFETY: check_bounds verified every offset the kernels read.
                    t0 += unsafe {
                        match n_tok - t0 {
                            1 => q8_group::<1, 1>(d, qs, bpr, a, r, o, n_tok),
                            2 => q8_group::<1, 2>(d, qs, bpr, a, r, o, n_tok),
                            3 => q8_group::<1, 3>(d, qs, bpr, a, r, o, n_tok),
                            _ => q8_group::<1, 4>(d, qs, bpr, a, r, o, n_tok),
                        }
                    };
                }
                i += 1;
            }
        }

        /// As `q4_group`, for Q8_0 weights.
        ///
        /// # Safety
        /// As for `q4_group`.
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn q8_group<const R: usize, const G: usize>(
            d: &[u16],
            qs: &[i8],
            bpr: usize,
            acts: &[QAct],
            r: usize,
            out: &mut [f32],
            ostride: usize,
        ) -> usize {
            let wq: [*const i8; R] = std::array::from_fn(|i| qs[(r + i) * bpr * 32..].as_ptr());
            let wd: [*const u16; R] = std::array::from_fn(|i| d[(r + i) * bpr..].as_ptr());
            let aq: [*const i8; G] = std::array::from_fn(|k| acts[k].qs.as_ptr());
            let ad: [*const f32; G] = std::array::from_fn(|k| acts[k].d.as_ptr());
            let mut acc = [[_mm256_setzero_ps(); G]; R];
            let mut c0 = 0;
            while c0 < bpr {
                // SAFETY: as in q4_group.
                unsafe {
                    let mut dd = [[[0f32; 8]; G]; R];
                    for i in 0..R {
                        let wd8 = _mm256_cvtph_ps(_mm_loadu_si128(wd[i].add(c0).cast()));
                        for k in 0..G {
                            let ad8 = _mm256_loadu_ps(ad[k].add(c0));
                            _mm256_storeu_ps(dd[i][k].as_mut_ptr(), _mm256_mul_ps(wd8, ad8));
                        }
                    }
                    for j in 0..(bpr - c0).min(8) {
                        let b = c0 + j;
                        let mut qx = [_mm256_setzero_si256(); R];
                        let mut ux = [_mm256_setzero_si256(); R];
                        for i in 0..R {
                            qx[i] = _mm256_loadu_si256(wq[i].add(b * 32).cast());
                            ux[i] = _mm256_sign_epi8(qx[i], qx[i]);
                        }
                        for k in 0..G {
                            let qy = _mm256_loadu_si256(aq[k].add(b * 32).cast());
                            for i in 0..R {
                                let s = dot_u8_i8(ux[i], _mm256_sign_epi8(qy, qx[i]));
                                acc[i][k] = _mm256_fmadd_ps(
                                    _mm256_broadcast_ss(&dd[i][k][j]),
                                    _mm256_cvtepi32_ps(s),
                                    acc[i][k],
                                );
                            }
                        }
                    }
                }
                c0 += 8;
            }
            for i in 0..R {
                for k in 0..G {
                    out[i * ostride + k] = hsum(acc[i][k]);
                }
            }
            G
        }
    };
}

/// Panics (a bug, not bad input) unless every offset the raw-pointer kernels read
/// is inside its slice: rows `r0..r0 + nr` of weights (scales read eight at a
/// time, so up to `SCALE_PAD` past a row's last block), `bpr` blocks of every
/// activation (likewise), and `nr * n_tok` outputs.
#[allow(clippy::too_many_arguments)]
fn check_bounds(
    d_len: usize,
    qs_len: usize,
    block_bytes: usize,
    m_len: Option<usize>,
    bpr: usize,
    acts: &[QAct],
    r0: usize,
    nr: usize,
    n_tok: usize,
    out_len: usize,
) {
    use crate::quant::SCALE_PAD;
    let rows = r0 + nr;
    assert!(d_len >= rows * bpr + SCALE_PAD && qs_len >= rows * bpr * block_bytes);
    assert!(m_len.is_none_or(|l| l >= rows * bpr + SCALE_PAD));
    assert!(acts.len() >= n_tok && out_len >= nr * n_tok);
    assert!(acts.iter().take(n_tok).all(|a| a.qs.len() >= bpr * 32
        && a.d.len() >= bpr + SCALE_PAD
        && (m_len.is_none() || a.s.len() >= bpr + SCALE_PAD)));
}

mod avx2 {
    use super::*;
    quant_kernels!(
        "avx2,fma,f16c",
        |ux, sy| _mm256_madd_epi16(_mm256_maddubs_epi16(ux, sy), _mm256_set1_epi16(1)),
        q4_tile,
        q8_tile
    );
}
mod vnni {
    use super::*;
    quant_kernels!(
        "avx2,fma,f16c,avx512vnni,avx512vl",
        |ux, sy| _mm256_dpbusd_epi32(_mm256_setzero_si256(), ux, sy),
        q4_tile,
        q8_tile
    );
}
pub use avx2::{q4_tile, q8_tile};
pub use vnni::{q4_tile as q4_tile_vnni, q8_tile as q8_tile_vnni};
