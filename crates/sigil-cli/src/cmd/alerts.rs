//! `sigil alerts`: evaluate alert rules over the trace store.

/// Evaluate alert rules over the trace store.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<()> {
    Err(crate::exit::Failure::new(2, "`sigil alerts` is not built yet (issue 6)").into())
}
