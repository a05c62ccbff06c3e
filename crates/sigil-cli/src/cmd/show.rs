//! `sigil show`: show a compiled artifact: rendered prompts per predictor and provenance.

use std::path::PathBuf;

use anyhow::Context;
use sigil::artifact::{Artifact, RunRecord, ShowOptions, show_text};

/// Show a compiled artifact: rendered prompts per predictor and provenance.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The artifact file (`*.sigil.toml`); its `<file>.run.toml` sidecar is read too when present.
    pub file: PathBuf,
    /// Print the artifact (and the run sidecar) as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let artifact = Artifact::load(&args.file)?;
    let run = RunRecord::load_beside(&args.file)?;
    if args.json {
        let out = serde_json::json!({
            "file": args.file.display().to_string(),
            "content_hash": artifact.content_hash()?,
            "artifact": artifact,
            "run": run,
            "stale_renders": artifact.stale_renders(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("cannot write JSON")?
        );
    } else {
        let opts = ShowOptions {
            color: crate::exit::color_enabled(),
        };
        print!("{}", show_text(&artifact, run.as_ref(), opts));
    }
    Ok(())
}
