//! `sigil quickstart`: run the bundled example end to end on the embedded model: score, compile, score again, write the artifact and traces.

/// Run the bundled example end to end on the embedded model: score, compile, score again, write the artifact and traces.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<()> {
    Err(crate::exit::Failure::new(2, "`sigil quickstart` is not built yet (issue 7)").into())
}
