//! `sigil quickstart`: the first thing a user runs. On the embedded model (fetched when
//! missing) it scores the bundled intent classifier zero-shot, compiles it, scores it
//! again on held-out messages with confidence intervals, writes the artifact and the
//! traces, and says where to look next.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use sigil::evaluate::Evaluate;
use sigil::trace::ProgramInfo;

use crate::cmd::compile::{CompileOptions, compile};
use crate::program::{ProgramFile, build_metric, load_data};
use crate::session::{LmFlags, Session, score_line};

/// The bundled program and its data (written for Sigil: a fictional bike-sharing service).
const PROGRAM: &str = include_str!("../../../../examples/programs/classify.toml");
const DATA: &str = include_str!("../../../../examples/data/bike_support_intents.jsonl");
const DATA_NAME: &str = "bike_support_intents.jsonl";

/// Run the bundled example end to end on the embedded model.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Where the example program, its data and the artifact go.
    #[arg(long, default_value = ".sigil/quickstart")]
    pub dir: PathBuf,
    /// Forget cached LM responses first (a rerun is otherwise answered from the cache).
    #[arg(long)]
    pub fresh: bool,
    #[command(flatten)]
    pub lm: LmFlags,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let args = args.clone();
    crate::block_on(async move { run_async(&args).await })
}

async fn run_async(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let program_path = args.dir.join("classify.toml");
    let source = PROGRAM.replace("../data/bike_support_intents.jsonl", DATA_NAME);
    std::fs::write(&program_path, &source)
        .with_context(|| format!("writing {}", program_path.display()))?;
    std::fs::write(args.dir.join(DATA_NAME), DATA)
        .with_context(|| format!("writing {DATA_NAME}"))?;
    if args.fresh {
        let dir = crate::program::build::cache_dir();
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
    }

    println!("Sigil quickstart: classify bike-sharing support messages into six intents");
    println!("  program: {}", program_path.display());
    let file = ProgramFile::parse(&program_path, source)?;
    println!("[1/4] loading the model (fetched on first use)");
    let session = Session::from_file(file, &args.lm, Some(true)).await?;
    println!("  model: {}", session.built.model_id);

    let data = load_data(&session.file)?;
    let test = data
        .test
        .clone()
        .context("the bundled program has a test set")?;
    let metric = build_metric(&session.file, &session.built.ctx)?;
    println!("[2/4] zero-shot on {} held-out messages", test.len());
    let ctx = session.ctx(ProgramInfo::uncompiled(session.file.spec.name.clone()));
    let zero = Evaluate::new(&test.examples)
        .metric(metric)
        .concurrency(4)
        .max_errors(None)
        .run(&session.program, &ctx)
        .await?;
    println!("  zero-shot accuracy: {}", score_line(&zero));

    println!(
        "[3/4] compiling (train {}, val {})",
        data.train.len(),
        data.val.len()
    );
    let out = args.dir.join("classify.sigil.toml");
    let opts = CompileOptions {
        out: out.clone(),
        resume: false,
        dry_run: false,
        max_calls: None,
        quiet: false,
    };
    let outcome = compile(&session, &opts).await?.context("the compile ran")?;
    println!("[4/4] held-out results");
    outcome.print_summary();
    println!();
    println!(
        "Done in {:.0}s. Look further:",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  sigil show {}                  # the compiled prompts and provenance",
        out.display()
    );
    println!(
        "  sigil traces list                 # every LM call, parse and trial ({})",
        args.lm.store.display()
    );
    println!("  sigil ui                          # traces and the compile run in the browser");
    println!(
        "  sigil eval {} --artifact {}",
        program_path.display(),
        out.display()
    );
    Ok(())
}
