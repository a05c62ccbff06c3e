//! The FFN's gate and up projections of a block, run fused with SwiGLU or apart.

use crate::error::Result;
use crate::quant::QMatrix;

/// The FFN's gate and up projections: paired (rows interleaved, SwiGLU applied in the
/// same parallel pass), or apart when their height does not divide into pairs.
pub(super) enum GateUp {
    Paired(QMatrix),
    Apart(QMatrix, QMatrix),
}

impl GateUp {
    pub(super) fn new(name: &str, gate: QMatrix, up: QMatrix) -> Result<GateUp> {
        if gate.rows.is_multiple_of(crate::quant::PAIR_ROWS) {
            Ok(GateUp::Paired(QMatrix::interleave_pairs(name, &gate, &up)?))
        } else {
            Ok(GateUp::Apart(gate, up))
        }
    }

    pub(super) fn size_bytes(&self) -> usize {
        match self {
            GateUp::Paired(m) => m.size_bytes(),
            GateUp::Apart(g, u) => g.size_bytes() + u.size_bytes(),
        }
    }

    /// `gate[t] = gate · x[t]` and `up[t] = up · x[t]`, apart (for adapters on them).
    pub(super) fn apart(&self, x: &[f32], n_tok: usize, gate: &mut [f32], up: &mut [f32]) {
        match self {
            GateUp::Paired(m) => {
                // The interleaved matrix's rows: per group, PAIR_ROWS of gate then
                // PAIR_ROWS of up.
                let p = crate::quant::PAIR_ROWS;
                let ff = gate.len() / n_tok.max(1);
                let mut both = vec![0f32; 2 * gate.len()];
                m.matmul(x, n_tok, &mut both);
                for (t, row) in both.chunks_exact(2 * ff).enumerate() {
                    for (g, pair) in row.chunks_exact(2 * p).enumerate() {
                        let at = t * ff + g * p;
                        gate[at..at + p].copy_from_slice(&pair[..p]);
                        up[at..at + p].copy_from_slice(&pair[p..]);
                    }
                }
            }
            GateUp::Apart(g, u) => {
                g.matmul(x, n_tok, gate);
                u.matmul(x, n_tok, up);
            }
        }
    }

    /// `out[t] = swiglu(gate · x[t], up · x[t])`.
    pub(super) fn swiglu(&self, x: &[f32], n_tok: usize, out: &mut [f32]) {
        let f = |g: &mut [f32], u: &[f32]| {
            crate::simd::with_fma(|| {
                for (g, u) in g.iter_mut().zip(u) {
                    *g = crate::quant::swiglu(*g, *u);
                }
            })
        };
        match self {
            GateUp::Paired(m) => m.matmul_pairs(x, n_tok, out, f),
            GateUp::Apart(g, u) => {
                let mut up = vec![0f32; out.len()];
                g.matmul(x, n_tok, out);
                u.matmul(x, n_tok, &mut up);
                f(out, &up);
            }
        }
    }
}
