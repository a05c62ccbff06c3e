//! The `sigil` command: parses flags, runs the command, maps errors to exit codes.

mod artifacts;
mod cli;
mod cmd;
mod exit;
mod program;
mod retrievers;
mod session;
mod ui;

use clap::Parser;

/// The runtime every async command runs on (multi-threaded: the judge metric and the
/// embedded engine block on it).
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if let Some(f) = e.downcast_ref::<exit::Failure>() {
                eprintln!("{}", f.message);
                return std::process::ExitCode::from(f.code);
            }
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
