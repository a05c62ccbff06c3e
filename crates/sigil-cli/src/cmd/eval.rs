//! `sigil eval`: score a program file (optionally with a compiled artifact) on a dataset.

/// Score a program file (optionally with a compiled artifact) on a dataset.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<()> {
    Err(crate::exit::Failure::new(2, "`sigil eval` is not built yet (issue 7)").into())
}
