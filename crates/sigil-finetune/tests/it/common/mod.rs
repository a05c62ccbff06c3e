//! Shared test set-up: the model named by SIGIL_TEST_MODEL (loaded once, both as
//! `sigil-local` runs it and as the frozen f32 base), and llama-cpp-python's interpreter
//! named by SIGIL_TEST_LLAMA_PYTHON.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use sigil::lm::Message;
use sigil_finetune::{BaseModel, ChatExample, EncodedExample, LoraConfig, Target};
use sigil_local::Model;

/// The model path; panics with a clear message when the model is not there.
pub fn model_path() -> PathBuf {
    let p = std::env::var_os("SIGIL_TEST_MODEL").unwrap_or_else(|| {
        panic!(
            "SIGIL_TEST_MODEL is not set: run the tests with scripts/test, which fetches \
             SmolLM2-135M-Instruct.Q4_1.gguf into ~/.cache/sigil/models and exports its path"
        )
    });
    let p = PathBuf::from(p);
    assert!(
        p.is_file(),
        "SIGIL_TEST_MODEL={} does not exist: run scripts/test to fetch it",
        p.display()
    );
    p
}

/// The python interpreter of a venv with llama-cpp-python; panics when unset.
pub fn llama_python() -> PathBuf {
    let p = std::env::var_os("SIGIL_TEST_LLAMA_PYTHON").unwrap_or_else(|| {
        panic!(
            "SIGIL_TEST_LLAMA_PYTHON is not set: run the tests with scripts/test, which \
             sets up .dev/venv-llama with llama-cpp-python and exports its python"
        )
    });
    PathBuf::from(p)
}

/// The model as `sigil-local` runs it (tokenizer, template, quantized kernels).
pub fn local() -> Arc<Model> {
    static M: OnceLock<Arc<Model>> = OnceLock::new();
    M.get_or_init(|| Arc::new(Model::load(&model_path()).expect("model loads")))
        .clone()
}

/// The frozen f32 base the trainer runs.
pub fn base() -> Arc<BaseModel> {
    static M: OnceLock<Arc<BaseModel>> = OnceLock::new();
    M.get_or_init(|| Arc::new(BaseModel::load(&model_path()).expect("base loads")))
        .clone()
}

/// The prompt tokens `sigil-local` would generate after for one user message.
pub fn prompt_tokens(user: &str) -> Vec<u32> {
    let m = local();
    let text = m.template.render(&[Message::user(user)]).expect("renders");
    m.tokenizer.encode(&text, true)
}

/// Encodes examples with the model's tokenizer and template.
pub fn encode(examples: &[ChatExample], max_len: usize) -> Vec<EncodedExample> {
    let m = local();
    examples
        .iter()
        .map(|e| EncodedExample::new(e, &m.tokenizer, &m.template, max_len).expect("encodes"))
        .collect()
}

/// A tiny run's settings: small rank, two targets, short sequences.
pub fn tiny_config() -> LoraConfig {
    LoraConfig {
        rank: 2,
        alpha: 4.0,
        targets: vec![Target::AttnQ, Target::AttnV],
        learning_rate: 1e-3,
        epochs: 2,
        batch_size: 2,
        seed: 7,
        max_seq_len: 48,
    }
}

/// Three short examples for tiny runs.
pub fn tiny_data() -> Vec<EncodedExample> {
    encode(
        &[
            ChatExample::user("Say a colour.", "Blue."),
            ChatExample::user("Name a fruit.", "A pear."),
            ChatExample::user("Two plus two?", "Four."),
        ],
        tiny_config().max_seq_len,
    )
}
