//! The integration tests of `sigil-finetune`, one binary: each module is one behaviour
//! (named for it); `common` is the shared set-up.

mod common;

mod adapter_is_deterministic;
mod bootstrap_finetune_trains_locally;
mod checkpointed_grads_match_whole_graph;
mod forward_matches_sigil_local;
mod llama_cpp_loads_adapter;
mod resume_gives_same_adapter;
