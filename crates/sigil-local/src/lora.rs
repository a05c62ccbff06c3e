//! LoRA adapters at inference: a GGUF LoRA file in llama.cpp's layout (what
//! `sigil-finetune` writes and llama.cpp's `--lora` reads) applied to the projections
//! of the llama forward pass.
//!
//! For an adapted projection `W` the layer computes `W x + s · B (A x)`, with `A`
//! (`rank × in`) and `B` (`out × rank`) in f32 and `s = alpha / rank`, as llama.cpp
//! does. Only the low-rank product is added, so the quantized matrix and its kernels
//! stay as they are, and a model without an adapter runs exactly as before.
//!
//! Every projection can be adapted: `attn_q`, `attn_k`, `attn_v`, `attn_output`,
//! `ffn_gate`, `ffn_up` and `ffn_down`. The FFN's gate and up projections normally run
//! fused with SwiGLU; a layer whose gate or up is adapted computes them apart, adds the
//! low-rank products, then applies SwiGLU.

use std::path::Path;

use crate::error::{LocalError, Result};
use crate::gguf::{GgmlType, Gguf};
use crate::quant::to_f32_vec;

/// One adapted projection: `A` (`rank × n_in`) and `B` (`n_out × rank`), row-major.
#[derive(Clone, Debug)]
pub(crate) struct LoraPair {
    a: Vec<f32>,
    b: Vec<f32>,
    rank: usize,
    n_in: usize,
    n_out: usize,
}

impl LoraPair {
    /// Adds `scale · B (A x_t)` to `out_t` for each of `n` rows (`x`: `n × n_in`,
    /// `out`: `n` rows of `stride` values, written at `offset`).
    pub(crate) fn add(
        &self,
        x: &[f32],
        n: usize,
        scale: f32,
        out: &mut [f32],
        stride: usize,
        offset: usize,
    ) {
        let mut ax = vec![0f32; self.rank];
        for t in 0..n {
            let xt = &x[t * self.n_in..(t + 1) * self.n_in];
            for (r, v) in ax.iter_mut().enumerate() {
                let row = &self.a[r * self.n_in..(r + 1) * self.n_in];
                *v = row.iter().zip(xt).map(|(a, b)| a * b).sum::<f32>() * scale;
            }
            let o = &mut out[t * stride + offset..t * stride + offset + self.n_out];
            for (i, y) in o.iter_mut().enumerate() {
                let row = &self.b[i * self.rank..(i + 1) * self.rank];
                *y += row.iter().zip(&ax).map(|(b, a)| b * a).sum::<f32>();
            }
        }
    }
}

/// The adapted projections of one layer.
#[derive(Clone, Debug, Default)]
pub(crate) struct LayerLora {
    pub(crate) q: Option<LoraPair>,
    pub(crate) k: Option<LoraPair>,
    pub(crate) v: Option<LoraPair>,
    pub(crate) o: Option<LoraPair>,
    pub(crate) gate: Option<LoraPair>,
    pub(crate) up: Option<LoraPair>,
    pub(crate) down: Option<LoraPair>,
}

/// A loaded adapter: per layer its pairs, and the scale `alpha / rank`.
#[derive(Clone, Debug)]
pub struct LoraAdapter {
    pub(crate) layers: Vec<LayerLora>,
    pub(crate) scale: f32,
}

const SUPPORTED: [&str; 7] = [
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

impl LoraAdapter {
    /// Reads a GGUF LoRA adapter for a model of `n_layer` blocks. `dims(name)` gives the
    /// (out, in) shape of the base projection `name` (`attn_q`, ...), checked against
    /// the adapter's matrices.
    pub(crate) fn load(
        path: &Path,
        n_layer: usize,
        dims: impl Fn(&str) -> (usize, usize),
    ) -> Result<LoraAdapter> {
        let bad =
            |m: String| LocalError::Malformed(format!("LoRA adapter {}: {m}", path.display()));
        let g = Gguf::open(path)?;
        if g.get_str("general.type") != Some("adapter") || g.get_str("adapter.type") != Some("lora")
        {
            return Err(bad(
                "not a LoRA adapter (general.type / adapter.type)".into()
            ));
        }
        let alpha = g
            .get("adapter.lora.alpha")
            .and_then(|v| v.as_f64())
            .ok_or_else(|| bad("no adapter.lora.alpha".into()))? as f32;
        let mut layers = vec![LayerLora::default(); n_layer];
        let mut rank = None;
        for t in g.tensors.iter().filter(|t| t.name.ends_with(".lora_a")) {
            let base = t.name.trim_end_matches(".lora_a");
            let (blk, target) = base
                .strip_prefix("blk.")
                .and_then(|s| s.split_once('.'))
                .and_then(|(i, rest)| {
                    Some((i.parse::<usize>().ok()?, rest.strip_suffix(".weight")?))
                })
                .ok_or_else(|| bad(format!("unexpected tensor {}", t.name)))?;
            if !SUPPORTED.contains(&target) {
                return Err(bad(format!(
                    "{target} is adapted, but this engine applies adapters only to {}",
                    SUPPORTED.join(", ")
                )));
            }
            if blk >= n_layer {
                return Err(bad(format!(
                    "{} is past the model's {n_layer} blocks",
                    t.name
                )));
            }
            let b_name = format!("{base}.lora_b");
            let tb = g
                .tensor(&b_name)
                .ok_or_else(|| bad(format!("{b_name} is missing")))?;
            let (n_out, n_in) = dims(target);
            // GGML order: lora_a is [n_in, r], lora_b is [r, n_out].
            let r = match (t.dims.as_slice(), tb.dims.as_slice()) {
                ([i, r], [r2, o]) if *i as usize == n_in && *o as usize == n_out && r == r2 => {
                    *r as usize
                }
                _ => {
                    return Err(bad(format!(
                        "{} / {b_name} have shapes {:?} / {:?}, expected [{n_in}, r] / [r, {n_out}]",
                        t.name, t.dims, tb.dims
                    )));
                }
            };
            if *rank.get_or_insert(r) != r {
                return Err(bad("the matrices have different ranks".into()));
            }
            let read = |ti: &crate::gguf::TensorInfo, n: usize| -> Result<Vec<f32>> {
                match ti.ty {
                    GgmlType::F32 | GgmlType::F16 => {
                        to_f32_vec(ti.ty, g.tensor_data(ti), n, &ti.name)
                    }
                    other => Err(bad(format!(
                        "{} is {other:?}; adapters are F32 or F16",
                        ti.name
                    ))),
                }
            };
            let pair = LoraPair {
                a: read(t, r * n_in)?,
                b: read(tb, n_out * r)?,
                rank: r,
                n_in,
                n_out,
            };
            let l = &mut layers[blk];
            let slot = match target {
                "attn_q" => &mut l.q,
                "attn_k" => &mut l.k,
                "attn_v" => &mut l.v,
                "attn_output" => &mut l.o,
                "ffn_gate" => &mut l.gate,
                "ffn_up" => &mut l.up,
                _ => &mut l.down,
            };
            *slot = Some(pair);
        }
        let rank = rank.ok_or_else(|| bad("no LoRA matrices".into()))?;
        Ok(LoraAdapter {
            layers,
            scale: alpha / rank as f32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{GgufWriter, MetaValue};

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// An adapter file with these `(target, n_in, n_out)` matrices in block 0, rank 1.
    fn adapter(
        dir: &Path,
        name: &str,
        targets: &[(&str, usize, usize)],
        lora: bool,
    ) -> std::path::PathBuf {
        let mut w = GgufWriter::new();
        w.meta("general.architecture", MetaValue::Str("llama".into()))
            .meta(
                "general.type",
                MetaValue::Str(if lora { "adapter" } else { "model" }.into()),
            )
            .meta("adapter.type", MetaValue::Str("lora".into()))
            .meta("adapter.lora.alpha", MetaValue::F32(2.0));
        for (t, n_in, n_out) in targets {
            let a: Vec<f32> = (0..*n_in).map(|i| i as f32 + 1.0).collect();
            let b: Vec<f32> = (0..*n_out)
                .map(|i| if i == 0 { 1.0 } else { -1.0 })
                .collect();
            w.tensor(
                &format!("blk.0.{t}.weight.lora_a"),
                vec![*n_in as u64, 1],
                GgmlType::F32,
                f32s(&a),
            );
            w.tensor(
                &format!("blk.0.{t}.weight.lora_b"),
                vec![1, *n_out as u64],
                GgmlType::F32,
                f32s(&b),
            );
        }
        let path = dir.join(name);
        std::fs::write(&path, w.to_bytes()).unwrap();
        path
    }

    #[test]
    fn the_low_rank_update_is_scaled_and_added() {
        let dir = tempfile::tempdir().unwrap();
        let p = adapter(dir.path(), "a.gguf", &[("attn_q", 3, 2)], true);
        let a = LoraAdapter::load(&p, 1, |_| (2, 3)).unwrap();
        assert_eq!(a.scale, 2.0, "alpha / rank");
        let pair = a.layers[0].q.as_ref().unwrap();
        let gate = adapter(
            dir.path(),
            "g.gguf",
            &[("ffn_gate", 3, 2), ("ffn_up", 3, 2)],
            true,
        );
        let g = LoraAdapter::load(&gate, 1, |_| (2, 3)).unwrap();
        assert!(g.layers[0].gate.is_some() && g.layers[0].up.is_some());
        // x = [1, 0, 2]: A x = 1 + 6 = 7; scaled 14; B = [1, -1].
        let mut out = vec![10.0, 20.0, 30.0];
        pair.add(&[1.0, 0.0, 2.0], 1, a.scale, &mut out, 3, 1);
        assert_eq!(out, [10.0, 34.0, 16.0]);
    }

    #[test]
    fn bad_adapters_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = |p: &Path, dims: (usize, usize)| {
            LoraAdapter::load(p, 1, |_| dims).unwrap_err().to_string()
        };
        let model = adapter(dir.path(), "m.gguf", &[("attn_q", 3, 2)], false);
        assert!(err(&model, (2, 3)).contains("not a LoRA adapter"));
        let norm = adapter(dir.path(), "n.gguf", &[("attn_norm", 3, 2)], true);
        assert!(err(&norm, (2, 3)).contains("attn_norm is adapted"));
        let q = adapter(dir.path(), "q.gguf", &[("attn_q", 3, 2)], true);
        let shape = err(&q, (4, 3));
        assert!(
            shape.contains("shapes") && shape.contains("q.gguf"),
            "{shape}"
        );
        let past = LoraAdapter::load(&q, 0, |_| (2, 3))
            .unwrap_err()
            .to_string();
        assert!(past.contains("past the model's 0 blocks"), "{past}");
        let empty = adapter(dir.path(), "e.gguf", &[], true);
        assert!(err(&empty, (2, 3)).contains("no LoRA matrices"));
        assert!(LoraAdapter::load(&dir.path().join("missing.gguf"), 1, |_| (2, 3)).is_err());
    }
}
