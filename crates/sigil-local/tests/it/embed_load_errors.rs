//! A damaged model directory is a clear error naming the file, never a panic.

use embed_common::model_dir;
use sigil_local::embed::MiniLm;

use crate::embed_common;

fn copy_model(to: &std::path::Path) {
    let from = model_dir();
    for f in [
        "config.json",
        "vocab.txt",
        "sentence_bert_config.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

fn load_err(dir: &std::path::Path) -> String {
    match MiniLm::load(dir) {
        Ok(_) => panic!("{} should not load", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_weights_file() {
    let dir = tempfile::tempdir().unwrap();
    copy_model(dir.path());
    let e = load_err(dir.path());
    assert!(e.contains("model.safetensors"), "{e}");
}

#[test]
fn truncated_weights_file() {
    let dir = tempfile::tempdir().unwrap();
    copy_model(dir.path());
    let full = std::fs::read(model_dir().join("model.safetensors")).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        &full[..full.len() / 2],
    )
    .unwrap();
    let e = load_err(dir.path());
    assert!(
        e.contains("model.safetensors") && e.contains("outside"),
        "{e}"
    );
}

#[test]
fn garbage_weights_and_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    copy_model(dir.path());
    std::fs::write(
        dir.path().join("model.safetensors"),
        b"not a safetensors file",
    )
    .unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("model.safetensors"), "{e}");
    std::fs::write(dir.path().join("config.json"), b"{\"hidden_size\": 384").unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("config.json"), "{e}");
}
