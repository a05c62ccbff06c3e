//! The integration tests of `sigil`, one binary: each module is one behaviour
//! (named for it); the `*_support`/`*_common` modules are shared helpers.

mod artifact_dspy_common;
mod golden_support;
mod optimize_common;
mod trace_support;

mod artifact_corrupt_bytes_are_a_clear_error;
mod artifact_dspy_bad_input;
mod artifact_dspy_export_loads_in_dspy;
mod artifact_dspy_import;
mod artifact_for_a_different_program_lists_differences;
mod artifact_golden;
mod artifact_recompile_is_byte_identical;
mod artifact_save_is_atomic;
mod artifact_truncated_file_is_a_clear_error;
mod artifact_unknown_version_is_refused;
mod artifact_wrong_typed_field_names_the_place;
mod chat_adapter_golden;
mod derive_signature;
mod modules;
mod openai_server;
mod optimize_bad_input;
mod optimize_bootstrap;
mod optimize_budget;
mod optimize_copro;
mod optimize_held_out;
mod optimize_labeled_few_shot;
mod optimize_mipro;
mod optimize_random_search;
mod optimize_resume;
mod optimize_tpe_beats_random;
mod react_golden;
mod retrieve_module_outputs_passages;
mod retrieve_rrf_fuses_retrievers;
mod retrieve_traces_one_span_per_search;
mod trace_chain_of_thought_one_span;
mod trace_compile_run_is_one_span_tree;
mod trace_compile_stopped_and_cancelled_runs;
mod trace_hooks_never_break_the_program;
mod trace_no_orphans_under_load;
mod trace_parse_fallback_and_errors;
mod trace_privacy_switches;
mod trace_react_iterations_and_tools;
mod trace_retrieval_hops;
mod trace_sampling_keeps_traces_whole;
mod trace_two_module_program_spans;
