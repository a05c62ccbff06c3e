//! `sigil show`: show a compiled artifact: rendered prompts per predictor and provenance.

/// Show a compiled artifact: rendered prompts per predictor and provenance.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<()> {
    Err(crate::exit::Failure::new(2, "`sigil show` is not built yet (issue 5)").into())
}
