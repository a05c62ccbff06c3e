//! `sigil compile` for the optimizers that train weights: `bootstrap_finetune` (DSPy's
//! BootstrapFinetune) and `better_together` (prompt and weight stages in the order the
//! strategy names). The result is an artifact like any other compile's, with a
//! `[[finetuned]]` entry per trained model (base and adapter hashes, settings, data,
//! loss curve), and the same held-out comparison against the program as written.

use std::sync::Arc;
use std::time::Instant;

use sigil::artifact::{Artifact, RunRecord};
use sigil::evaluate::{EvalReport, Evaluate, Metric};
use sigil::module::{Ctx, Module};
use sigil::optimize::{
    BetterTogether, Compiled, EngineConfig, FinetuneOutcome, HeldOut, Spend, Stage,
    held_out_report_ctx,
};
use sigil::trace::ProgramInfo;

use super::compile::{CompileOptions, CompileOutcome, provenance_for, write_artifact};
use crate::program::build::{DataSets, SharedMetric};
use crate::program::build_optimizer;
use crate::program::weights::{Weights, build_weights};
use crate::session::Session;

/// Whether `kind` is one of the optimizers this module runs.
pub fn is_weights_kind(kind: &str) -> bool {
    kind == "bootstrap_finetune" || kind == "better_together"
}

/// Scores the program under `ctx` on the valset (`None` without one).
async fn val_score(
    session: &Session,
    ctx: &Ctx,
    val: &[sigil::data::Example],
    metric: &SharedMetric,
    concurrency: usize,
) -> anyhow::Result<Option<EvalReport>> {
    if val.is_empty() {
        return Ok(None);
    }
    let r = Evaluate::new(val)
        .metric_arc(Arc::new(metric.clone()) as Arc<dyn Metric>)
        .concurrency(concurrency)
        .max_errors(None)
        .progress(false)
        .run(&session.program, ctx)
        .await?;
    Ok(Some(r))
}

fn add_spend(spend: &mut Spend, r: &EvalReport) {
    spend.lm_calls += r.lm_calls;
    spend.input_tokens += r.usage.input_tokens;
    spend.output_tokens += r.usage.output_tokens;
}

/// Runs the weights optimizer of the session's program file; `None` after a dry run.
pub async fn compile(
    session: &Session,
    opts: &CompileOptions,
    data: DataSets,
    metric: SharedMetric,
    concurrency: usize,
) -> anyhow::Result<Option<CompileOutcome>> {
    let pf = &session.file;
    let name = pf.spec.name.clone();
    let o = pf
        .spec
        .optimizer
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no [optimizer] table"))?;
    let kind = o.kind.get_ref().clone();
    let seed = o.seed.unwrap_or(0);
    let weights = build_weights(pf, &session.built, concurrency, !opts.quiet)?;
    let ctx = session.ctx(ProgramInfo::uncompiled(name.clone()));
    let strategy = o
        .strategy
        .as_ref()
        .map(|s| s.get_ref().clone())
        .unwrap_or_else(|| "p -> w -> p".into());
    let predictors = session.program.named_predictors().len().max(1);
    if !opts.quiet || opts.dry_run {
        let what = if kind == "better_together" {
            format!("better_together ({strategy})")
        } else {
            "bootstrap_finetune".to_string()
        };
        let data_from = if weights.data.from_labels && kind != "better_together" {
            "it trains on the labelled examples (no teacher runs)".to_string()
        } else {
            format!(
                "the teacher runs the trainset once (about {} LM calls), then trains",
                data.train.len() * predictors
            )
        };
        eprintln!(
            "compile {name} with {what} on {} ({}): train {}, val {}{}; {data_from}; the valset is scored before and after",
            weights.base_model,
            weights.trainer(),
            data.train.len(),
            data.val.len(),
            data.test
                .as_ref()
                .map(|t| format!(", test {}", t.len()))
                .unwrap_or_default(),
        );
    }
    if opts.dry_run {
        return Ok(None);
    }
    let started = Instant::now();
    let (train, val) = (&data.train.examples, &data.val.examples);
    let mut spend = Spend::default();
    let (compiled_ctx, outcome, overlay, score, baseline) = if kind == "better_together" {
        let prompt_kind = o
            .prompt
            .as_ref()
            .map(|p| p.get_ref().clone())
            .unwrap_or_else(|| "bootstrap_few_shot".into());
        let mut prompt_pf = pf.clone();
        if let Some(po) = prompt_pf.spec.optimizer.as_mut() {
            po.kind = toml::Spanned::new(o.kind.span(), prompt_kind);
        }
        let mut config = EngineConfig::new()
            .concurrency(concurrency)
            .progress(!opts.quiet);
        if let Some(n) = opts.max_calls {
            config = config.budget(sigil::optimize::Budget::unlimited().max_calls(n));
        }
        let prompt = build_optimizer(&prompt_pf, metric.clone(), config)?;
        let bt = BetterTogether::new(metric.clone(), weights.lm_of.clone())
            .stage("p", Stage::Prompt(prompt))
            .stage(
                "w",
                Stage::Weights(weights.bootstrap_finetune(metric.clone())),
            );
        let out = bt
            .compile(&session.program, train, val, &ctx, &strategy)
            .await?;
        if let Some(e) = &out.error {
            anyhow::bail!("better_together: {e}");
        }
        let best = out
            .candidates
            .iter()
            .find(|c| c.state == out.best)
            .map(|c| (c.strategy.clone(), c.score));
        // The stages' scores go to stderr even with --json: they are the run's story.
        {
            for c in &out.candidates {
                eprintln!(
                    "  {:<14} valset {}",
                    if c.strategy.is_empty() {
                        "(as written)"
                    } else {
                        &c.strategy
                    },
                    c.score
                        .map(|s| format!("{:.1}%", s * 100.0))
                        .unwrap_or_else(|| "-".into())
                );
            }
            if let Some((s, _)) = &best {
                eprintln!("  best: {}", if s.is_empty() { "(as written)" } else { s });
            }
        }
        let tuned = out.best.ctx(&ctx, weights.lm_of.as_ref());
        (
            tuned,
            out.best.finetune_outcome(),
            out.best.overlay.clone(),
            best.and_then(|b| b.1),
            out.candidates.first().and_then(|c| c.score),
        )
    } else {
        let bf = weights.bootstrap_finetune(metric.clone());
        let out = bf.compile(&session.program, train, val, &ctx).await?;
        if !opts.quiet {
            eprintln!(
                "  {}: {} runs, {} kept ({} failed); {} training examples",
                if weights.data.from_labels {
                    "labels"
                } else {
                    "teacher"
                },
                out.data.runs,
                out.data.kept,
                out.data.failed,
                out.data.examples.len()
            );
        }
        let lm_of = weights.lm_of.clone();
        let tuned = out.ctx(&ctx, |m| lm_of(m));
        let before = val_score(session, &ctx, val, &metric, concurrency).await?;
        let after = val_score(session, &tuned, val, &metric, concurrency).await?;
        for r in before.iter().chain(after.iter()) {
            add_spend(&mut spend, r);
        }
        (
            tuned,
            Some(out),
            ctx.overlay().cloned().unwrap_or_default(),
            after.map(|r| r.mean),
            before.map(|r| r.mean),
        )
    };
    let seen_examples = train
        .iter()
        .chain(val.iter())
        .map(sigil::optimize::example_id)
        .collect::<Vec<_>>();
    let compiled = Compiled {
        optimizer: if kind == "better_together" {
            "BetterTogether".into()
        } else {
            "BootstrapFinetune".into()
        },
        seed,
        overlay,
        score,
        baseline_score: baseline,
        trials: Vec::new(),
        spend,
        stopped: None,
        seen_examples,
    };
    let held_out = match &data.test {
        Some(test) => Some(
            held_out_report_ctx(
                &session.program,
                &ctx,
                &compiled_ctx,
                &test.examples,
                HeldOut {
                    seen: &compiled.seen_examples,
                    seed,
                    metric: Arc::new(metric.clone()) as Arc<dyn Metric>,
                    concurrency,
                },
            )
            .await?,
        ),
        None => None,
    };
    // A trained model that fails on every held-out example (an adapter the engine
    // cannot load, a model id the server does not know) is a failed compile: no
    // artifact is written.
    if let Some(h) = &held_out
        && !h.compiled.results.is_empty()
        && h.compiled.errors == h.compiled.results.len()
    {
        let why = h.compiled.results[0]
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_default();
        anyhow::bail!(
            "the trained model failed on all {} held-out examples, so no artifact was written; the first error: {why}",
            h.compiled.results.len()
        );
    }
    let wall = started.elapsed();
    let provenance = provenance_for(session, &data, &metric, held_out.as_ref())?;
    let adapter = session.built.ctx.adapter().clone();
    let mut artifact = Artifact::build(&session.program, &compiled, adapter.as_ref(), provenance)?;
    if let Some(out) = &outcome {
        artifact = with_trained(artifact, out, &weights)?;
    }
    write_artifact(&artifact, &opts.out)?;
    RunRecord::now(wall, &compiled.spend).save_beside(&opts.out)?;
    session.flush();
    Ok(Some(CompileOutcome {
        out: opts.out.clone(),
        artifact_hash: artifact.content_hash()?,
        compiled,
        held_out,
        wall_secs: wall.as_secs_f64(),
    }))
}

fn with_trained(
    artifact: Artifact,
    out: &FinetuneOutcome,
    weights: &Weights,
) -> anyhow::Result<Artifact> {
    Ok(artifact.with_finetuned(out, weights.trainer(), &weights.settings)?)
}
