//! `sigil promote`: a CI gate. Scores a candidate artifact and the current one on the
//! same test set and exits non-zero unless the candidate is better with the paired 95%
//! confidence interval of the difference above zero.

use std::path::PathBuf;

use anyhow::Context;
use sigil::evaluate::{Evaluate, paired_bootstrap};

use crate::artifacts::{load_checked, program_info, program_of, with_artifact};
use crate::exit::Failure;
use crate::program::{ProgramFile, build_metric, load_examples};
use crate::session::{LmFlags, Session, score_json, score_line};

/// Exit non-zero unless CANDIDATE beats CURRENT on the test set (paired 95% CI above zero).
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// The candidate artifact.
    pub candidate: PathBuf,
    /// The artifact in production now.
    #[arg(long)]
    pub over: PathBuf,
    /// The test set (JSONL or CSV), never seen by either compile.
    #[arg(long)]
    pub testset: PathBuf,
    /// The program file (default: the program embedded in the candidate).
    #[arg(long)]
    pub program: Option<PathBuf>,
    /// Concurrent examples.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Bootstrap resamples of the paired difference.
    #[arg(long, default_value_t = 2000)]
    pub resamples: usize,
    /// Print the decision as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub lm: LmFlags,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let args = args.clone();
    crate::block_on(async move { run_async(&args).await })
}

async fn run_async(args: &Args) -> anyhow::Result<()> {
    let candidate_art = sigil::artifact::Artifact::load(&args.candidate)?;
    let file = match &args.program {
        Some(p) => ProgramFile::load(p)?,
        None => program_of(&args.candidate, &candidate_art)?,
    };
    let session = Session::from_file(file, &args.lm, Some(true)).await?;
    let candidate = load_checked(&args.candidate, &session)?;
    let current = load_checked(&args.over, &session)?;
    let inputs = session
        .file
        .spec
        .data
        .as_ref()
        .map(|d| d.inputs.get_ref().clone())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the program has no [data] inputs, so the test set's input fields are unknown"
            )
        })?;
    let test = load_examples(&args.testset, &inputs)?;
    if test.is_empty() {
        anyhow::bail!("{}: the test set is empty", args.testset.display());
    }
    for (label, a) in [("candidate", &candidate), ("current", &current)] {
        check_unseen(label, a, &test.examples)?;
    }
    let metric = build_metric(&session.file, &session.built.ctx)?;
    let name = session.file.spec.name.clone();
    let eval = Evaluate::new(&test.examples)
        .metric(metric)
        .concurrency(args.concurrency)
        .max_errors(None);
    let ctx_of = |a: &sigil::artifact::Artifact| -> anyhow::Result<sigil::module::Ctx> {
        let ctx = with_artifact(&session.built.ctx, a)?;
        let info = program_info(&name, a)?.describe(&session.program, &ctx);
        Ok(ctx.with_program(info))
    };
    let cur = eval
        .clone()
        .run(&session.program, &ctx_of(&current)?)
        .await?;
    let cand = eval.run(&session.program, &ctx_of(&candidate)?).await?;
    let diff = paired_bootstrap(&cand, &cur, args.resamples, 0).context("comparing the two")?;
    session.flush();
    let promoted = diff.ci95.0 > 0.0;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "promoted": promoted,
                "candidate": score_json(&cand),
                "current": score_json(&cur),
                "difference": diff.diff,
                "difference_ci95": [diff.ci95.0, diff.ci95.1],
                "prob_positive": diff.prob_positive,
            }))?
        );
    } else {
        println!("test set: {} (n={})", args.testset.display(), test.len());
        println!("current   {}: {}", args.over.display(), score_line(&cur));
        println!(
            "candidate {}: {}",
            args.candidate.display(),
            score_line(&cand)
        );
        println!(
            "difference: {:+.1} points (paired 95% CI {:+.1} to {:+.1}; P(better) {:.2})",
            diff.diff * 100.0,
            diff.ci95.0 * 100.0,
            diff.ci95.1 * 100.0,
            diff.prob_positive
        );
    }
    if promoted {
        if !args.json {
            println!(
                "PROMOTE: the candidate is better, with the 95% CI of the difference above zero"
            );
        }
        Ok(())
    } else {
        Err(Failure::check_failed(format!(
            "NOT PROMOTED: the 95% CI of the difference ({:+.1} to {:+.1} points) does not lie above zero",
            diff.ci95.0 * 100.0,
            diff.ci95.1 * 100.0
        ))
        .into())
    }
}

/// A test set that shares examples with an artifact's train or val set is not a test.
fn check_unseen(
    label: &str,
    a: &sigil::artifact::Artifact,
    test: &[sigil::data::Example],
) -> anyhow::Result<()> {
    let hash = sigil::data::Dataset::from(test.to_vec()).content_hash();
    for (set, info) in [("trainset", &a.data.trainset), ("valset", &a.data.valset)] {
        if let Some(info) = info
            && info.sha256 == hash
        {
            anyhow::bail!("the test set is the {label}'s {set}; scores on it are not honest");
        }
    }
    Ok(())
}
