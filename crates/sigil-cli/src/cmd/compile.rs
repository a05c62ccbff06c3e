//! `sigil compile`: compile a program file with its optimizer and write the artifact.

/// Compile a program file with its optimizer and write the artifact.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<()> {
    Err(crate::exit::Failure::new(2, "`sigil compile` is not built yet (issue 7)").into())
}
