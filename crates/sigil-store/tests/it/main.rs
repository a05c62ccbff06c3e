//! The integration tests of `sigil-store`, one binary: each module is one behaviour
//! (named for it); the `*_support`/`*_common` modules are shared helpers.

mod bad_input_reported_once;
mod compile_runs_from_an_optimizer;
mod crash_and_bad_input;
// Needs a running Arize Phoenix (scripts/phoenix-env.sh); `scripts/test` runs it.
#[cfg(feature = "phoenix-tests")]
mod phoenix_export;
mod program_support;
mod queries;
