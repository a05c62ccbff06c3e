//! `sigil run`: run a program file on inputs (one JSON object per line on stdin, or --input NAME=VALUE).

/// Run a program file on inputs (one JSON object per line on stdin, or --input NAME=VALUE).
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<()> {
    Err(crate::exit::Failure::new(2, "`sigil run` is not built yet (issue 7)").into())
}
