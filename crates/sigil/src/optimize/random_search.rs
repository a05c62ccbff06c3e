//! BootstrapFewShotWithRandomSearch: several demo-set candidates, each scored on the
//! valset; the best is kept.

use std::sync::Arc;

use async_trait::async_trait;

use super::bootstrap::{BootstrapSettings, Teacher, bootstrap_demos, overlay_of};
use super::data::{check_train_val, derive_seed, ids_of};
use super::engine::{Engine, EngineConfig, forward_spend, times};
use super::labeled::labeled_overlay;
use super::observer::{CandidateSummary, TrialKind};
use super::{Compiled, OptimizeError, Optimizer, SpendEstimate, StopReason};
use crate::data::Example;
use crate::evaluate::Metric;
use crate::lm::Lm;
use crate::module::{Ctx, Module, Overlay};
use crate::rng::SeededRng;

/// Candidates as DSPy builds them, in this order: zero-shot (no demos), labeled only
/// (`max_labeled` examples), bootstrapped on the unshuffled trainset, then
/// `num_candidates` bootstraps on a shuffled trainset, each with a random number
/// (1..=`max_bootstrapped`) of traces. Each is scored on the whole valset; the first
/// best score wins. With [`Self::stop_at_score`] the search stops at the first
/// candidate reaching it.
#[derive(Clone)]
pub struct BootstrapFewShotWithRandomSearch {
    metric: Arc<dyn Metric>,
    settings: BootstrapSettings,
    num_candidates: usize,
    stop_at_score: Option<f64>,
    labeled_sample: bool,
    teacher_lm: Option<Arc<dyn Lm>>,
    config: EngineConfig,
}

impl BootstrapFewShotWithRandomSearch {
    /// DSPy's defaults: 4 bootstrapped, 16 labeled, 1 round, 16 shuffled candidates.
    pub fn new(metric: impl Metric + 'static) -> Self {
        BootstrapFewShotWithRandomSearch {
            metric: Arc::new(metric),
            settings: BootstrapSettings {
                threshold: None,
                max_bootstrapped: 4,
                max_labeled: 16,
                max_rounds: 1,
                round_temperature: 1.0,
                teacher_overlay: None,
            },
            num_candidates: 16,
            stop_at_score: None,
            labeled_sample: true,
            teacher_lm: None,
            config: EngineConfig::default(),
        }
    }
    /// Bootstrapped demos per predictor, at most.
    pub fn max_bootstrapped_demos(mut self, n: usize) -> Self {
        self.settings.max_bootstrapped = n;
        self
    }
    /// Bootstrapped demos are topped up with labeled examples to this many per predictor; the
    /// labeled-only candidate has this many.
    pub fn max_labeled_demos(mut self, n: usize) -> Self {
        self.settings.max_labeled = n;
        self
    }
    /// Bootstrap attempts per training example.
    pub fn max_rounds(mut self, n: usize) -> Self {
        self.settings.max_rounds = n.max(1);
        self
    }
    /// A trace passes when its score is at least `t` (default: when it is nonzero).
    pub fn metric_threshold(mut self, t: f64) -> Self {
        self.settings.threshold = Some(t);
        self
    }
    /// Shuffled-bootstrap candidates, on top of the three fixed ones.
    pub fn num_candidates(mut self, n: usize) -> Self {
        self.num_candidates = n;
        self
    }
    /// Stops at the first candidate scoring at least `score`.
    pub fn stop_at_score(mut self, score: f64) -> Self {
        self.stop_at_score = Some(score);
        self
    }
    /// `false`: the labeled-only candidate takes the first examples instead of a sample.
    pub fn labeled_sample(mut self, sample: bool) -> Self {
        self.labeled_sample = sample;
        self
    }
    /// The LM the teacher runs with while bootstrapping (default: the context's LM).
    pub fn teacher_lm(mut self, lm: Arc<dyn Lm>) -> Self {
        self.teacher_lm = Some(lm);
        self
    }
    /// The engine's settings (seed, concurrency, budget, checkpoint, ...).
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Builds candidate `seed` (-3 zero-shot, -2 labeled, -1 unshuffled, >= 0 shuffled).
    async fn candidate(
        &self,
        engine: &Engine<'_>,
        seed: i64,
        trainset: &[Example],
    ) -> Result<(String, Overlay), OptimizeError> {
        let program = engine.program;
        match seed {
            -3 => {
                let mut o = Overlay::default();
                for (path, _) in program.named_predictors() {
                    o.set_demos(&path, Vec::new());
                }
                Ok(("zero-shot".into(), o))
            }
            -2 => {
                let mut rng = SeededRng::new(engine.seed());
                Ok((
                    "labeled".into(),
                    labeled_overlay(
                        program,
                        trainset,
                        self.settings.max_labeled,
                        self.labeled_sample,
                        &mut rng,
                    ),
                ))
            }
            -1 => {
                let sets = bootstrap_demos(
                    engine,
                    &self.settings,
                    &Teacher::with_lm(self.teacher_lm.clone()),
                    trainset,
                )
                .await?;
                Ok(("bootstrap unshuffled".into(), overlay_of(&sets)))
            }
            s => {
                let mut rng = SeededRng::new(derive_seed(engine.seed(), s));
                let mut shuffled = trainset.to_vec();
                rng.shuffle(&mut shuffled);
                let max = self.settings.max_bootstrapped;
                let size = if max == 0 { 0 } else { 1 + rng.below(max) };
                let settings = BootstrapSettings {
                    max_bootstrapped: size,
                    ..self.settings.clone()
                };
                let sets = bootstrap_demos(
                    engine,
                    &settings,
                    &Teacher::with_lm(self.teacher_lm.clone()),
                    &shuffled,
                )
                .await?;
                Ok((
                    format!("bootstrap seed {s} ({size} traces)"),
                    overlay_of(&sets),
                ))
            }
        }
    }
}

#[async_trait]
impl Optimizer for BootstrapFewShotWithRandomSearch {
    fn name(&self) -> &'static str {
        "BootstrapFewShotWithRandomSearch"
    }

    fn estimate(
        &self,
        program: &dyn Module,
        trainset: &[Example],
        valset: &[Example],
        ctx: &Ctx,
    ) -> SpendEstimate {
        let zero = forward_spend(program, ctx, valset.first(), &[]);
        let demos: Vec<Example> = trainset
            .iter()
            .take(self.settings.max_labeled)
            .cloned()
            .collect();
        let with_demos = forward_spend(program, ctx, valset.first(), &demos);
        let baseline = times(&zero, valset.len() as u64);
        let mut total = baseline;
        let candidates = self.num_candidates as u64 + 2;
        total.add(&times(&with_demos, candidates * valset.len() as u64));
        let boot = (self.num_candidates as u64 + 1)
            * (self.settings.max_bootstrapped as u64).min(trainset.len() as u64);
        total.add(&times(&with_demos, boot * self.settings.max_rounds as u64));
        SpendEstimate {
            baseline,
            total,
            breakdown: vec![
                format!(
                    "{} candidates x {} valset examples",
                    candidates + 1,
                    valset.len()
                ),
                format!(
                    "about {boot} teacher runs to bootstrap {} candidates (more if traces fail)",
                    self.num_candidates + 1
                ),
            ],
        }
    }

    async fn compile(
        &self,
        program: &dyn Module,
        trainset: &[Example],
        valset: &[Example],
        ctx: &Ctx,
    ) -> Result<Compiled, OptimizeError> {
        check_train_val(trainset, valset, self.metric.as_ref())?;
        let estimate = self.estimate(program, trainset, valset, ctx);
        let settings = format!(
            "{:?} n={} stop={:?} sample={}",
            self.settings, self.num_candidates, self.stop_at_score, self.labeled_sample
        );
        let planned = self.num_candidates as u64 + 3;
        let engine = Engine::start(
            &self.config,
            self.name(),
            &settings,
            program,
            ctx,
            self.metric.clone(),
            &[trainset, valset],
            estimate,
            planned,
        )?;
        let mut best: Option<(f64, Overlay)> = None;
        let mut baseline = None;
        let mut stopped = None;
        for seed in -3..self.num_candidates as i64 {
            engine.phase(&format!("candidate {seed}"));
            let outcome = async {
                let ((label, overlay), _) = engine
                    .step(&format!("candidate/{seed}"), || {
                        self.candidate(&engine, seed, trainset)
                    })
                    .await?;
                let summary = CandidateSummary::from_overlay(label, &overlay);
                let record = engine
                    .trial(
                        &seed.to_string(),
                        TrialKind::Full,
                        summary,
                        &overlay,
                        valset,
                    )
                    .await?;
                Ok::<_, OptimizeError>((record.score, overlay))
            }
            .await;
            let (score, overlay) = match outcome {
                Ok(x) => x,
                Err(OptimizeError::BudgetExhausted { .. }) => {
                    stopped = Some(StopReason::BudgetExhausted);
                    break;
                }
                Err(e) => return Err(e),
            };
            if seed == -3 {
                baseline = Some(score);
            }
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, overlay));
            }
            if self.stop_at_score.is_some_and(|t| score >= t) {
                stopped = Some(StopReason::TargetReached);
                break;
            }
        }
        let (score, overlay) = match best {
            Some((s, o)) => (Some(s), o),
            None => (None, Overlay::default()),
        };
        Ok(engine.finish(
            overlay,
            score,
            baseline,
            stopped,
            ids_of(&[trainset, valset]),
        ))
    }
}
