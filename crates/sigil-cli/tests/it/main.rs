//! The integration tests of `sigil-cli`, one binary: each module is one behaviour
//! (named for it); the `*_support`/`*_common` modules are shared helpers.

mod trace_store_support;
mod ui_support;

mod alerts_cli;
mod cli_usage_errors;
mod compile_eval_promote;
mod finetune_program;
mod program_file_errors;
mod react_program;
mod render;
mod serve;
mod show_diff;
mod traces_cli;
mod ui_bad_input;
mod ui_bad_requests;
mod ui_browser;
mod ui_token;

/// The `sigil` binary under test, ready for arguments. (Cargo sets
/// `CARGO_BIN_EXE_sigil` only while compiling this crate's tests.)
fn sigil_cli() -> sigil_testkit::Cli {
    sigil_testkit::Cli::new(env!("CARGO_BIN_EXE_sigil"))
}

/// `sigil ARGS` run in `dir`, without colour and as on CI (no progress bars).
fn sigil_in(dir: &std::path::Path, args: &[&str]) -> sigil_testkit::CliOutput {
    sigil_cli()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CI", "1")
        .args(args)
        .run()
}
