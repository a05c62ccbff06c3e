//! The `sigil` command: parses flags, runs the command, maps errors to exit codes.

mod cli;
mod cmd;
mod exit;

use clap::Parser;

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
