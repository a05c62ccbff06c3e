//! f32 GEMM against pre-packed weights, and the vectorised attention, GELU and
//! LayerNorm of the BERT sentence encoder (`embed/bert.rs`), with their CPU dispatch.

#[cfg(target_arch = "x86_64")]
use super::has_avx2;

/// Column-panel width of weights packed for [`sgemm_packed`].
pub(crate) const SGEMM_NR: usize = 32;

#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::env::var_os("SIGIL_NO_SIMD").is_none()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vl")
    })
}

/// Which f32 GEMM kernel the embedder uses: `"avx512"`, `"avx2+fma"` or `"portable"`.
pub fn sgemm_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            return "avx512";
        }
        if has_avx2() {
            return "avx2+fma";
        }
    }
    "portable"
}

/// `c[m × n] = a[m × k] · Wᵀ + bias` for a row-major `a` and `c`, with the `n × k` weight
/// matrix `W` packed by `bert::pack_weights`: panel `p` (output columns `32p..32p+32`)
/// holds, for each `kk`, the 32 values `W[32p + j][kk]` at `packed[(p·k + kk)·32 + j]`.
/// `n` must be a multiple of 32. Single-threaded: callers split `a`/`c` by rows.
pub(crate) fn sgemm_packed(
    a: &[f32],
    m: usize,
    k: usize,
    packed: &[f32],
    n: usize,
    bias: &[f32],
    c: &mut [f32],
) {
    assert!(
        n.is_multiple_of(SGEMM_NR),
        "sgemm_packed: n = {n} is not a multiple of 32"
    );
    assert!(
        a.len() >= m * k && c.len() >= m * n,
        "sgemm_packed: a or c too short"
    );
    assert!(
        packed.len() >= n * k && bias.len() >= n,
        "sgemm_packed: weights too short"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            for p in 0..n / SGEMM_NR {
                let panel = &packed[p * k * SGEMM_NR..(p + 1) * k * SGEMM_NR];
                let bias = &bias[p * SGEMM_NR..];
                let mut r = 0;
                while r < m {
                    let rows = (m - r).min(12);
                    // SAFETY: has_avx512() checked the CPU; the asserts above bound every
                    // access: rows r..r+rows of `a` (k each) and of `c` (n each), k rows of
                    // 32 in `panel`, 32 values of `bias`.
                    unsafe {
                        sgemm_x86::block_avx512(
                            rows,
                            a.as_ptr().add(r * k),
                            k,
                            panel.as_ptr(),
                            bias.as_ptr(),
                            c.as_mut_ptr().add(r * n + p * SGEMM_NR),
                            n,
                        )
                    };
                    r += rows;
                }
            }
            return;
        }
        if has_avx2() {
            for p in 0..n / SGEMM_NR {
                let panel = &packed[p * k * SGEMM_NR..(p + 1) * k * SGEMM_NR];
                let bias = &bias[p * SGEMM_NR..];
                let mut r = 0;
                while r < m {
                    let rows = (m - r).min(3);
                    // SAFETY: has_avx2() checked the CPU; bounds as for the AVX-512 path.
                    unsafe {
                        sgemm_x86::block_avx2(
                            rows,
                            a.as_ptr().add(r * k),
                            k,
                            panel.as_ptr(),
                            bias.as_ptr(),
                            c.as_mut_ptr().add(r * n + p * SGEMM_NR),
                            n,
                        )
                    };
                    r += rows;
                }
            }
            return;
        }
    }
    sgemm_portable(a, m, k, packed, n, bias, c)
}

/// The portable kernel: same packing, one row at a time (vectorised by the compiler).
pub(crate) fn sgemm_portable(
    a: &[f32],
    m: usize,
    k: usize,
    packed: &[f32],
    n: usize,
    bias: &[f32],
    c: &mut [f32],
) {
    for p in 0..n / SGEMM_NR {
        let panel = &packed[p * k * SGEMM_NR..(p + 1) * k * SGEMM_NR];
        for r in 0..m {
            let mut acc = [0f32; SGEMM_NR];
            acc.copy_from_slice(&bias[p * SGEMM_NR..(p + 1) * SGEMM_NR]);
            for (x, w) in a[r * k..(r + 1) * k]
                .iter()
                .zip(panel.chunks_exact(SGEMM_NR))
            {
                for (o, w) in acc.iter_mut().zip(w) {
                    *o += x * w;
                }
            }
            c[r * n + p * SGEMM_NR..r * n + (p + 1) * SGEMM_NR].copy_from_slice(&acc);
        }
    }
}

/// Defines `$name`, which runs the `#[inline(always)]` function `$imp` compiled for
/// AVX-512 (else AVX2+FMA, else baseline) as the CPU allows, so its plain loops
/// vectorise 16 or 8 wide. Used for the embedder's attention, GELU and LayerNorm.
macro_rules! vectorised {
    ($name:ident, $imp:path, fn($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        pub(crate) fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn avx512($($arg: $ty),*) -> $ret {
                    $imp($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) -> $ret {
                    $imp($($arg),*)
                }
                if has_avx512() && has_avx2() {
                    // SAFETY: has_avx512() and has_avx2() checked the CPU at runtime.
                    return unsafe { avx512($($arg),*) };
                }
                if has_avx2() {
                    // SAFETY: has_avx2() checked the CPU at runtime.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $imp($($arg),*)
        }
    };
}

vectorised!(
    attend_head,
    crate::embed::kernels::attend_head_impl,
    fn(qkv: &[f32], span: (usize, usize), h: usize, hd: usize, d: usize) -> Vec<f32>
);
vectorised!(
    gelu,
    crate::embed::kernels::gelu_impl,
    fn(xs: &mut [f32]) -> ()
);
vectorised!(
    layer_norm,
    crate::embed::kernels::layer_norm_impl,
    fn(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) -> ()
);

#[cfg(target_arch = "x86_64")]
mod sgemm_x86 {
    use std::arch::x86_64::*;

    /// `rows` (1..=12) rows × one 32-column panel, dispatched to a fixed-size kernel so
    /// the accumulators stay in registers.
    ///
    /// # Safety
    /// The CPU supports AVX-512F; `a` has `rows` rows of `k` (stride `k`), `panel` `k × 32`
    /// values, `bias` 32, and `c` `rows` rows of 32 at stride `ldc`.
    pub unsafe fn block_avx512(
        rows: usize,
        a: *const f32,
        k: usize,
        panel: *const f32,
        bias: *const f32,
        c: *mut f32,
        ldc: usize,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match rows {
                12 => avx512::<12>(a, k, panel, bias, c, ldc),
                11 => avx512::<11>(a, k, panel, bias, c, ldc),
                10 => avx512::<10>(a, k, panel, bias, c, ldc),
                9 => avx512::<9>(a, k, panel, bias, c, ldc),
                8 => avx512::<8>(a, k, panel, bias, c, ldc),
                7 => avx512::<7>(a, k, panel, bias, c, ldc),
                6 => avx512::<6>(a, k, panel, bias, c, ldc),
                5 => avx512::<5>(a, k, panel, bias, c, ldc),
                4 => avx512::<4>(a, k, panel, bias, c, ldc),
                3 => avx512::<3>(a, k, panel, bias, c, ldc),
                2 => avx512::<2>(a, k, panel, bias, c, ldc),
                _ => avx512::<1>(a, k, panel, bias, c, ldc),
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn avx512<const MR: usize>(
        a: *const f32,
        k: usize,
        panel: *const f32,
        bias: *const f32,
        c: *mut f32,
        ldc: usize,
    ) {
        // SAFETY: bounds are the caller's contract (see `block_avx512`).
        unsafe {
            let b0 = _mm512_loadu_ps(bias);
            let b1 = _mm512_loadu_ps(bias.add(16));
            let mut lo = [b0; MR];
            let mut hi = [b1; MR];
            for kk in 0..k {
                let w0 = _mm512_loadu_ps(panel.add(kk * 32));
                let w1 = _mm512_loadu_ps(panel.add(kk * 32 + 16));
                for r in 0..MR {
                    let x = _mm512_set1_ps(*a.add(r * k + kk));
                    lo[r] = _mm512_fmadd_ps(x, w0, lo[r]);
                    hi[r] = _mm512_fmadd_ps(x, w1, hi[r]);
                }
            }
            for r in 0..MR {
                _mm512_storeu_ps(c.add(r * ldc), lo[r]);
                _mm512_storeu_ps(c.add(r * ldc + 16), hi[r]);
            }
        }
    }

    /// As [`block_avx512`] for 1..=3 rows with AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA; bounds as for [`block_avx512`].
    pub unsafe fn block_avx2(
        rows: usize,
        a: *const f32,
        k: usize,
        panel: *const f32,
        bias: *const f32,
        c: *mut f32,
        ldc: usize,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match rows {
                3 => avx2::<3>(a, k, panel, bias, c, ldc),
                2 => avx2::<2>(a, k, panel, bias, c, ldc),
                _ => avx2::<1>(a, k, panel, bias, c, ldc),
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2<const MR: usize>(
        a: *const f32,
        k: usize,
        panel: *const f32,
        bias: *const f32,
        c: *mut f32,
        ldc: usize,
    ) {
        // SAFETY: bounds are the caller's contract (see `block_avx2`).
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 4]; MR];
            for row in acc.iter_mut() {
                for (q, v) in row.iter_mut().enumerate() {
                    *v = _mm256_loadu_ps(bias.add(q * 8));
                }
            }
            for kk in 0..k {
                let p = panel.add(kk * 32);
                let w = [
                    _mm256_loadu_ps(p),
                    _mm256_loadu_ps(p.add(8)),
                    _mm256_loadu_ps(p.add(16)),
                    _mm256_loadu_ps(p.add(24)),
                ];
                for (r, row) in acc.iter_mut().enumerate() {
                    let x = _mm256_set1_ps(*a.add(r * k + kk));
                    for q in 0..4 {
                        row[q] = _mm256_fmadd_ps(x, w[q], row[q]);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (q, v) in row.iter().enumerate() {
                    _mm256_storeu_ps(c.add(r * ldc + q * 8), *v);
                }
            }
        }
    }
}

#[cfg(test)]
mod sgemm_tests {
    use super::*;

    /// The SIMD GEMM agrees with a plain triple loop (all row tails, two panels).
    #[test]
    fn sgemm_matches_naive() {
        let (k, n) = (40, 64);
        let mut seed = 11u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % 2000) as f32 / 1000.0 - 1.0
        };
        let w: Vec<f32> = (0..n * k).map(|_| next()).collect();
        let bias: Vec<f32> = (0..n).map(|_| next()).collect();
        let mut packed = vec![0f32; n * k];
        for p in 0..n / SGEMM_NR {
            for kk in 0..k {
                for j in 0..SGEMM_NR {
                    packed[(p * k + kk) * SGEMM_NR + j] = w[(p * SGEMM_NR + j) * k + kk];
                }
            }
        }
        for m in [1, 2, 3, 5, 12, 13, 29] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let mut c = vec![0f32; m * n];
            let mut c2 = vec![0f32; m * n];
            sgemm_packed(&a, m, k, &packed, n, &bias, &mut c);
            sgemm_portable(&a, m, k, &packed, n, &bias, &mut c2);
            for r in 0..m {
                for j in 0..n {
                    let want: f32 =
                        bias[j] + (0..k).map(|kk| a[r * k + kk] * w[j * k + kk]).sum::<f32>();
                    assert!((c[r * n + j] - want).abs() < 1e-4, "m={m} r={r} j={j}");
                    assert!((c2[r * n + j] - want).abs() < 1e-4, "m={m} r={r} j={j}");
                }
            }
        }
    }
}
