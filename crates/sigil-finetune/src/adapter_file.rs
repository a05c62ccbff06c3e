//! Adapter files: llama.cpp's GGUF LoRA layout, and this crate's training checkpoints
//! (the same container with optimizer state added).
//!
//! llama.cpp (`llama-adapter.cpp`) reads an adapter as: `general.type = "adapter"`,
//! `adapter.type = "lora"`, `general.architecture` equal to the base model's,
//! `adapter.lora.alpha` (f32), and per adapted weight `W` (GGUF dims `[n_in, n_out]`)
//! two tensors `<W name>.lora_a` with dims `[n_in, r]` and `<W name>.lora_b` with dims
//! `[r, n_out]`. Dims list the contiguous axis first, so `lora_a`'s bytes are `A`
//! (`r x n_in`) row-major and `lora_b`'s are `B` (`n_out x r`) row-major. It scales
//! `B A x` by `alpha / r`, `r` read from `lora_b`.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use sigil_local::gguf::{GgmlType, Gguf, GgufWriter, MetaValue};

use crate::error::{FinetuneError, Result};
use crate::lora::{LoraAdapter, Target};

fn f32_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
    Ok(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn weight_name(layer: usize, t: Target) -> String {
    format!("blk.{layer}.{}.weight", t.gguf_name())
}

/// Adds the adapter's metadata and tensors to `w`.
fn put_adapter(w: &mut GgufWriter, adapter: &LoraAdapter, arch: &str) -> Result<()> {
    w.meta("general.architecture", MetaValue::Str(arch.to_string()))
        .meta("general.type", MetaValue::Str("adapter".into()))
        .meta("adapter.type", MetaValue::Str("lora".into()))
        .meta("adapter.lora.alpha", MetaValue::F32(adapter.alpha()));
    for (&(layer, t), (a, b)) in adapter.pairs() {
        let name = weight_name(layer, t);
        let (r, n_in) = a.as_tensor().dims2()?;
        let (n_out, _) = b.as_tensor().dims2()?;
        w.tensor(
            &format!("{name}.lora_a"),
            vec![n_in as u64, r as u64],
            GgmlType::F32,
            f32_bytes(a.as_tensor())?,
        );
        w.tensor(
            &format!("{name}.lora_b"),
            vec![r as u64, n_out as u64],
            GgmlType::F32,
            f32_bytes(b.as_tensor())?,
        );
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    // Write then rename, so an interrupted run or a full disk never leaves half a file
    // under `path` (what was there stays); the partial file is removed on failure.
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            FinetuneError::Io {
                path: path.to_path_buf(),
                source,
            }
        })
}

/// The bytes of a llama.cpp GGUF LoRA adapter for a base of architecture `arch`.
pub fn adapter_bytes(adapter: &LoraAdapter, arch: &str) -> Result<Vec<u8>> {
    let mut w = GgufWriter::new();
    put_adapter(&mut w, adapter, arch)?;
    Ok(w.to_bytes())
}

/// Writes a llama.cpp GGUF LoRA adapter to `path`.
pub fn write_adapter(path: &Path, adapter: &LoraAdapter, arch: &str) -> Result<()> {
    write(path, &adapter_bytes(adapter, arch)?)
}

fn f32_tensor(g: &Gguf, name: &str, shape: (usize, usize), dev: &Device) -> Result<Tensor> {
    let t = g
        .tensor(name)
        .ok_or_else(|| FinetuneError::Invalid(format!("adapter file has no tensor {name}")))?;
    if t.ty != GgmlType::F32 || t.n_elements() as usize != shape.0 * shape.1 {
        return Err(FinetuneError::Invalid(format!(
            "tensor {name}: expected F32 with {} elements",
            shape.0 * shape.1
        )));
    }
    let v: Vec<f32> = g
        .tensor_data(t)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Tensor::from_vec(v, shape, dev)?)
}

/// Reads an adapter written by [`write_adapter`] (F32 tensors).
pub fn read_adapter(path: &Path) -> Result<LoraAdapter> {
    let g = Gguf::open(path)?;
    adapter_from_gguf(&g)
}

fn adapter_from_gguf(g: &Gguf) -> Result<LoraAdapter> {
    if g.get_str("general.type") != Some("adapter") || g.get_str("adapter.type") != Some("lora") {
        return Err(FinetuneError::Invalid("not a GGUF LoRA adapter".into()));
    }
    let alpha = g
        .get("adapter.lora.alpha")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0) as f32;
    let dev = Device::Cpu;
    let mut pairs = BTreeMap::new();
    let mut rank = 0;
    for info in &g.tensors {
        let Some(stem) = info.name.strip_suffix(".weight.lora_a") else {
            continue;
        };
        let parsed = stem.strip_prefix("blk.").and_then(|s| s.split_once('.'));
        let Some((layer, t)) =
            parsed.and_then(|(l, t)| Some((l.parse().ok()?, Target::from_gguf_name(t)?)))
        else {
            return Err(FinetuneError::Invalid(format!(
                "unexpected tensor {}",
                info.name
            )));
        };
        let (n_in, r) = (info.dims[0] as usize, info.dims[1] as usize);
        let b_name = format!("{stem}.weight.lora_b");
        let n_out = g.tensor(&b_name).map(|b| b.dims[1] as usize).unwrap_or(0);
        let a = f32_tensor(g, &info.name, (r, n_in), &dev)?;
        let b = f32_tensor(g, &b_name, (n_out, r), &dev)?;
        rank = r;
        pairs.insert((layer, t), (a, b));
    }
    // llama.cpp treats alpha 0 as "scale 1"; so does this reader.
    let alpha = if alpha == 0.0 { rank as f32 } else { alpha };
    LoraAdapter::from_pairs(rank, alpha, pairs)
}

/// What a checkpoint holds besides the adapter.
#[derive(Debug)]
pub struct CheckpointState {
    /// Epochs finished.
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub step: usize,
    /// Optimizer moments, one `(first, second)` pair per variable of
    /// [`LoraAdapter::vars`].
    pub moments: Vec<(Tensor, Tensor)>,
    /// A fingerprint of the settings and data the run was started with.
    pub fingerprint: String,
}

/// Writes a training checkpoint: the adapter tensors as in [`write_adapter`] plus the
/// optimizer moments (`opt.<i>.adam_m` / `opt.<i>.adam_v`) and the progress. It is not
/// an adapter llama.cpp loads (it rejects the extra tensors): export with [`write_adapter`].
pub fn write_checkpoint(
    path: &Path,
    adapter: &LoraAdapter,
    arch: &str,
    state: &CheckpointState,
) -> Result<()> {
    let mut w = GgufWriter::new();
    put_adapter(&mut w, adapter, arch)?;
    w.meta(
        "sigil.finetune.epochs_done",
        MetaValue::U64(state.epochs_done as u64),
    )
    .meta("sigil.finetune.step", MetaValue::U64(state.step as u64))
    .meta(
        "sigil.finetune.fingerprint",
        MetaValue::Str(state.fingerprint.clone()),
    );
    for (i, (m, v)) in state.moments.iter().enumerate() {
        let dims: Vec<u64> = m.dims().iter().rev().map(|&d| d as u64).collect();
        w.tensor(
            &format!("opt.{i}.adam_m"),
            dims.clone(),
            GgmlType::F32,
            f32_bytes(m)?,
        );
        w.tensor(
            &format!("opt.{i}.adam_v"),
            dims,
            GgmlType::F32,
            f32_bytes(v)?,
        );
    }
    write(path, &w.to_bytes())
}

/// Reads a checkpoint written by [`write_checkpoint`].
pub fn read_checkpoint(path: &Path) -> Result<(LoraAdapter, CheckpointState)> {
    let g = Gguf::open(path)?;
    let adapter = adapter_from_gguf(&g)?;
    let dev = Device::Cpu;
    let mut moments = Vec::new();
    for (i, var) in adapter.vars().iter().enumerate() {
        let shape = var.as_tensor().dims2()?;
        moments.push((
            f32_tensor(&g, &format!("opt.{i}.adam_m"), shape, &dev)?,
            f32_tensor(&g, &format!("opt.{i}.adam_v"), shape, &dev)?,
        ));
    }
    let u = |k: &str| g.get(k).and_then(|v| v.as_u64()).unwrap_or(0) as usize;
    let state = CheckpointState {
        epochs_done: u("sigil.finetune.epochs_done"),
        step: u("sigil.finetune.step"),
        moments,
        fingerprint: g
            .get_str("sigil.finetune.fingerprint")
            .unwrap_or("")
            .to_string(),
    };
    Ok((adapter, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lora::{LoraConfig, Target};

    fn adapter(seed: u64) -> LoraAdapter {
        let cfg = LoraConfig {
            rank: 2,
            targets: vec![Target::AttnQ],
            seed,
            ..LoraConfig::default()
        };
        LoraAdapter::init(&cfg, 1, |_| (8, 8), &Device::Cpu).unwrap()
    }

    /// A full disk while writing (the partial file goes to /dev/full, which fails every
    /// write with ENOSPC) is an I/O error naming the file; the adapter already there is
    /// untouched and no partial file is left.
    #[test]
    fn a_full_disk_leaves_the_previous_adapter_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lora.gguf");
        write_adapter(&path, &adapter(1), "llama").unwrap();
        let before = std::fs::read(&path).unwrap();
        let partial = path.with_extension("partial");
        std::os::unix::fs::symlink("/dev/full", &partial).unwrap();
        let err = write_adapter(&path, &adapter(2), "llama").unwrap_err();
        match &err {
            FinetuneError::Io { path: p, source } => {
                assert_eq!(p, &path);
                assert_eq!(source.raw_os_error(), Some(28), "ENOSPC: {source}");
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
        assert!(err.to_string().contains("lora.gguf"), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the previous adapter"
        );
        assert!(
            !partial.exists() && partial.symlink_metadata().is_err(),
            "no partial file left"
        );
        // With room again the write goes through.
        write_adapter(&path, &adapter(2), "llama").unwrap();
        assert_ne!(std::fs::read(&path).unwrap(), before);
    }
}
