//! The GGUF reader on small synthetic files: metadata and tensors read back, and
//! truncated, non-GGUF, non-llama and unknown-quantization files give clear errors.

use half::f16;
use sigil_local::LocalError;
use sigil_local::gguf::{GgmlType, Gguf, GgufWriter, MetaValue};

fn q8_0_block(vals: &[f32; 32]) -> Vec<u8> {
    let amax = vals.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let mut out = f16::from_f32(d).to_le_bytes().to_vec();
    out.extend(vals.iter().map(|v| ((v / d).round() as i8) as u8));
    out
}

fn sample() -> GgufWriter {
    let mut w = GgufWriter::new();
    w.meta("general.architecture", MetaValue::Str("llama".into()))
        .meta("llama.block_count", MetaValue::U32(1))
        .meta(
            "tokenizer.ggml.tokens",
            MetaValue::Array(vec![MetaValue::Str("a".into()), MetaValue::Str("b".into())]),
        )
        .meta("some.f32", MetaValue::F32(0.5));
    let vals: [f32; 32] = std::array::from_fn(|i| i as f32 - 16.0);
    w.tensor(
        "f32",
        vec![4],
        GgmlType::F32,
        [1f32, 2., 3., 4.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
    );
    w.tensor("q8", vec![32, 1], GgmlType::Q8_0, q8_0_block(&vals));
    w.tensor(
        "f16",
        vec![2],
        GgmlType::F16,
        [f16::from_f32(1.5), f16::from_f32(-2.0)]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
    );
    w
}

#[test]
fn reads_metadata_and_tensors() {
    let g = Gguf::from_bytes(sample().to_bytes()).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.get_str("general.architecture"), Some("llama"));
    assert_eq!(g.get_u64("llama.block_count").unwrap(), 1);
    assert_eq!(g.get("some.f32").and_then(|v| v.as_f64()), Some(0.5));
    assert_eq!(
        g.get("tokenizer.ggml.tokens")
            .and_then(|v| v.as_array())
            .map(|a| a.len()),
        Some(2)
    );
    let t = g.tensor("f32").unwrap();
    assert_eq!(
        sigil_local::quant::to_f32_vec(t.ty, g.tensor_data(t), 4, "f32").unwrap(),
        vec![1., 2., 3., 4.]
    );
    let t = g.tensor("f16").unwrap();
    assert_eq!(
        sigil_local::quant::to_f32_vec(t.ty, g.tensor_data(t), 2, "f16").unwrap(),
        vec![1.5, -2.0]
    );
    let t = g.tensor("q8").unwrap();
    assert_eq!(t.ty, GgmlType::Q8_0);
    let m = sigil_local::quant::QMatrix::from_gguf("q8", t.ty, 1, 32, g.tensor_data(t)).unwrap();
    let mut row = vec![0f32; 32];
    m.row_f32(0, &mut row);
    for (i, v) in row.iter().enumerate() {
        assert!((v - (i as f32 - 16.0)).abs() < 0.1, "{i}: {v}");
    }
}

#[test]
fn truncated_file_is_a_clear_error() {
    let bytes = sample().to_bytes();
    for cut in [10, 40, bytes.len() - 5] {
        let e = Gguf::from_bytes(bytes[..cut].to_vec()).unwrap_err();
        assert!(matches!(e, LocalError::Truncated(_)), "cut at {cut}: {e}");
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}

#[test]
fn not_gguf_is_a_clear_error() {
    let e = Gguf::from_bytes(b"PK\x03\x04 this is a zip".to_vec()).unwrap_err();
    assert!(matches!(e, LocalError::NotGguf(_)), "{e}");
    assert!(matches!(
        Gguf::from_bytes(vec![]).unwrap_err(),
        LocalError::NotGguf(_)
    ));
}

#[test]
fn unknown_quantization_is_a_clear_error() {
    let mut bytes = GgufWriter::new()
        .tensor("w", vec![32], GgmlType::F32, vec![0; 128])
        .to_bytes();
    // Patch the type id (after name, n_dims, one dim) to an unknown value.
    let pos = 4 + 4 + 8 + 8 + 8 + 1 + 4 + 8;
    bytes[pos..pos + 4].copy_from_slice(&77u32.to_le_bytes());
    let e = Gguf::from_bytes(bytes).unwrap_err();
    assert!(matches!(e, LocalError::UnsupportedQuant { .. }), "{e}");
    assert!(e.to_string().contains("unknown type id 77"), "{e}");
}

#[test]
fn non_llama_and_unsupported_quant_models_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = GgufWriter::new();
    w.meta("general.architecture", MetaValue::Str("mamba".into()));
    let p = dir.path().join("mamba.gguf");
    std::fs::write(&p, w.to_bytes()).unwrap();
    let e = sigil_local::Model::load(&p).unwrap_err();
    assert!(
        matches!(e, LocalError::UnsupportedArch(ref a) if a == "mamba"),
        "{e}"
    );

    let e = sigil_local::Model::load(&dir.path().join("missing.gguf")).unwrap_err();
    assert!(e.to_string().contains("missing.gguf"), "{e}");

    let g = Gguf::from_bytes(
        GgufWriter::new()
            .tensor("w", vec![256, 1], GgmlType::Q6K, vec![0; 210])
            .to_bytes(),
    )
    .unwrap();
    let t = g.tensor("w").unwrap();
    let e =
        sigil_local::quant::QMatrix::from_gguf("w", t.ty, 1, 256, g.tensor_data(t)).unwrap_err();
    assert!(e.to_string().contains("Q6_K"), "{e}");
}
