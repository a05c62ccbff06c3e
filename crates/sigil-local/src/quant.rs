//! Quantized weight matrices and their kernels.
//!
//! Weights are repacked at load time into a struct-of-arrays layout (block scales as
//! f32, quants packed as in GGML) so the inner loops vectorize. As in llama.cpp,
//! activations are quantized per 32-block to 8 bits (Q8_1 for Q4_1 weights, Q8_0
//! otherwise) and dotted in integers, which keeps the output close to llama.cpp's.

use half::f16;
use rayon::prelude::*;

use crate::error::{LocalError, Result};
use crate::gguf::GgmlType;
use crate::simd;

pub const QK: usize = 32;

/// Zero scales after the last block, so that the SIMD kernels can always convert
/// scales eight blocks at a time.
pub(crate) const SCALE_PAD: usize = 8;

/// The repacked quants of a weight matrix. Block scales stay f16 (as bits), so a
/// matrix is as many bytes as in the GGUF: decoding reads every weight once per token,
/// and at this model size that traffic is what bounds its speed. Scale vectors hold
/// [`SCALE_PAD`] zeros after the last block.
#[derive(Clone, Debug)]
pub enum Quants {
    /// Q4_1: per block scale `d` and min `m` (f16 bits), 16 bytes of nibbles (low = j,
    /// high = j+16).
    Q4_1 {
        d: Vec<u16>,
        m: Vec<u16>,
        qs: Vec<u8>,
    },
    /// Q4_0: per block scale `d` (f16 bits), nibbles offset by 8.
    Q4_0 { d: Vec<u16>, qs: Vec<u8> },
    /// Q8_0: per block scale `d` (f16 bits), 32 signed bytes.
    Q8_0 { d: Vec<u16>, qs: Vec<i8> },
    /// Plain f32 (F32 and F16 tensors).
    F32(Vec<f32>),
}

/// A `rows x cols` weight matrix (`cols` is the contiguous, input dimension).
#[derive(Clone, Debug)]
pub struct QMatrix {
    pub rows: usize,
    pub cols: usize,
    pub q: Quants,
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

/// An f16 given as bits, widened to f32 (exact).
#[inline(always)]
pub(crate) fn h2f(bits: u16) -> f32 {
    f16::from_bits(bits).to_f32()
}

/// Reads `n` f32 values from F32 or F16 tensor bytes.
pub fn to_f32_vec(ty: GgmlType, bytes: &[u8], n: usize, name: &str) -> Result<Vec<f32>> {
    match ty {
        GgmlType::F32 => Ok(bytes[..n * 4]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()),
        GgmlType::F16 => Ok((0..n).map(|i| f16_at(bytes, 2 * i)).collect()),
        other => Err(LocalError::UnsupportedQuant {
            tensor: name.to_string(),
            kind: format!("{} (expected F32/F16 here)", other.name()),
        }),
    }
}

impl QMatrix {
    /// Repacks GGUF tensor bytes of type `ty`.
    pub fn from_gguf(
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        b: &[u8],
    ) -> Result<QMatrix> {
        let nb = rows * cols / QK;
        let q = match ty {
            GgmlType::Q4_1 => {
                let (mut d, mut m, mut qs) = (
                    Vec::with_capacity(nb + SCALE_PAD),
                    Vec::with_capacity(nb + SCALE_PAD),
                    Vec::with_capacity(nb * 16),
                );
                for blk in b.chunks_exact(20).take(nb) {
                    d.push(u16_at(blk, 0));
                    m.push(u16_at(blk, 2));
                    qs.extend_from_slice(&blk[4..20]);
                }
                d.resize(d.len() + SCALE_PAD, 0);
                m.resize(m.len() + SCALE_PAD, 0);
                Quants::Q4_1 { d, m, qs }
            }
            GgmlType::Q4_0 => {
                let (mut d, mut qs) = (
                    Vec::with_capacity(nb + SCALE_PAD),
                    Vec::with_capacity(nb * 16),
                );
                for blk in b.chunks_exact(18).take(nb) {
                    d.push(u16_at(blk, 0));
                    qs.extend_from_slice(&blk[2..18]);
                }
                d.resize(d.len() + SCALE_PAD, 0);
                Quants::Q4_0 { d, qs }
            }
            GgmlType::Q8_0 => {
                let (mut d, mut qs) = (
                    Vec::with_capacity(nb + SCALE_PAD),
                    Vec::with_capacity(nb * 32),
                );
                for blk in b.chunks_exact(34).take(nb) {
                    d.push(u16_at(blk, 0));
                    qs.extend(blk[2..34].iter().map(|&x| x as i8));
                }
                d.resize(d.len() + SCALE_PAD, 0);
                Quants::Q8_0 { d, qs }
            }
            GgmlType::F32 | GgmlType::F16 => Quants::F32(to_f32_vec(ty, b, rows * cols, name)?),
            other => {
                return Err(LocalError::UnsupportedQuant {
                    tensor: name.to_string(),
                    kind: other.name().to_string(),
                });
            }
        };
        if !matches!(q, Quants::F32(_)) && !cols.is_multiple_of(QK) {
            return Err(LocalError::Malformed(format!(
                "tensor {name}: {cols} columns is not a multiple of {QK}"
            )));
        }
        Ok(QMatrix { rows, cols, q })
    }

    /// Dequantizes row `r` into `out` (embedding lookup).
    pub fn row_f32(&self, r: usize, out: &mut [f32]) {
        let bpr = self.cols / QK;
        match &self.q {
            Quants::Q4_1 { d, m, qs } => {
                for b in 0..bpr {
                    let bi = r * bpr + b;
                    let q = &qs[bi * 16..bi * 16 + 16];
                    let (d, m) = (h2f(d[bi]), h2f(m[bi]));
                    for j in 0..16 {
                        out[b * QK + j] = (q[j] & 15) as f32 * d + m;
                        out[b * QK + j + 16] = (q[j] >> 4) as f32 * d + m;
                    }
                }
            }
            Quants::Q4_0 { d, qs } => {
                for b in 0..bpr {
                    let bi = r * bpr + b;
                    let q = &qs[bi * 16..bi * 16 + 16];
                    let d = h2f(d[bi]);
                    for j in 0..16 {
                        out[b * QK + j] = ((q[j] & 15) as i32 - 8) as f32 * d;
                        out[b * QK + j + 16] = ((q[j] >> 4) as i32 - 8) as f32 * d;
                    }
                }
            }
            Quants::Q8_0 { d, qs } => {
                for b in 0..bpr {
                    let bi = r * bpr + b;
                    let d = h2f(d[bi]);
                    for j in 0..QK {
                        out[b * QK + j] = qs[bi * QK + j] as f32 * d;
                    }
                }
            }
            Quants::F32(v) => {
                out[..self.cols].copy_from_slice(&v[r * self.cols..(r + 1) * self.cols])
            }
        }
    }

    /// Bytes held.
    pub fn size_bytes(&self) -> usize {
        match &self.q {
            Quants::Q4_1 { d, m, qs } => d.len() * 2 + m.len() * 2 + qs.len(),
            Quants::Q4_0 { d, qs } => d.len() * 2 + qs.len(),
            Quants::Q8_0 { d, qs } => d.len() * 2 + qs.len(),
            Quants::F32(v) => v.len() * 4,
        }
    }

    /// The rows of `parts`, in order, as one matrix (all of the same type and width):
    /// one pass over the input computes all of them.
    pub fn concat_rows(name: &str, parts: &[&QMatrix]) -> Result<QMatrix> {
        let bad = || LocalError::Malformed(format!("{name}: matrices of different kinds"));
        let first = parts.first().ok_or_else(bad)?;
        let cols = first.cols;
        if parts.iter().any(|p| p.cols != cols) {
            return Err(bad());
        }
        let rows: usize = parts.iter().map(|p| p.rows).sum();
        let nb = rows * cols / QK;
        // Scales without their padding, then the padding once at the end.
        fn scales(
            parts: &[&QMatrix],
            nb: usize,
            get: impl Fn(&Quants) -> Option<&Vec<u16>>,
        ) -> Option<Vec<u16>> {
            let mut out = Vec::with_capacity(nb + SCALE_PAD);
            for p in parts {
                let v = get(&p.q)?;
                out.extend_from_slice(&v[..p.rows * p.cols / QK]);
            }
            out.resize(nb + SCALE_PAD, 0);
            Some(out)
        }
        fn bytes<T: Copy>(
            parts: &[&QMatrix],
            get: impl Fn(&Quants) -> Option<&Vec<T>>,
        ) -> Option<Vec<T>> {
            let mut out = Vec::new();
            for p in parts {
                out.extend_from_slice(get(&p.q)?);
            }
            Some(out)
        }
        let q = match &first.q {
            Quants::Q4_1 { .. } => Quants::Q4_1 {
                d: scales(parts, nb, |q| match q {
                    Quants::Q4_1 { d, .. } => Some(d),
                    _ => None,
                })
                .ok_or_else(bad)?,
                m: scales(parts, nb, |q| match q {
                    Quants::Q4_1 { m, .. } => Some(m),
                    _ => None,
                })
                .ok_or_else(bad)?,
                qs: bytes(parts, |q| match q {
                    Quants::Q4_1 { qs, .. } => Some(qs),
                    _ => None,
                })
                .ok_or_else(bad)?,
            },
            Quants::Q4_0 { .. } => Quants::Q4_0 {
                d: scales(parts, nb, |q| match q {
                    Quants::Q4_0 { d, .. } => Some(d),
                    _ => None,
                })
                .ok_or_else(bad)?,
                qs: bytes(parts, |q| match q {
                    Quants::Q4_0 { qs, .. } => Some(qs),
                    _ => None,
                })
                .ok_or_else(bad)?,
            },
            Quants::Q8_0 { .. } => Quants::Q8_0 {
                d: scales(parts, nb, |q| match q {
                    Quants::Q8_0 { d, .. } => Some(d),
                    _ => None,
                })
                .ok_or_else(bad)?,
                qs: bytes(parts, |q| match q {
                    Quants::Q8_0 { qs, .. } => Some(qs),
                    _ => None,
                })
                .ok_or_else(bad)?,
            },
            Quants::F32(_) => Quants::F32(
                bytes(parts, |q| match q {
                    Quants::F32(v) => Some(v),
                    _ => None,
                })
                .ok_or_else(bad)?,
            ),
        };
        Ok(QMatrix { rows, cols, q })
    }

    /// `a` and `b` (same shape and type) with their rows interleaved in groups of
    /// [`PAIR_ROWS`], for [`QMatrix::matmul_pairs`].
    pub fn interleave_pairs(name: &str, a: &QMatrix, b: &QMatrix) -> Result<QMatrix> {
        if a.rows != b.rows || a.cols != b.cols || !a.rows.is_multiple_of(PAIR_ROWS) {
            return Err(LocalError::Malformed(format!(
                "{name}: {}x{} and {}x{} cannot be paired",
                a.rows, a.cols, b.rows, b.cols
            )));
        }
        let groups: Vec<QMatrix> = (0..a.rows / PAIR_ROWS)
            .flat_map(|g| {
                [
                    a.slice_rows(g * PAIR_ROWS, PAIR_ROWS),
                    b.slice_rows(g * PAIR_ROWS, PAIR_ROWS),
                ]
            })
            .collect();
        QMatrix::concat_rows(name, &groups.iter().collect::<Vec<_>>())
    }

    /// Rows `r0..r0 + n` as a matrix of their own.
    fn slice_rows(&self, r0: usize, n: usize) -> QMatrix {
        let bpr = self.cols / QK;
        let sc = |v: &Vec<u16>| {
            let mut s = v[r0 * bpr..(r0 + n) * bpr].to_vec();
            s.resize(s.len() + SCALE_PAD, 0);
            s
        };
        let q = match &self.q {
            Quants::Q4_1 { d, m, qs } => Quants::Q4_1 {
                d: sc(d),
                m: sc(m),
                qs: qs[r0 * bpr * 16..(r0 + n) * bpr * 16].to_vec(),
            },
            Quants::Q4_0 { d, qs } => Quants::Q4_0 {
                d: sc(d),
                qs: qs[r0 * bpr * 16..(r0 + n) * bpr * 16].to_vec(),
            },
            Quants::Q8_0 { d, qs } => Quants::Q8_0 {
                d: sc(d),
                qs: qs[r0 * self.cols..(r0 + n) * self.cols].to_vec(),
            },
            Quants::F32(v) => Quants::F32(v[r0 * self.cols..(r0 + n) * self.cols].to_vec()),
        };
        QMatrix {
            rows: n,
            cols: self.cols,
            q,
        }
    }

    /// The activations of `x` (`n_tok` rows of `cols`), quantized as this matrix's
    /// kernels take them.
    fn quantize_acts(&self, x: &[f32]) -> Vec<QAct> {
        match &self.q {
            Quants::F32(_) => Vec::new(),
            Quants::Q4_1 { .. } => x
                .chunks_exact(self.cols)
                .map(|r| QAct::quantize(r, true))
                .collect(),
            _ => x
                .chunks_exact(self.cols)
                .map(|r| QAct::quantize(r, false))
                .collect(),
        }
    }

    /// `out[t][r] = sum_c self[r][c] * x[t][c]` for `t` in `0..n_tok`.
    pub fn matmul(&self, x: &[f32], n_tok: usize, out: &mut [f32]) {
        let (rows, cols) = (self.rows, self.cols);
        debug_assert_eq!(x.len(), n_tok * cols);
        debug_assert_eq!(out.len(), n_tok * rows);
        let acts = self.quantize_acts(x);
        // Row tiles, each computing all tokens: rows x n_tok, transposed after.
        let tile = if n_tok == 1 { 64 } else { 16 };
        if n_tok == 1 {
            out[..rows]
                .par_chunks_mut(tile)
                .enumerate()
                .for_each(|(ti, chunk)| {
                    simd::tile(self, &acts, x, ti * tile, chunk.len(), 1, chunk);
                });
            return;
        }
        let mut tmp = vec![0f32; rows * n_tok];
        tmp.par_chunks_mut(tile * n_tok)
            .enumerate()
            .for_each(|(ti, chunk)| {
                let r0 = ti * tile;
                let nr = chunk.len() / n_tok;
                simd::tile(self, &acts, x, r0, nr, n_tok, chunk);
            });
        transpose_into(&tmp, rows, n_tok, out);
    }

    /// For a matrix made by [`QMatrix::interleave_pairs`]`(a, b)`:
    /// `out[t][i] = f(a[i]·x[t], b[i]·x[t])` for each of the `rows / 2` pairs, with
    /// `f` applied inside the parallel tiles.
    pub fn matmul_pairs(
        &self,
        x: &[f32],
        n_tok: usize,
        out: &mut [f32],
        f: impl Fn(&mut [f32], &[f32]) + Sync,
    ) {
        let (rows, cols) = (self.rows, self.cols);
        let half = rows / 2;
        debug_assert_eq!(x.len(), n_tok * cols);
        debug_assert_eq!(out.len(), n_tok * half);
        let acts = self.quantize_acts(x);
        // Tiles of whole groups: `groups` pairs of PAIR_ROWS rows each.
        let groups = if n_tok == 1 { 2 } else { 1 };
        let run = |ti: usize, chunk: &mut [f32]| {
            let npairs = chunk.len() / n_tok;
            let mut buf = vec![0f32; 2 * npairs * n_tok];
            simd::tile(
                self,
                &acts,
                x,
                2 * ti * groups * PAIR_ROWS,
                2 * npairs,
                n_tok,
                &mut buf,
            );
            // buf holds, per group, PAIR_ROWS rows of `a` then PAIR_ROWS of `b`.
            for (g, c) in buf
                .chunks_exact_mut(2 * PAIR_ROWS * n_tok)
                .zip(chunk.chunks_exact_mut(PAIR_ROWS * n_tok))
            {
                let (a, b) = g.split_at_mut(PAIR_ROWS * n_tok);
                f(a, b);
                c.copy_from_slice(a);
            }
        };
        if n_tok == 1 {
            out.par_chunks_mut(groups * PAIR_ROWS)
                .enumerate()
                .for_each(|(ti, chunk)| run(ti, chunk));
            return;
        }
        let mut tmp = vec![0f32; half * n_tok];
        tmp.par_chunks_mut(groups * PAIR_ROWS * n_tok)
            .enumerate()
            .for_each(|(ti, chunk)| run(ti, chunk));
        transpose_into(&tmp, half, n_tok, out);
    }
}

/// Rows of the interleaved groups of [`QMatrix::interleave_pairs`].
pub const PAIR_ROWS: usize = 32;

mod kernels;
pub use kernels::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn q4_1_bytes(vals: &[f32]) -> Vec<u8> {
        let mut out = Vec::new();
        for b in vals.chunks(QK) {
            let mn = b.iter().cloned().fold(f32::INFINITY, f32::min);
            let mx = b.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let d = (mx - mn) / 15.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
            out.extend_from_slice(&f16::from_f32(mn).to_le_bytes());
            for j in 0..16 {
                let lo = (((b[j] - mn) * id).round() as u8).min(15);
                let hi = (((b[j + 16] - mn) * id).round() as u8).min(15);
                out.push(lo | (hi << 4));
            }
        }
        out
    }

    #[test]
    fn q4_1_matmul_close_to_f32() {
        let (rows, cols) = (70, 64);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let m = QMatrix::from_gguf("w", GgmlType::Q4_1, rows, cols, &q4_1_bytes(&w)).unwrap();
        let x: Vec<f32> = (0..cols * 3)
            .map(|i| ((i * 13 % 29) as f32 / 14.0) - 1.0)
            .collect();
        let mut out = vec![0f32; rows * 3];
        m.matmul(&x, 3, &mut out);
        let mut deq = vec![0f32; cols];
        for t in 0..3 {
            for r in 0..rows {
                m.row_f32(r, &mut deq);
                let exact = dot_f32(&deq, &x[t * cols..(t + 1) * cols]);
                assert!(
                    (exact - out[t * rows + r]).abs() < 0.05 * (1.0 + exact.abs()),
                    "{exact} vs {}",
                    out[t * rows + r]
                );
            }
        }
    }

    /// Concatenated and pair-interleaved matrices give exactly the separate products.
    #[test]
    fn fused_matrices_match_separate_products() {
        let cols = 64;
        let mk = |rows: usize, salt: usize| {
            let w: Vec<f32> = (0..rows * cols)
                .map(|i| (((i + salt) * 37 % 101) as f32 / 50.0) - 1.0)
                .collect();
            QMatrix::from_gguf("w", GgmlType::Q4_1, rows, cols, &q4_1_bytes(&w)).unwrap()
        };
        let (a, b, c) = (mk(64, 1), mk(64, 2), mk(32, 3));
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for n_tok in [1, 3] {
            let x: Vec<f32> = (0..cols * n_tok)
                .map(|i| ((i * 13 % 29) as f32 / 14.0) - 1.0)
                .collect();
            let sep = |m: &QMatrix| {
                let mut o = vec![0f32; m.rows * n_tok];
                m.matmul(&x, n_tok, &mut o);
                o
            };
            let (oa, ob, oc) = (sep(&a), sep(&b), sep(&c));
            let cat = QMatrix::concat_rows("abc", &[&a, &b, &c]).unwrap();
            let ocat = sep(&cat);
            for t in 0..n_tok {
                let r = &ocat[t * 160..(t + 1) * 160];
                assert_eq!(bits(&r[..64]), bits(&oa[t * 64..(t + 1) * 64]));
                assert_eq!(bits(&r[64..128]), bits(&ob[t * 64..(t + 1) * 64]));
                assert_eq!(bits(&r[128..]), bits(&oc[t * 32..(t + 1) * 32]));
            }
            let pairs = QMatrix::interleave_pairs("ab", &a, &b).unwrap();
            let mut op = vec![0f32; 64 * n_tok];
            pairs.matmul_pairs(&x, n_tok, &mut op, |p, q| {
                for (p, q) in p.iter_mut().zip(q) {
                    *p = *p * 2.0 + *q;
                }
            });
            let want: Vec<f32> = oa.iter().zip(&ob).map(|(p, q)| p * 2.0 + q).collect();
            assert_eq!(bits(&op), bits(&want), "{n_tok} tokens");
        }
        assert!(QMatrix::interleave_pairs("ac", &a, &c).is_err());
    }

    #[test]
    fn unsupported_quant_is_an_error() {
        let e = QMatrix::from_gguf("w", GgmlType::Q6K, 1, 256, &[0u8; 210]).unwrap_err();
        assert!(e.to_string().contains("Q6_K"));
    }
}
