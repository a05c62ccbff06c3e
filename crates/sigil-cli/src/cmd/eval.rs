//! `sigil eval`: score a program file (optionally with a compiled artifact) on a dataset.

use std::path::PathBuf;

use sigil::evaluate::Evaluate;

use crate::program::{build_metric, load_data, load_examples};
use crate::session::{LmFlags, Session, score_json, score_line};

/// Score a program file (optionally with a compiled artifact) on one of its datasets or a file.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The program file (TOML).
    pub program: PathBuf,
    /// Score with this compiled artifact's instructions and demos.
    #[arg(long)]
    pub artifact: Option<PathBuf>,
    /// Which of the file's datasets to score on.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Score on this JSONL/CSV file instead (inputs as in the program file).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Concurrent examples.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub lm: LmFlags,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Split {
    Train,
    Val,
    Test,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    crate::block_on(run_async(args.clone()))
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    let session = Session::open(&args.program, &args.lm, None).await?;
    let data = match &args.data {
        Some(p) => {
            let inputs = session
                .file
                .spec
                .data
                .as_ref()
                .map(|d| d.inputs.get_ref().clone())
                .unwrap_or_default();
            if inputs.is_empty() {
                anyhow::bail!(
                    "{}: [data] inputs are needed to read --data",
                    args.program.display()
                );
            }
            load_examples(p, &inputs)?
        }
        None => {
            let sets = load_data(&session.file)?;
            match args.split {
                Split::Train => sets.train,
                Split::Val => sets.val,
                Split::Test => sets.test.ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: [data] has no test set; use --split or --data",
                        args.program.display()
                    )
                })?,
            }
        }
    };
    let metric = build_metric(&session.file, &session.built.ctx)?;
    let (ctx, label) = crate::artifacts::ctx_with_artifact(&session, args.artifact.as_deref())?;
    let report = Evaluate::new(&data.examples)
        .metric(metric)
        .concurrency(args.concurrency)
        .max_errors(None)
        .run(&session.program, &ctx)
        .await?;
    session.flush();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&score_json(&report))?);
    } else {
        println!(
            "{} ({label}): {}",
            session.file.spec.name,
            score_line(&report)
        );
    }
    Ok(())
}
