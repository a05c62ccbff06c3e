//! `sigil diff`: compare two compiled artifacts: signatures, instructions, demos and scores.

/// Compare two compiled artifacts: signatures, instructions, demos and scores.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<()> {
    Err(crate::exit::Failure::new(2, "`sigil diff` is not built yet (issue 5)").into())
}
