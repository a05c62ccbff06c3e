//! `sigil traces`: list, show and export stored traces.

/// List, show and export stored traces.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<()> {
    Err(crate::exit::Failure::new(2, "`sigil traces` is not built yet (issue 6)").into())
}
