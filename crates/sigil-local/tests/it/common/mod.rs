//! Shared test set-up: the model named by SIGIL_TEST_MODEL, loaded once.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use sigil_local::Model;

/// The model path; panics with a clear message when the model is not there.
pub fn model_path() -> std::path::PathBuf {
    let p = std::env::var_os("SIGIL_TEST_MODEL").unwrap_or_else(|| {
        panic!(
            "SIGIL_TEST_MODEL is not set: run the tests with scripts/test, which fetches \
             SmolLM2-135M-Instruct.Q4_1.gguf into ~/.cache/sigil/models and exports its path"
        )
    });
    let p = std::path::PathBuf::from(p);
    assert!(
        p.is_file(),
        "SIGIL_TEST_MODEL={} does not exist: run scripts/test to fetch it",
        p.display()
    );
    p
}

pub fn model() -> Arc<Model> {
    static M: OnceLock<Arc<Model>> = OnceLock::new();
    M.get_or_init(|| Arc::new(Model::load(&model_path()).expect("model loads")))
        .clone()
}
