//! `sigil serve`: serve the embedded model over an OpenAI-compatible HTTP API.

/// Serve the embedded model over an OpenAI-compatible HTTP API.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<()> {
    Err(crate::exit::Failure::new(2, "`sigil serve` is not built yet (issue 3)").into())
}
