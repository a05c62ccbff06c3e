//! The `sigil` command: parses flags, runs the command, maps errors to exit codes.

mod artifacts;
mod cli;
mod cmd;
mod exit;
mod mcp_tools;
mod program;
mod retrievers;
mod session;
mod ui;

use clap::Parser;

/// Runs a command's async part to completion: the one way a `sigil` command starts
/// the async runtime (multi-threaded, so the judge metric and the embedded engine can
/// block on it).
///
/// The future runs as a task on the runtime's workers rather than on this thread: LM
/// responses then wake it on the worker that read them, one thread hop fewer per LM
/// call than polling it from `block_on` on the main thread (measured in `bench/`'s
/// throughput part). A panic in the command is re-raised here.
pub(crate) fn block_on<F, T>(command: F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        match tokio::spawn(command).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(anyhow::anyhow!("the command was cancelled: {e}")),
        }
    })
}

/// Help and version print as clap renders them; a usage error is one line (plus clap's
/// suggestion, when it has one) and exit code 2.
fn usage_error(e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return std::process::ExitCode::from(
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                2
            } else {
                0
            },
        );
    }
    let rendered = e.render().to_string();
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut first = lines
        .first()
        .copied()
        .unwrap_or("error: bad command line")
        .to_string();
    if first.ends_with(':') {
        // "the following required arguments were not provided:" lists them on the next lines.
        let listed: Vec<&str> = lines[1..]
            .iter()
            .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("tip:"))
            .copied()
            .collect();
        first = format!("{first} {}", listed.join(" "));
    }
    match lines.iter().find(|l| l.starts_with("tip:")) {
        Some(t) => eprintln!("{first} ({t}; see `sigil --help`)"),
        None => eprintln!("{first} (see `sigil --help`)"),
    }
    std::process::ExitCode::from(2)
}

fn main() -> std::process::ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => return usage_error(e),
    };
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
