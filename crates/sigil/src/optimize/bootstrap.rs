//! BootstrapFewShot: demos made of the teacher's own traces on training examples
//! that pass the metric, topped up with labeled examples.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::capture::{CapturedCall, DemoCapture};
use super::data::{check_disjoint, check_examples, example_id, ids_of, sample};
use super::engine::{Engine, EngineConfig, forward_spend, times};
use super::labeled::labeled_overlay;
use super::{Compiled, OptimizeError, Optimizer, SpendEstimate, StopReason};
use crate::data::Example;
use crate::evaluate::Metric;
use crate::lm::Lm;
use crate::module::{Ctx, Module, Overlay};
use crate::rng::SeededRng;

/// The demos chosen for one predictor: bootstrapped (augmented) demos first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct DemoSet {
    pub demos: Vec<Example>,
    /// How many of `demos` (at the front) are the teacher's traces.
    pub augmented: usize,
}

/// Settings of one bootstrap, shared with random search and MIPROv2.
#[derive(Clone, Debug)]
pub(crate) struct BootstrapSettings {
    pub threshold: Option<f64>,
    pub max_bootstrapped: usize,
    pub max_labeled: usize,
    pub max_rounds: usize,
    pub round_temperature: f64,
    pub teacher_overlay: Option<Overlay>,
}

/// Whether a metric value counts as a pass: at least the threshold, else nonzero.
pub(super) fn passes(score: f64, threshold: Option<f64>) -> bool {
    score.is_finite() && threshold.map_or(score != 0.0, |t| score >= t)
}

/// One teacher run on `example`; the traces per predictor path when the metric passes.
async fn bootstrap_one(
    engine: &Engine<'_>,
    teacher_ctx: &Ctx,
    teacher_overlay: &Overlay,
    s: &BootstrapSettings,
    example: &Example,
) -> Option<Vec<CapturedCall>> {
    // The example being bootstrapped must not be among the teacher's demos.
    let mut overlay = teacher_overlay.clone();
    for state in overlay.predictors.values_mut() {
        if let Some(d) = state.demos.as_mut() {
            d.retain(|x| x != example);
        }
    }
    let overlay = Arc::new(overlay);
    for round in 0..s.max_rounds.max(1) {
        let capture = DemoCapture::new();
        let mut ctx = teacher_ctx
            .with_overlay(Some(overlay.clone()))
            .with_hook(capture.clone());
        if round > 0 {
            // A fresh rollout id gets past the request cache; the higher temperature a different answer.
            let mut params = ctx.params().clone();
            params.temperature = Some(s.round_temperature);
            ctx = ctx.with_rollout_id(Some(round as u64)).with_params(params);
        }
        let Ok(prediction) = engine.program.call(&ctx, example.inputs()).await else {
            continue;
        };
        let scored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.metric.try_score(example, &prediction)
        }));
        if let Ok(Ok(score)) = scored
            && passes(score, s.threshold)
        {
            return Some(capture.take());
        }
    }
    None
}

/// Turns one successful run's traces into at most one demo per predictor path.
fn traces_to_demos(traces: Vec<CapturedCall>) -> IndexMap<String, Example> {
    let mut by_path: IndexMap<String, Vec<Example>> = IndexMap::new();
    for call in traces {
        let demo = call.demo();
        by_path.entry(call.path).or_default().push(demo);
    }
    by_path
        .into_iter()
        .map(|(path, mut demos)| {
            if demos.len() == 1 {
                return (path, demos.remove(0));
            }
            // A predictor called several times in one run: the last call, or one of the
            // earlier ones, half and half, seeded by the calls' content.
            let seed = demos.iter().fold(0u64, |acc, d| {
                acc ^ u64::from_str_radix(&example_id(d), 16).unwrap_or(0)
            });
            let mut rng = SeededRng::new(seed);
            let last = demos.len() - 1;
            let pick = if rng.next_f64() < 0.5 {
                rng.below(last)
            } else {
                last
            };
            (path, demos.swap_remove(pick))
        })
        .collect()
}

/// The LMs the teacher runs with: one for every predictor, and per predictor path.
#[derive(Clone, Default)]
pub(crate) struct Teacher {
    pub lm: Option<Arc<dyn Lm>>,
    pub by_path: Vec<(String, Arc<dyn Lm>)>,
}

impl Teacher {
    pub(crate) fn with_lm(lm: Option<Arc<dyn Lm>>) -> Self {
        Teacher {
            lm,
            by_path: Vec::new(),
        }
    }
}

/// Bootstraps demos for every predictor from `trainset`, in order, stopping once
/// `max_bootstrapped` examples passed. Fails with `BudgetExhausted` if a call was refused.
pub(crate) async fn bootstrap_demos(
    engine: &Engine<'_>,
    s: &BootstrapSettings,
    teacher: &Teacher,
    trainset: &[Example],
) -> Result<IndexMap<String, DemoSet>, OptimizeError> {
    let refused = engine.budget.refused();
    let teacher_overlay = match &s.teacher_overlay {
        Some(o) => o.clone(),
        None if s.max_labeled > 0 => labeled_overlay(
            engine.program,
            trainset,
            s.max_labeled,
            true,
            &mut SeededRng::new(engine.seed()),
        ),
        None => Overlay::default(),
    };
    let mut teacher_ctx = match &teacher.lm {
        Some(lm) => engine.ctx.with_lm(engine.wrap_lm(lm.clone())),
        None => engine.ctx.clone(),
    };
    for (path, lm) in &teacher.by_path {
        teacher_ctx = teacher_ctx.with_lm_for(path, engine.wrap_lm(lm.clone()));
    }
    let paths: Vec<String> = engine
        .program
        .named_predictors()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let mut traces: IndexMap<String, Vec<Example>> =
        paths.iter().map(|p| (p.clone(), Vec::new())).collect();
    let mut bootstrapped = vec![false; trainset.len()];
    let (mut next, mut found) = (0usize, 0usize);
    while found < s.max_bootstrapped && next < trainset.len() {
        // Never more runs at once than demos still needed, so no run is wasted.
        let batch = (s.max_bootstrapped - found)
            .min(engine.concurrency())
            .min(trainset.len() - next);
        let indices: Vec<usize> = (next..next + batch).collect();
        let results: Vec<(usize, Option<Vec<CapturedCall>>)> = futures::stream::iter(indices)
            .map(|i| {
                let (ctx, overlay) = (&teacher_ctx, &teacher_overlay);
                async move {
                    (
                        i,
                        bootstrap_one(engine, ctx, overlay, s, &trainset[i]).await,
                    )
                }
            })
            .buffered(batch)
            .collect()
            .await;
        engine.check_budget(refused)?;
        for (i, t) in results {
            if let Some(t) = t {
                bootstrapped[i] = true;
                found += 1;
                for (path, demo) in traces_to_demos(t) {
                    traces.entry(path).or_default().push(demo);
                }
            }
        }
        next += batch;
    }
    let mut rest: Vec<Example> = trainset
        .iter()
        .zip(&bootstrapped)
        .filter(|(_, b)| !**b)
        .map(|(e, _)| e.clone())
        .collect();
    SeededRng::new(engine.seed()).shuffle(&mut rest);
    let mut rng = SeededRng::new(engine.seed());
    Ok(paths
        .into_iter()
        .map(|path| {
            let mut demos: Vec<Example> = traces
                .get(&path)
                .map(|t| t.iter().take(s.max_bootstrapped).cloned().collect())
                .unwrap_or_default();
            let augmented = demos.len();
            let labeled = s.max_labeled.saturating_sub(augmented).min(rest.len());
            demos.extend(sample(&mut rng, &rest, labeled));
            (path, DemoSet { demos, augmented })
        })
        .collect())
}

pub(crate) fn overlay_of(sets: &IndexMap<String, DemoSet>) -> Overlay {
    let mut overlay = Overlay::default();
    for (path, set) in sets {
        overlay.set_demos(path, set.demos.clone());
    }
    overlay
}

/// Bootstraps demos from a teacher's passing traces (DSPy's `BootstrapFewShot`).
///
/// The teacher is the program itself with `max_labeled` labeled demos, or with
/// another LM ([`BootstrapFewShot::teacher_lm`]) or a compiled overlay
/// ([`BootstrapFewShot::teacher_overlay`]). A trace is kept when the metric passes
/// (`>= threshold`, or nonzero without one); rounds after the first use a fresh
/// rollout id at a higher temperature. Each predictor gets up to `max_bootstrapped`
/// traces, then labeled examples up to `max_labeled` demos in all.
#[derive(Clone)]
pub struct BootstrapFewShot {
    metric: Arc<dyn Metric>,
    pub(crate) settings: BootstrapSettings,
    teacher: Teacher,
    config: EngineConfig,
}

impl BootstrapFewShot {
    /// Defaults as in DSPy: 4 bootstrapped, 16 labeled, 1 round, no threshold.
    pub fn new(metric: impl Metric + 'static) -> Self {
        Self::with_metric(Arc::new(metric))
    }
    /// [`BootstrapFewShot::new`] with a shared metric.
    pub fn with_metric(metric: Arc<dyn Metric>) -> Self {
        BootstrapFewShot {
            metric,
            settings: BootstrapSettings {
                threshold: None,
                max_bootstrapped: 4,
                max_labeled: 16,
                max_rounds: 1,
                round_temperature: 1.0,
                teacher_overlay: None,
            },
            teacher: Teacher::default(),
            config: EngineConfig::default(),
        }
    }
    /// A trace passes when its score is at least `t` (default: when it is nonzero).
    pub fn metric_threshold(mut self, t: f64) -> Self {
        self.settings.threshold = Some(t);
        self
    }
    /// Bootstrapped demos per predictor, at most.
    pub fn max_bootstrapped_demos(mut self, n: usize) -> Self {
        self.settings.max_bootstrapped = n;
        self
    }
    /// Bootstrapped demos are topped up with labeled training examples to this many per predictor.
    pub fn max_labeled_demos(mut self, n: usize) -> Self {
        self.settings.max_labeled = n;
        self
    }
    /// Attempts per training example; rounds after the first sample afresh.
    pub fn max_rounds(mut self, n: usize) -> Self {
        self.settings.max_rounds = n.max(1);
        self
    }
    /// Temperature of the rounds after the first (default 1.0).
    pub fn round_temperature(mut self, t: f64) -> Self {
        self.settings.round_temperature = t;
        self
    }
    /// The teacher runs with this LM (its calls count against the budget).
    pub fn teacher_lm(mut self, lm: Arc<dyn Lm>) -> Self {
        self.teacher.lm = Some(lm);
        self
    }
    /// The teacher's predictor at `path` runs with this LM (as [`Ctx::with_lm_for`]).
    pub fn teacher_lm_for(mut self, path: &str, lm: Arc<dyn Lm>) -> Self {
        self.teacher.by_path.push((path.to_string(), lm));
        self
    }
    /// The teacher runs with this overlay (e.g. an earlier compiled program) instead of labeled demos.
    pub fn teacher_overlay(mut self, overlay: Overlay) -> Self {
        self.settings.teacher_overlay = Some(overlay);
        self
    }
    /// The engine's settings (seed, concurrency, budget, checkpoint, ...).
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }
}

#[async_trait]
impl Optimizer for BootstrapFewShot {
    fn name(&self) -> &'static str {
        "BootstrapFewShot"
    }

    fn estimate(
        &self,
        program: &dyn Module,
        trainset: &[Example],
        _: &[Example],
        ctx: &Ctx,
    ) -> SpendEstimate {
        let demos: Vec<Example> = trainset
            .iter()
            .take(self.settings.max_labeled)
            .cloned()
            .collect();
        let one = forward_spend(program, ctx, trainset.first(), &demos);
        let runs = (trainset.len() * self.settings.max_rounds) as u64;
        SpendEstimate {
            baseline: one,
            total: times(&one, runs),
            breakdown: vec![format!(
                "at most {} teacher runs ({} examples x {} rounds), fewer once {} traces pass",
                runs,
                trainset.len(),
                self.settings.max_rounds,
                self.settings.max_bootstrapped
            )],
        }
    }

    async fn compile(
        &self,
        program: &dyn Module,
        trainset: &[Example],
        valset: &[Example],
        ctx: &Ctx,
    ) -> Result<Compiled, OptimizeError> {
        if trainset.is_empty() {
            return Err(OptimizeError::EmptyTrainset);
        }
        check_disjoint("trainset", trainset, "valset", valset)?;
        check_examples("trainset", trainset, self.metric.as_ref())?;
        let estimate = self.estimate(program, trainset, valset, ctx);
        let settings = format!("{:?}", self.settings);
        let engine = Engine::start(
            &self.config,
            self.name(),
            &settings,
            program,
            ctx,
            self.metric.clone(),
            &[trainset],
            estimate,
            0,
        )?;
        engine.phase("bootstrap");
        let teacher = &self.teacher;
        let result = engine
            .step("bootstrap", || {
                bootstrap_demos(&engine, &self.settings, teacher, trainset)
            })
            .await;
        let seen = ids_of(&[trainset, valset]);
        match result {
            Ok((sets, _)) => Ok(engine.finish(overlay_of(&sets), None, None, None, seen)),
            Err(OptimizeError::BudgetExhausted { .. }) => Ok(engine.finish(
                Overlay::default(),
                None,
                None,
                Some(StopReason::BudgetExhausted),
                seen,
            )),
            Err(e) => Err(e),
        }
    }
}
