//! The engine every optimizer runs on: budgeted LM access, memoized steps written to
//! the checkpoint, trials scored through [`Evaluate`], observers and the progress bar.

use std::future::Future;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::budget::{BudgetState, input_token_bound};
use super::checkpoint::Checkpoint;
pub(crate) use super::engine_config::EngineConfig;
use super::observer::{CandidateSummary, RunEnd, RunStart, TrialEvent, TrialKind};
use super::{Compiled, OptimizeError, Spend, SpendEstimate, StopReason, TrialRecord};
use crate::data::{Dataset, Example};
use crate::evaluate::{EvalReport, Evaluate, Metric, progress_allowed};
use crate::lm::{CachedLm, Lm, PriceTable, ResponseCache, Usage};
use crate::module::{Ctx, Module, Overlay};
use crate::trace::{CompileSummary, EndData, ErrorInfo, SpanGuard, StartData, keys};

struct Progress {
    trials: Vec<TrialRecord>,
    best: Option<f64>,
}

/// One optimization run in progress.
pub(crate) struct Engine<'a> {
    cfg: &'a EngineConfig,
    pub(crate) name: &'static str,
    pub(crate) program: &'a dyn Module,
    /// The caller's context with every LM wrapped in the budget.
    pub(crate) ctx: Ctx,
    pub(crate) metric: Arc<dyn Metric>,
    pub(crate) budget: Arc<BudgetState>,
    checkpoint: Mutex<Checkpoint>,
    state: Mutex<Progress>,
    bar: ProgressBar,
    /// The run's `compile` span (trials and every LM call of the run nest under it);
    /// taken by [`Engine::finish`], ended as an error by `Drop` otherwise.
    span: Mutex<Option<SpanGuard>>,
    /// The last error a step or trial returned, for the compile span of a failed run.
    failure: Mutex<Option<(&'static str, String)>>,
}

fn program_description(program: &dyn Module) -> String {
    program
        .named_predictors()
        .iter()
        .map(|(path, p)| {
            format!(
                "{path}: {} | {} | {} demos",
                p.signature().to_signature_string(),
                p.signature().instructions(),
                p.demos().len()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl<'a> Engine<'a> {
    /// Starts a run: binds predictor paths, opens the checkpoint, checks the dry-run
    /// estimate against the budget (before any LM call) and wraps the LMs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        cfg: &'a EngineConfig,
        name: &'static str,
        settings: &str,
        program: &'a dyn Module,
        ctx: &Ctx,
        metric: Arc<dyn Metric>,
        data: &[&[Example]],
        estimate: SpendEstimate,
        planned_trials: u64,
    ) -> Result<Self, OptimizeError> {
        if program.named_predictors().is_empty() {
            return Err(OptimizeError::NoPredictors);
        }
        let mut h = Sha256::new();
        h.update(format!(
            "{name}\n{settings}\nseed={}\n{}\n",
            cfg.seed,
            program_description(program)
        ));
        for set in data {
            h.update(
                Dataset {
                    examples: set.to_vec(),
                }
                .content_hash(),
            );
            h.update(b"\n");
        }
        let fingerprint = hex::encode(&h.finalize()[..12]);
        let checkpoint =
            Checkpoint::open(cfg.checkpoint.as_deref(), cfg.resume, name, &fingerprint)?;
        let budget = BudgetState::new(cfg.budget.clone(), checkpoint.spend());
        if cfg.budget.max_cost_usd.is_some() {
            for lm in std::iter::once(&ctx.lm).chain(ctx.lm_by_path.values()) {
                if budget.price_for(&lm.model_id()).is_none() {
                    return Err(OptimizeError::Config(format!(
                        "a cost budget needs a price for `{}`: set Budget::price",
                        lm.model_id()
                    )));
                }
            }
        }
        if checkpoint.resumed_steps() == 0 {
            let mut needed = checkpoint.spend();
            needed.add(&estimate.baseline);
            if !cfg.budget.allows(&needed) {
                return Err(OptimizeError::BudgetTooSmall {
                    budget: cfg.budget.to_string(),
                    needed: estimate.baseline.to_string(),
                });
            }
        }
        let span = compile_span(
            cfg,
            name,
            settings,
            program,
            ctx,
            data,
            planned_trials,
            checkpoint.resumed_steps(),
        );
        let cache = cfg.cache.as_ref();
        let mut run_ctx = ctx
            .child(&span)
            .with_lm(wrap(&budget, cache, ctx.lm.clone()));
        let by_path = ctx
            .lm_by_path
            .iter()
            .map(|(k, lm)| (k.clone(), wrap(&budget, cache, lm.clone())))
            .collect();
        run_ctx.lm_by_path = Arc::new(by_path);

        let bar = if cfg.progress && progress_allowed() {
            let bar =
                ProgressBar::with_draw_target(Some(planned_trials), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix} {msg} {wide_bar} {pos}/{len} trials [{elapsed_precise}]",
            ) {
                bar.set_style(style);
            }
            bar.set_prefix(name);
            bar
        } else {
            ProgressBar::hidden()
        };
        let start = RunStart {
            optimizer: name.to_string(),
            seed: cfg.seed,
            estimate,
            resumed_steps: checkpoint.resumed_steps(),
        };
        for o in &cfg.observers {
            o.on_start(&start);
        }
        Ok(Engine {
            cfg,
            name,
            program,
            ctx: run_ctx,
            metric,
            budget,
            checkpoint: Mutex::new(checkpoint),
            state: Mutex::new(Progress {
                trials: Vec::new(),
                best: None,
            }),
            bar,
            span: Mutex::new(Some(span)),
            failure: Mutex::new(None),
        })
    }

    /// Remembers `e` as the reason the run failed (the compile span reports it).
    fn note_failure(&self, e: &OptimizeError) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((error_kind(e), e.to_string()));
    }

    pub(crate) fn seed(&self) -> u64 {
        self.cfg.seed
    }
    pub(crate) fn concurrency(&self) -> usize {
        self.cfg.concurrency
    }

    /// `lm` drawing on this run's budget (for teacher and prompt models).
    pub(crate) fn wrap_lm(&self, lm: Arc<dyn Lm>) -> Arc<dyn Lm> {
        wrap(&self.budget, self.cfg.cache.as_ref(), lm)
    }

    pub(crate) fn phase(&self, phase: &str) {
        for o in &self.cfg.observers {
            o.on_phase(self.name, phase);
        }
    }

    fn exhausted(&self) -> OptimizeError {
        OptimizeError::BudgetExhausted {
            spent: format!("{} of {}", self.budget.spent(), self.cfg.budget),
        }
    }

    /// Fails with `BudgetExhausted` if any call was refused since `refused_before`.
    pub(crate) fn check_budget(&self, refused_before: u64) -> Result<(), OptimizeError> {
        if self.budget.refused() > refused_before {
            Err(self.exhausted())
        } else {
            Ok(())
        }
    }

    /// Runs `f` once per run: a step already in the checkpoint is read back instead.
    pub(crate) async fn step<T, F, Fut>(&self, key: &str, f: F) -> Result<(T, bool), OptimizeError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, OptimizeError>>,
    {
        let recorded = self
            .checkpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned();
        if let Some(v) = recorded {
            let value = serde_json::from_value(v).map_err(|e| OptimizeError::Checkpoint {
                path: format!("{:?}", self.cfg.checkpoint),
                reason: format!("step `{key}` unreadable: {e}"),
            })?;
            return Ok((value, true));
        }
        let value = f().await.inspect_err(|e| self.note_failure(e))?;
        let json = serde_json::to_value(&value)
            .map_err(|e| OptimizeError::Other(format!("step `{key}`: {e}")))?;
        let spend = self.budget.spent();
        self.checkpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(key, json, spend)?;
        Ok((value, false))
    }

    /// Scores `overlay` on `examples` (the program run with the overlay in scope).
    /// `ctx` is the run's ctx or a trial span's child of it.
    async fn evaluate_in(
        &self,
        ctx: &Ctx,
        overlay: &Overlay,
        examples: &[Example],
    ) -> Result<EvalReport, OptimizeError> {
        let refused = self.budget.refused();
        let ctx = ctx.with_overlay(Some(Arc::new(overlay.clone())));
        let report = Evaluate::new(examples)
            .metric_arc(self.metric.clone())
            .concurrency(self.cfg.concurrency)
            .max_errors(None)
            .progress(false)
            .bootstrap_resamples(0)
            .seed(self.cfg.seed)
            .run(self.program, &ctx)
            .await?;
        self.check_budget(refused)?;
        Ok(report)
    }

    /// Scores a candidate as trial `key` (memoized), records it and tells the observers.
    pub(crate) async fn trial(
        &self,
        key: &str,
        kind: TrialKind,
        candidate: CandidateSummary,
        overlay: &Overlay,
        examples: &[Example],
    ) -> Result<TrialRecord, OptimizeError> {
        let trial_no = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .trials
            .len()
            + 1;
        let mut span = self
            .ctx
            .start_span(format!("trial {trial_no}"), || StartData::Trial {
                index: trial_no as u64,
                candidate: Arc::new(serde_json::to_value(&candidate).unwrap_or_default()),
            });
        if span.is_recording() {
            describe_candidate(&mut span, kind, &candidate);
        }
        let trial_ctx = self.ctx.child(&span);
        let outcome = self
            .step(&format!("trial/{key}"), || async {
                let report = self.evaluate_in(&trial_ctx, overlay, examples).await?;
                Ok(TrialRecord {
                    trial: trial_no,
                    kind,
                    candidate: candidate.clone(),
                    score: report.mean,
                    n_examples: report.len(),
                    errors: report.errors,
                    usage: report.usage,
                    lm_calls: report.lm_calls,
                })
            })
            .await;
        let (record, replayed) = match outcome {
            Ok(x) => x,
            Err(e) => {
                span.end(EndData::Trial(Err(ErrorInfo::new(
                    error_kind(&e),
                    e.to_string(),
                ))));
                return Err(e);
            }
        };
        let best = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if kind == TrialKind::Full && st.best.is_none_or(|b| record.score > b) {
                st.best = Some(record.score);
            }
            st.trials.push(record.clone());
            st.best
        };
        self.bar.inc(1);
        if let Some(b) = best {
            self.bar.set_message(format!("best {:.2}%", 100.0 * b));
        }
        let event = TrialEvent {
            optimizer: self.name.to_string(),
            trial: record.trial,
            kind,
            candidate: record.candidate.clone(),
            score: record.score,
            n_examples: record.n_examples,
            errors: record.errors,
            usage: record.usage,
            lm_calls: record.lm_calls,
            best_score: best,
            replayed,
        };
        for o in &self.cfg.observers {
            o.on_trial(&event);
        }
        if span.is_recording() {
            let u = &record.usage;
            span.set_attribute(keys::TRIAL_EXAMPLES, record.n_examples);
            span.set_attribute(keys::TRIAL_ERRORS, record.errors);
            span.set_attribute(keys::TRIAL_INPUT_TOKENS, u.input_tokens);
            span.set_attribute(keys::TRIAL_OUTPUT_TOKENS, u.output_tokens);
            span.set_attribute(keys::TRIAL_CACHED_TOKENS, u.cached_tokens);
            span.set_attribute(keys::TRIAL_COST_USD, u.cost_usd);
            span.set_attribute(keys::TRIAL_LM_CALLS, record.lm_calls);
            if let Some(b) = best {
                span.set_attribute(keys::TRIAL_BEST_SCORE, b);
            }
            span.set_attribute(keys::TRIAL_REPLAYED, replayed);
        }
        span.end(EndData::Trial(Ok(Some(record.score))));
        Ok(record)
    }

    /// Ends the run with the chosen overlay.
    pub(crate) fn finish(
        self,
        overlay: Overlay,
        score: Option<f64>,
        baseline_score: Option<f64>,
        stopped: Option<StopReason>,
        seen_examples: Vec<String>,
    ) -> Compiled {
        let trials = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .trials
            .clone();
        let spend = self.budget.spent();
        if let Err(e) = self
            .checkpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_spend(spend)
        {
            // The result is complete; a stale spend in the checkpoint only matters to a later resume.
            self.bar.println(format!("warning: {e}"));
        }
        self.bar.finish_and_clear();
        let end = RunEnd {
            optimizer: self.name.to_string(),
            best_score: score,
            trials: trials.len(),
            spend,
            stopped: stopped.clone(),
        };
        for o in &self.cfg.observers {
            o.on_end(&end);
        }
        let span = self.span.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut span) = span {
            if span.is_recording() {
                span.set_attribute(keys::COMPILE_SPEND_LM_CALLS, spend.lm_calls);
                span.set_attribute(keys::COMPILE_SPEND_INPUT_TOKENS, spend.input_tokens);
                span.set_attribute(keys::COMPILE_SPEND_OUTPUT_TOKENS, spend.output_tokens);
                span.set_attribute(keys::COMPILE_SPEND_COST_USD, spend.cost_usd);
                span.set_attribute(keys::COMPILE_SPEND_CACHE_HITS, spend.cache_hits);
                if let Some(b) = baseline_score {
                    span.set_attribute(keys::COMPILE_BASELINE_SCORE, b);
                }
                if let Some(s) = &stopped {
                    let why = match s {
                        StopReason::BudgetExhausted => "budget_exhausted",
                        StopReason::TargetReached => "target_reached",
                    };
                    span.set_attribute(keys::COMPILE_STOPPED, why);
                }
            }
            span.end(EndData::Compile(Ok(CompileSummary {
                best_score: score,
                artifact_hash: None,
                trials: trials.len() as u64,
            })));
        }
        Compiled {
            optimizer: self.name.to_string(),
            seed: self.cfg.seed,
            overlay,
            score,
            baseline_score,
            trials,
            spend,
            stopped,
            seen_examples,
        }
    }
}

impl Drop for Engine<'_> {
    fn drop(&mut self) {
        // A run that did not reach `finish` failed: its compile span says why.
        let span = self.span.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(span) = span {
            let (kind, message) = self
                .failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or(("cancelled", "the run stopped before it finished".into()));
            span.end(EndData::Compile(Err(ErrorInfo::new(kind, message))));
        }
    }
}

/// Opens the run's `compile` span (under the caller's current span, if any).
#[allow(clippy::too_many_arguments)]
fn compile_span(
    cfg: &EngineConfig,
    name: &'static str,
    settings: &str,
    program: &dyn Module,
    ctx: &Ctx,
    data: &[&[Example]],
    planned_trials: u64,
    resumed_steps: usize,
) -> SpanGuard {
    let mut span = ctx.start_span(format!("compile {name}"), || StartData::Compile {
        optimizer: Arc::from(name),
        program: Arc::from(program.name()),
        trainset: data.first().map_or(0, |d| d.len()),
        valset: data.get(1).map_or(0, |d| d.len()),
        config: Arc::new(serde_json::json!({
            "settings": settings,
            "seed": cfg.seed,
            "concurrency": cfg.concurrency,
            "budget": cfg.budget.to_string(),
            "resumed_steps": resumed_steps,
        })),
    });
    if span.is_recording() {
        span.set_attribute(keys::COMPILE_SEED, cfg.seed);
        span.set_attribute(keys::COMPILE_PLANNED_TRIALS, planned_trials);
    }
    span
}

/// A trial span's description of its candidate: kind, label, and per predictor path
/// the instruction (null when unchanged) and the number of demos.
fn describe_candidate(span: &mut SpanGuard, kind: TrialKind, candidate: &CandidateSummary) {
    let kind = match kind {
        TrialKind::Full => "full",
        TrialKind::Minibatch => "minibatch",
    };
    span.set_attribute(keys::TRIAL_KIND, kind);
    span.set_attribute(keys::TRIAL_LABEL, candidate.label.clone());
    let mut instructions = serde_json::Map::new();
    let mut demos = serde_json::Map::new();
    for (path, choice) in &candidate.predictors {
        instructions.insert(path.clone(), serde_json::json!(choice.instruction));
        demos.insert(path.clone(), serde_json::json!(choice.demo_ids.len()));
    }
    span.set_attribute(
        keys::TRIAL_INSTRUCTIONS,
        serde_json::Value::Object(instructions).to_string(),
    );
    span.set_attribute(
        keys::TRIAL_DEMOS,
        serde_json::Value::Object(demos).to_string(),
    );
}

/// A short, stable name for an optimizer error (the spans' `error.type`).
fn error_kind(e: &OptimizeError) -> &'static str {
    match e {
        OptimizeError::BudgetExhausted { .. } => "budget_exhausted",
        OptimizeError::BudgetTooSmall { .. } => "budget_too_small",
        OptimizeError::Checkpoint { .. } => "checkpoint",
        OptimizeError::Eval(_) => "evaluate",
        OptimizeError::Config(_) => "config",
        _ => "optimize",
    }
}

/// `lm` drawing on `budget`, behind `cache` when there is one.
fn wrap(
    budget: &Arc<BudgetState>,
    cache: Option<&Arc<ResponseCache>>,
    lm: Arc<dyn Lm>,
) -> Arc<dyn Lm> {
    let budgeted = budget.wrap(lm);
    match cache {
        Some(c) => Arc::new(CachedLm::with_cache(budgeted, c.clone())),
        None => budgeted,
    }
}

/// The spend of one program forward on `example` with `demos` per predictor, estimated
/// from the formatted prompts (4 bytes per token) and the example's label sizes.
pub(crate) fn forward_spend(
    program: &dyn Module,
    ctx: &Ctx,
    example: Option<&Example>,
    demos: &[Example],
) -> Spend {
    let mut spend = Spend::default();
    let label_bytes: usize = example.map_or(0, |e| {
        e.labels().values().map(|v| v.to_string().len()).sum()
    });
    for (path, p) in program.named_predictors() {
        spend.lm_calls += 1;
        let inputs = example.map(Example::inputs).unwrap_or_default();
        let input = match ctx.adapter().format(p.signature(), demos, &inputs) {
            Ok(messages) => {
                let req = crate::lm::LmRequest::new(messages);
                // The byte bound over-counts; a typical tokenizer makes about one token per 4 bytes.
                input_token_bound(&req) / 4
            }
            Err(_) => 500,
        };
        let output = 20 * p.signature().outputs().len() as u64 + (label_bytes / 4) as u64;
        spend.input_tokens += input;
        spend.output_tokens += output;
        let model = ctx.lm_for(&path).model_id();
        if let Some(price) = PriceTable::shared_builtin().get(&model) {
            spend.cost_usd += price.cost(&Usage {
                input_tokens: input,
                output_tokens: output,
                ..Usage::default()
            });
        }
    }
    spend
}

/// `spend` times `n`.
pub(crate) fn times(spend: &Spend, n: u64) -> Spend {
    Spend {
        lm_calls: spend.lm_calls * n,
        input_tokens: spend.input_tokens * n,
        output_tokens: spend.output_tokens * n,
        cost_usd: spend.cost_usd * n as f64,
        cache_hits: 0,
    }
}
