//! `sigil compile`: compile a program file with its optimizer and write the artifact.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use sigil::artifact::{Artifact, Provenance, RunRecord};
use sigil::evaluate::Metric;
use sigil::optimize::{Compiled, EngineConfig, HeldOutReport, held_out_report_with};
use sigil::trace::ProgramInfo;

use crate::program::{build_metric, build_optimizer, load_data};
use crate::session::{LmFlags, Session};

/// Compile a program file with its [optimizer] and write the artifact.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The program file (TOML).
    pub program: PathBuf,
    /// Where to write the artifact (default: .sigil/artifacts/NAME.sigil.toml).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Continue an interrupted compile from its checkpoint; ends with the same result.
    #[arg(long)]
    pub resume: bool,
    /// Print the spend estimate and stop before any LM call.
    #[arg(long)]
    pub dry_run: bool,
    /// Cap the compile's LM calls (overrides the file's budget).
    #[arg(long)]
    pub max_calls: Option<u64>,
    /// Do not cache LM responses (the cache makes recompiles byte-identical and free).
    #[arg(long)]
    pub no_cache: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub lm: LmFlags,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let args = args.clone();
    crate::block_on(async move {
        let session = Session::open(&args.program, &args.lm, Some(!args.no_cache)).await?;
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| default_out(&session.file.spec.name));
        let opts = CompileOptions {
            out,
            resume: args.resume,
            dry_run: args.dry_run,
            max_calls: args.max_calls,
            quiet: args.json,
        };
        let Some(outcome) = compile(&session, &opts).await? else {
            return Ok(());
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&outcome.to_json())?);
        } else {
            outcome.print_summary();
        }
        Ok(())
    })
}

/// `.sigil/artifacts/NAME.sigil.toml`
pub fn default_out(name: &str) -> PathBuf {
    PathBuf::from(".sigil")
        .join("artifacts")
        .join(format!("{name}.sigil.toml"))
}

pub struct CompileOptions {
    pub out: PathBuf,
    pub resume: bool,
    pub dry_run: bool,
    pub max_calls: Option<u64>,
    pub quiet: bool,
}

/// What a compile produced.
pub struct CompileOutcome {
    pub out: PathBuf,
    pub compiled: Compiled,
    pub held_out: Option<HeldOutReport>,
    pub wall_secs: f64,
    pub artifact_hash: String,
}

impl CompileOutcome {
    pub fn print_summary(&self) {
        let c = &self.compiled;
        if let (Some(b), Some(s)) = (c.baseline_score, c.score) {
            println!(
                "valset: {:.1}% -> {:.1}% ({} trials)",
                b * 100.0,
                s * 100.0,
                c.trials.len()
            );
        }
        if let Some(h) = &self.held_out {
            println!("held-out test set (n={}):", h.compiled.len());
            println!("  uncompiled: {}", crate::session::score_line(&h.baseline));
            println!("  compiled:   {}", crate::session::score_line(&h.compiled));
            println!(
                "  difference: {:+.1} points (paired 95% CI {:+.1} to {:+.1})",
                h.difference.diff * 100.0,
                h.difference.ci95.0 * 100.0,
                h.difference.ci95.1 * 100.0
            );
        }
        println!(
            "spend: {} LM calls ({} from cache), {} tokens, ${:.4}, {:.0}s",
            c.spend.lm_calls,
            c.spend.cache_hits,
            c.spend.total_tokens(),
            c.spend.cost_usd,
            self.wall_secs
        );
        println!("artifact: {} ({})", self.out.display(), &self.artifact_hash);
    }

    pub fn to_json(&self) -> serde_json::Value {
        let c = &self.compiled;
        serde_json::json!({
            "artifact": self.out.display().to_string(),
            "artifact_hash": self.artifact_hash,
            "optimizer": c.optimizer,
            "seed": c.seed,
            "val_baseline": c.baseline_score,
            "val_compiled": c.score,
            "trials": c.trials.len(),
            "spend": c.spend,
            "wall_time_s": self.wall_secs,
            "held_out": self.held_out.as_ref().map(|h| serde_json::json!({
                "uncompiled": crate::session::score_json(&h.baseline),
                "compiled": crate::session::score_json(&h.compiled),
                "difference": h.difference.diff,
                "difference_ci95": [h.difference.ci95.0, h.difference.ci95.1],
            })),
        })
    }
}

pub(crate) fn checkpoint_path(name: &str) -> PathBuf {
    PathBuf::from(".sigil")
        .join("checkpoints")
        .join(format!("{name}.ckpt"))
}

/// Compiles the session's program; `None` after a dry run.
pub async fn compile(
    session: &Session,
    opts: &CompileOptions,
) -> anyhow::Result<Option<CompileOutcome>> {
    let pf = &session.file;
    let name = pf.spec.name.clone();
    let data = load_data(pf)?;
    let metric = build_metric(pf, &session.built.ctx)?;
    let ckpt = checkpoint_path(&name);
    if let Some(dir) = ckpt.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if !opts.resume && ckpt.exists() {
        std::fs::remove_file(&ckpt)
            .with_context(|| format!("removing the old checkpoint {}", ckpt.display()))?;
    }
    let concurrency = pf.spec.lm.concurrency.unwrap_or(4);
    if let Some(kind) = pf
        .spec
        .optimizer
        .as_ref()
        .map(|o| o.kind.get_ref().as_str())
        && super::compile_weights::is_weights_kind(kind)
    {
        let _ = std::fs::remove_file(&ckpt);
        return super::compile_weights::compile(session, opts, data, metric, concurrency).await;
    }
    let mut config = EngineConfig::new()
        .concurrency(concurrency)
        .checkpoint(&ckpt)
        .resume(opts.resume)
        .progress(!opts.quiet);
    if let Some(n) = opts.max_calls {
        config = config.budget(sigil::optimize::Budget::unlimited().max_calls(n));
    }
    let mut optimizer = build_optimizer(pf, metric.clone(), config.clone())?;
    if opts.max_calls.is_some() {
        // The command line's cap replaces the file's budget.
        let mut pf2 = pf.clone();
        if let Some(o) = pf2.spec.optimizer.as_mut() {
            o.budget = None;
        }
        optimizer = build_optimizer(&pf2, metric.clone(), config)?;
    }
    let ctx = session.ctx(ProgramInfo::uncompiled(name.clone()));
    let estimate = optimizer.estimate(
        &session.program,
        &data.train.examples,
        &data.val.examples,
        &ctx,
    );
    if !opts.quiet || opts.dry_run {
        eprintln!(
            "compile {name} with {}: train {}, val {}{}; estimated spend: about {} LM calls, {} tokens",
            optimizer.name(),
            data.train.len(),
            data.val.len(),
            data.test
                .as_ref()
                .map(|t| format!(", test {}", t.len()))
                .unwrap_or_default(),
            estimate.total.lm_calls,
            estimate.total.total_tokens(),
        );
        for line in &estimate.breakdown {
            eprintln!("  {line}");
        }
    }
    if opts.dry_run {
        return Ok(None);
    }
    let started = Instant::now();
    let compiled = optimizer
        .compile(
            &session.program,
            &data.train.examples,
            &data.val.examples,
            &ctx,
        )
        .await?;
    let held_out = match &data.test {
        Some(test) => Some(
            held_out_report_with(
                &session.program,
                &ctx,
                &compiled,
                &test.examples,
                Arc::new(metric.clone()) as Arc<dyn Metric>,
                concurrency,
            )
            .await?,
        ),
        None => None,
    };
    let wall = started.elapsed();
    let provenance = provenance_for(session, &data, &metric, held_out.as_ref())?;
    let adapter = session.built.ctx.adapter().clone();
    let artifact = Artifact::build(&session.program, &compiled, adapter.as_ref(), provenance)?;
    write_artifact(&artifact, &opts.out)?;
    RunRecord::now(wall, &compiled.spend).save_beside(&opts.out)?;
    let _ = std::fs::remove_file(&ckpt);
    session.flush();
    Ok(Some(CompileOutcome {
        out: opts.out.clone(),
        artifact_hash: artifact.content_hash()?,
        compiled,
        held_out,
        wall_secs: wall.as_secs_f64(),
    }))
}

/// The artifact's provenance: model, data, metric, the program file and its optimizer
/// settings, and the held-out comparison.
pub(crate) fn provenance_for(
    session: &Session,
    data: &crate::program::build::DataSets,
    metric: &crate::program::build::SharedMetric,
    held_out: Option<&HeldOutReport>,
) -> anyhow::Result<Provenance> {
    let pf = &session.file;
    let mut provenance = Provenance::new(session.built.model_id.clone())
        .lm_params(session.built.params.clone())
        .trainset(&data.train.examples)
        .valset(&data.val.examples)
        .metric(metric.name())
        .program_spec(crate::artifacts::program_table(pf)?);
    if let Some(o) = &pf.spec.optimizer
        && let Ok(toml::Value::Table(t)) = toml::Value::try_from(o)
    {
        for (k, v) in t {
            if k != "kind" {
                provenance = provenance.setting(k, v);
            }
        }
    }
    if let Some(test) = &data.test {
        provenance = provenance.testset(&test.examples);
    }
    if let Some(h) = held_out {
        provenance = provenance.held_out(h.clone());
    }
    Ok(provenance)
}

pub(crate) fn write_artifact(a: &Artifact, out: &Path) -> anyhow::Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    a.save(out)?;
    Ok(())
}
