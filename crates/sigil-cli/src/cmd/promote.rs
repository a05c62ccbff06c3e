//! `sigil promote`: gate a candidate artifact: exit non-zero unless it beats the current one on the test set.

/// Gate a candidate artifact: exit non-zero unless it beats the current one on the test set.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<()> {
    Err(crate::exit::Failure::new(2, "`sigil promote` is not built yet (issue 5)").into())
}
