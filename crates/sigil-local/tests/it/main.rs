//! The integration tests of `sigil-local`, one binary: each module is one behaviour
//! (named for it); the `*_support`/`*_common` modules are shared helpers.

mod common;
mod embed_common;

mod batched_calls;
mod constraint_agreement;
mod embed_load_errors;
mod embed_long_input_errors;
mod embed_matches_sentence_transformers;
mod embed_pip_fetch;
mod embed_wordpiece_matches_hf;
mod gguf_files;
mod llama_cpp_parity;
mod local_lm;
mod predict_evaluate;
mod react_steps_parse;
