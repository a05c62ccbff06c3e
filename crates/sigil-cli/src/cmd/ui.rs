//! `sigil ui`: open the web UI over the trace store.

/// Open the web UI over the trace store.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<()> {
    Err(crate::exit::Failure::new(2, "`sigil ui` is not built yet (issue 7)").into())
}
