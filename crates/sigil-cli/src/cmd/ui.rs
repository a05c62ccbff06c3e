//! `sigil ui`: open the web UI over the trace store.

use std::path::PathBuf;

/// Open the web UI over the trace store: traces, span trees, LM calls, compile runs
/// (live while they run) and artifacts.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trace store to read.
    #[arg(long, default_value = sigil_store::DEFAULT_PATH)]
    pub store: PathBuf,
    /// The address to listen on. Anything but a loopback address needs --token.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The port to listen on (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 7777)]
    pub port: u16,
    /// A secret every request must carry (`Authorization: Bearer TOKEN`, or open
    /// `/?token=TOKEN` once in the browser).
    #[arg(long)]
    pub token: Option<String>,
    /// Make up a random token and print it (for a non-loopback --host).
    #[arg(long, conflicts_with = "token")]
    pub generate_token: bool,
    /// The folder whose artifact files the artifacts page lists.
    #[arg(long, default_value = ".sigil/artifacts")]
    pub artifacts: PathBuf,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    crate::ui::serve(crate::ui::Settings {
        store: args.store.clone(),
        host: args.host.clone(),
        port: args.port,
        token: args.token.clone(),
        generate_token: args.generate_token,
        artifacts: args.artifacts.clone(),
    })
}
