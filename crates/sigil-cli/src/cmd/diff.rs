//! `sigil diff`: compare two compiled artifacts: signatures, instructions, demos and scores.

use std::path::PathBuf;

use anyhow::Context;
use sigil::artifact::{Artifact, ArtifactDiff, ShowOptions};

/// Compare two compiled artifacts: signatures, instructions, demos and scores.
/// Exits 0 whether or not they differ.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The first artifact (A).
    pub a: PathBuf,
    /// The second artifact (B).
    pub b: PathBuf,
    /// Print the differences as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let a = Artifact::load(&args.a)?;
    let b = Artifact::load(&args.b)?;
    let diff = ArtifactDiff::new(
        &args.a.display().to_string(),
        &a,
        &args.b.display().to_string(),
        &b,
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&diff).context("cannot write JSON")?
        );
    } else {
        let opts = ShowOptions {
            color: crate::exit::color_enabled(),
        };
        print!("{}", diff.to_text(opts));
    }
    Ok(())
}
