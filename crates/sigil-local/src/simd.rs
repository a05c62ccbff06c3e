//! Runtime CPU dispatch for the kernels, and the AVX2/FMA kernels themselves.
//!
//! The only `unsafe` in the crate lives here and in its submodules (`x86`, the
//! quantised AVX2/VNNI kernels; `sgemm`, the encoder's f32 GEMM): calling a `#[target_feature(enable =
//! "avx2,fma")]` function is unsafe because the CPU must support those features, and
//! SIMD loads/stores take raw pointers. Each call is guarded by `is_x86_feature_detected!`
//! (checked once, cached); CPUs without AVX2 run the portable kernels in `quant.rs`,
//! which compute bit-identical results. `SIGIL_NO_SIMD=1` forces the portable path.
#![allow(unsafe_code)]

use crate::quant::{QAct, QMatrix, attend_impl, round_f16_portable, tile_impl};

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::env::var_os("SIGIL_NO_SIMD").is_none()
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    })
}

/// AVX-512 VNNI (`vpdpbusd` on 256-bit vectors) on top of AVX2; `SIGIL_NO_VNNI=1`
/// turns it off (the results are the same integers either way).
#[cfg(target_arch = "x86_64")]
fn has_vnni() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        has_avx2()
            && std::env::var_os("SIGIL_NO_VNNI").is_none()
            && is_x86_feature_detected!("avx512vnni")
            && is_x86_feature_detected!("avx512vl")
    })
}

/// Which kernels are in use: `"avx2+fma+vnni"`, `"avx2+fma"` or `"portable"`.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if has_vnni() {
        return "avx2+fma+vnni";
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        return "avx2+fma";
    }
    "portable"
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
fn tile_avx2(
    w: &QMatrix,
    acts: &[QAct],
    x: &[f32],
    r0: usize,
    nr: usize,
    n_tok: usize,
    out: &mut [f32],
) {
    use crate::quant::Quants;
    let bpr = w.cols / 32;
    if has_vnni() {
        // SAFETY: has_vnni() checked at runtime that the CPU supports AVX-512 VNNI and VL.
        unsafe {
            match &w.q {
                Quants::Q4_1 { d, m, qs } => {
                    x86::q4_tile_vnni(d, Some(m), qs, bpr, acts, r0, nr, n_tok, out)
                }
                Quants::Q4_0 { d, qs } => {
                    x86::q4_tile_vnni(d, None, qs, bpr, acts, r0, nr, n_tok, out)
                }
                Quants::Q8_0 { d, qs } => x86::q8_tile_vnni(d, qs, bpr, acts, r0, nr, n_tok, out),
                Quants::F32(_) => tile_impl(w, acts, x, r0, nr, n_tok, out),
            }
        }
        return;
    }
    match &w.q {
        Quants::Q4_1 { d, m, qs } => x86::q4_tile(d, Some(m), qs, bpr, acts, r0, nr, n_tok, out),
        Quants::Q4_0 { d, qs } => x86::q4_tile(d, None, qs, bpr, acts, r0, nr, n_tok, out),
        Quants::Q8_0 { d, qs } => x86::q8_tile(d, qs, bpr, acts, r0, nr, n_tok, out),
        Quants::F32(_) => tile_impl(w, acts, x, r0, nr, n_tok, out),
    }
}

/// Computes rows `r0..r0+nr` of `w` against every token (see [`tile_impl`]).
pub(crate) fn tile(
    w: &QMatrix,
    acts: &[QAct],
    x: &[f32],
    r0: usize,
    nr: usize,
    n_tok: usize,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: has_avx2() checked at runtime that the CPU supports AVX2 and FMA.
        unsafe { tile_avx2(w, acts, x, r0, nr, n_tok, out) };
        return;
    }
    tile_impl(w, acts, x, r0, nr, n_tok, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_scope_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` with FMA enabled when the CPU has it, so that `f32::mul_add` in code it
/// inlines is one instruction rather than a libm call. The results are the same (a
/// fused multiply-add rounds once either way); only the speed differs.
pub(crate) fn with_fma<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: has_avx2() checked at runtime that the CPU supports AVX2 and FMA.
        return unsafe { fma_scope_avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::too_many_arguments)]
fn attend_avx2(
    q: &[f32],
    kc: &[f32],
    vc: &[f32],
    n_ctx: usize,
    kvd: usize,
    kh: usize,
    scale: f32,
    single: bool,
    out: &mut [f32],
) {
    x86::attend(q, kc, vc, n_ctx, kvd, kh, scale, single, out)
}

/// One attention head for one query (see [`attend_impl`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend(
    q: &[f32],
    kc: &[f32],
    vc: &[f32],
    n_ctx: usize,
    kvd: usize,
    kh: usize,
    scale: f32,
    single: bool,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: has_avx2() checked at runtime that the CPU supports AVX2 and FMA.
        unsafe { attend_avx2(q, kc, vc, n_ctx, kvd, kh, scale, single, out) };
        return;
    }
    attend_impl(
        q,
        kc,
        vc,
        n_ctx,
        kvd,
        kh,
        scale,
        single,
        round_f16_portable,
        out,
    )
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::GgmlType;

    /// The AVX2 attention kernel gives exactly the portable kernel's bits, in both the
    /// single-query and the batched order, with and without leftover lanes.
    #[test]
    fn simd_attention_matches_portable_bits() {
        let mut seed = 11u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % 2000) as f32 / 1000.0 - 1.0
        };
        for hd in [64, 48, 136] {
            let kvd = 3 * hd;
            let off = hd;
            for n_ctx in [1usize, 5, 16, 37, 70] {
                let n_blk = n_ctx.div_ceil(crate::model::VBLK);
                let f16 = |x: f32| half::f16::from_f32(x).to_f32();
                // Large query values push some exponents out of the vector path's range.
                let amp = if n_ctx == 37 { 400.0 } else { 1.0 };
                let q: Vec<f32> = (0..hd).map(|_| f16(amp * next())).collect();
                let kc: Vec<f32> = (0..n_ctx * kvd).map(|_| f16(next())).collect();
                let mut vc: Vec<f32> = (0..n_blk * crate::model::VBLK * kvd)
                    .map(|_| f16(next()))
                    .collect();
                // Slots past n_ctx are zero in a real cache.
                for (i, v) in vc.iter_mut().enumerate() {
                    let blk = i / (crate::model::VBLK * kvd);
                    if blk * crate::model::VBLK + i % crate::model::VBLK >= n_ctx {
                        *v = 0.0;
                    }
                }
                for single in [true, false] {
                    let mut want = vec![0f32; hd];
                    attend_impl(
                        &q,
                        &kc,
                        &vc,
                        n_ctx,
                        kvd,
                        off,
                        0.125,
                        single,
                        round_f16_portable,
                        &mut want,
                    );
                    let mut got = vec![0f32; hd];
                    attend(&q, &kc, &vc, n_ctx, kvd, off, 0.125, single, &mut got);
                    assert_eq!(
                        got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "hd {hd}, n_ctx {n_ctx}, single {single}"
                    );
                }
            }
        }
    }

    /// The AVX2 and AVX-512 VNNI kernels give exactly the portable kernels' bits, for
    /// every remainder of the 4-token grouping.
    #[test]
    fn simd_kernels_match_portable_bits() {
        // 3 blocks per row, and 19 (scales converted in chunks of 8 with a tail).
        for cols in [96, 608] {
            kernels_match_portable_bits(9, cols);
        }
    }

    fn kernels_match_portable_bits(rows: usize, cols: usize) {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for n_tok in [1, 2, 6, 7] {
            let x: Vec<f32> = (0..n_tok * cols)
                .map(|_| (next() % 2000) as f32 / 1000.0 - 1.0)
                .collect();
            for (ty, bb) in [
                (GgmlType::Q4_1, 20),
                (GgmlType::Q4_0, 18),
                (GgmlType::Q8_0, 34),
            ] {
                let bytes: Vec<u8> = (0..rows * cols / 32)
                    .flat_map(|_| {
                        let mut b: Vec<u8> = (0..bb).map(|_| next() as u8).collect();
                        b[..2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
                        if ty == GgmlType::Q4_1 {
                            b[2..4].copy_from_slice(&half::f16::from_f32(-0.05).to_le_bytes());
                        }
                        b
                    })
                    .collect();
                let w = QMatrix::from_gguf("w", ty, rows, cols, &bytes).unwrap();
                let acts: Vec<QAct> = x
                    .chunks(cols)
                    .map(|r| QAct::quantize(r, ty == GgmlType::Q4_1))
                    .collect();
                let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                let mut want = vec![0f32; rows * n_tok];
                tile_impl(&w, &acts, &x, 0, rows, n_tok, &mut want);
                let mut got = vec![0f32; rows * n_tok];
                tile(&w, &acts, &x, 0, rows, n_tok, &mut got);
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{ty:?} ({}), {n_tok} tokens",
                    simd_level()
                );
                #[cfg(target_arch = "x86_64")]
                if has_avx2() {
                    // The plain AVX2 kernels too, when the dispatcher picked VNNI.
                    use crate::quant::Quants;
                    let mut got = vec![0f32; rows * n_tok];
                    let bpr = cols / 32;
                    // SAFETY: has_avx2() checked the CPU features.
                    unsafe {
                        match &w.q {
                            Quants::Q4_1 { d, m, qs } => {
                                x86::q4_tile(d, Some(m), qs, bpr, &acts, 0, rows, n_tok, &mut got)
                            }
                            Quants::Q4_0 { d, qs } => {
                                x86::q4_tile(d, None, qs, bpr, &acts, 0, rows, n_tok, &mut got)
                            }
                            Quants::Q8_0 { d, qs } => {
                                x86::q8_tile(d, qs, bpr, &acts, 0, rows, n_tok, &mut got)
                            }
                            Quants::F32(_) => unreachable!(),
                        }
                    }
                    assert_eq!(bits(&got), bits(&want), "{ty:?} (avx2), {n_tok} tokens");
                }
            }
        }
    }
}

mod sgemm;
pub use sgemm::sgemm_level;
pub(crate) use sgemm::{SGEMM_NR, attend_head, gelu, layer_norm, sgemm_packed};
