//! The integration tests of `sigil-index`, one binary: each module is one behaviour
//! (named for it); the `*_support`/`*_common` modules are shared helpers.

mod common;

mod bad_corpus_leaves_no_index;
mod bm25_search_persists;
mod dense_ann_recall_vs_exact;
mod dense_minilm_real_model;
mod dense_query_too_long;
mod failed_build_keeps_old_index;
mod hybrid_fuses_bm25_and_dense;
mod index_from_another_model_is_refused;
mod open_or_build_rebuilds_stale_index;
