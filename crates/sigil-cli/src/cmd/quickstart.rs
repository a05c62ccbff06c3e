//! `sigil quickstart`: the first thing a user runs. On the embedded model (fetched when
//! missing) it scores the bundled intent classifier zero-shot, compiles its prompt,
//! then fine-tunes the model's weights (a LoRA adapter trained on the CPU), scores
//! each on the same held-out messages with confidence intervals and paired
//! differences, writes the artifacts and the traces, and says where to look next.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use sigil::evaluate::{EvalReport, Evaluate, paired_bootstrap};
use sigil::trace::ProgramInfo;

use crate::cmd::compile::{CompileOptions, compile};
use crate::program::{ProgramFile, build_metric, load_data};
use crate::session::{LmFlags, Session, score_line};

/// The bundled program and its data (written for Sigil: a fictional bike-sharing service).
const PROGRAM: &str = include_str!("../../../../examples/programs/classify.toml");
const DATA: &str = include_str!("../../../../examples/data/bike_support_intents.jsonl");
const DATA_NAME: &str = "bike_support_intents.jsonl";

/// The prompt compile's split; the fine-tune learns from its trainset and valset's
/// labels (the first 36 of the same shuffle) and is scored on the same 30 messages.
const PROMPT_SPLIT: &str = "split = { train = 18, val = 24, test = 30, seed = 7 }";
const FINETUNE_SPLIT: &str = "split = { train = 36, val = 6, test = 30, seed = 7 }";

/// The weight stage: LoRA on every matrix of the embedded model, from the labels.
const FINETUNE_OPTIMIZER: &str = r#"[optimizer]
kind = "bootstrap_finetune"
seed = 9

[optimizer.finetune]
data = "labels"          # a one-step program learns from the labelled messages themselves
epochs = 3
batch_size = 4
learning_rate = 5e-3
rank = 8
out_dir = "adapters"
"#;

/// The bundled program with its prompt optimizer swapped for the fine-tune above.
fn finetune_program(source: &str) -> anyhow::Result<String> {
    let Some(at) = source.find("\n[optimizer]") else {
        anyhow::bail!("the bundled program has no [optimizer] table");
    };
    if !source.contains(PROMPT_SPLIT) {
        anyhow::bail!("the bundled program's split is not `{PROMPT_SPLIT}`");
    }
    let head = source[..at + 1]
        .replace(PROMPT_SPLIT, FINETUNE_SPLIT)
        .replace(
            "name = \"bike_support_intents\"",
            "name = \"bike_support_intents_finetuned\"",
        );
    Ok(format!("{head}{FINETUNE_OPTIMIZER}"))
}

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
    let file = ProgramFile::parse(&program_path, source.clone())?;
    println!("[1/5] loading the model (fetched on first use)");
    let session = Session::from_file(file, &args.lm, Some(true)).await?;
    println!("  model: {}", session.built.model_id);

    let data = load_data(&session.file)?;
    let test = data
        .test
        .clone()
        .context("the bundled program has a test set")?;
    let metric = build_metric(&session.file, &session.built.ctx)?;
    println!("[2/5] zero-shot on {} held-out messages", test.len());
    let ctx = session.ctx(ProgramInfo::uncompiled(session.file.spec.name.clone()));
    let zero = Evaluate::new(&test.examples)
        .metric(metric)
        .concurrency(4)
        .max_errors(None)
        .run(&session.program, &ctx)
        .await?;
    println!("  zero-shot accuracy: {}", score_line(&zero));

    println!(
        "[3/5] compiling the prompt (train {}, val {})",
        data.train.len(),
        data.val.len()
    );
    let out = args.dir.join("classify.sigil.toml");
    let opts = compile_to(out.clone());
    let prompt = compile(&session, &opts).await?.context("the compile ran")?;
    prompt.print_summary();
    session.flush();

    let ft_path = args.dir.join("classify_finetune.toml");
    let ft_source = finetune_program(&source)?;
    std::fs::write(&ft_path, &ft_source)
        .with_context(|| format!("writing {}", ft_path.display()))?;
    let ft_file = ProgramFile::parse(&ft_path, ft_source)?;
    let ft_session = Session::from_file(ft_file, &args.lm, Some(true)).await?;
    let ft_data = load_data(&ft_session.file)?;
    println!(
        "[4/5] fine-tuning the model's weights: a LoRA adapter trained on the CPU from {} labelled messages ({})",
        ft_data.train.len(),
        ft_path.display()
    );
    let ft_out = args.dir.join("classify_finetune.sigil.toml");
    let ft_opts = compile_to(ft_out.clone());
    let tuned = compile(&ft_session, &ft_opts)
        .await?
        .context("the fine-tune ran")?;
    tuned.print_summary();

    println!("[5/5] held-out results ({} messages)", test.len());
    let prompt_report = prompt
        .held_out
        .as_ref()
        .map(|h| &h.compiled)
        .context("the prompt compile scored the test set")?;
    let tuned_report = tuned
        .held_out
        .as_ref()
        .map(|h| &h.compiled)
        .context("the fine-tune scored the test set")?;
    println!("  zero-shot:       {}", score_line(&zero));
    println!("  prompt-compiled: {}", score_line(prompt_report));
    println!("  fine-tuned:      {}", score_line(tuned_report));
    print_paired("prompt-compiled - zero-shot", prompt_report, &zero)?;
    print_paired("fine-tuned - zero-shot", tuned_report, &zero)?;
    print_paired("fine-tuned - prompt-compiled", tuned_report, prompt_report)?;
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
        "  sigil show {}         # the adapter, its settings, data and loss curve",
        ft_out.display()
    );
    println!(
        "  sigil traces list                 # every LM call, parse and trial ({})",
        args.lm.store.display()
    );
    println!("  sigil ui                          # traces and the compile run in the browser");
    println!(
        "  sigil eval {} --artifact {}",
        ft_path.display(),
        ft_out.display()
    );
    Ok(())
}

/// A fresh compile, with its progress shown, writing the artifact to `out`.
fn compile_to(out: PathBuf) -> CompileOptions {
    CompileOptions {
        out,
        resume: false,
        dry_run: false,
        max_calls: None,
        quiet: false,
    }
}

/// One paired difference (A - B) on the same held-out messages, with its 95% CI.
fn print_paired(label: &str, a: &EvalReport, b: &EvalReport) -> anyhow::Result<()> {
    let d = paired_bootstrap(a, b, 2000, 0)?;
    println!(
        "  {label}: {:+.1} points (paired 95% CI {:+.1} to {:+.1})",
        d.diff * 100.0,
        d.ci95.0 * 100.0,
        d.ci95.1 * 100.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finetune_program_keeps_the_task_and_test_set_and_swaps_the_optimizer() {
        let ft = finetune_program(PROGRAM).unwrap();
        assert!(ft.contains(FINETUNE_SPLIT) && !ft.contains(PROMPT_SPLIT));
        assert!(ft.contains("kind = \"bootstrap_finetune\""));
        assert!(!ft.contains("random_search"));
        let keep = |s: &str| {
            s.lines()
                .find(|l| l.starts_with("signature"))
                .map(str::to_string)
        };
        assert_eq!(keep(&ft), keep(PROGRAM));
        // 36 + 6 is the prompt split's 18 + 24: the same shuffle leaves the same 30
        // test messages.
        assert!(PROGRAM.contains(PROMPT_SPLIT));
        let parsed: toml::Value = toml::from_str(&ft).unwrap();
        assert_eq!(
            parsed["optimizer"]["finetune"]["data"].as_str(),
            Some("labels")
        );
    }
}
