//! MIPROv2: bootstrapped demo-set candidates, grounded instruction candidates, and a
//! TPE search over (instruction, demo set) per predictor scored on minibatches, with
//! the best-averaging candidate fully evaluated every few trials.

use std::sync::Arc;

use async_trait::async_trait;
use indexmap::IndexMap;

mod search;

use super::bootstrap::{BootstrapSettings, DemoSet, Teacher, bootstrap_demos};
use super::data::{check_train_val, derive_seed, ids_of, sample};
use super::engine::{Engine, EngineConfig, forward_spend, times};
use super::labeled::labeled_overlay;
use super::proposer::ProposerSettings;
use super::{Compiled, OptimizeError, Optimizer, Spend, SpendEstimate, StopReason};
use crate::data::Example;
use crate::evaluate::Metric;
use crate::lm::Lm;
use crate::module::{Ctx, Module, Overlay};
use crate::rng::SeededRng;
use search::Search;

/// Preset run sizes, with DSPy's numbers: candidates per predictor and valset size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auto {
    /// 6 candidates, valset of up to 100.
    Light,
    /// 12 candidates, valset of up to 300.
    Medium,
    /// 18 candidates, valset of up to 1000.
    Heavy,
}

impl Auto {
    /// Instruction and demo-set candidates per predictor.
    pub fn candidates(self) -> usize {
        match self {
            Auto::Light => 6,
            Auto::Medium => 12,
            Auto::Heavy => 18,
        }
    }
    /// The largest valset used; a larger one is sampled down.
    pub fn valset_size(self) -> usize {
        match self {
            Auto::Light => 100,
            Auto::Medium => 300,
            Auto::Heavy => 1000,
        }
    }
}

/// Demos shown when optimizing instructions only: the proposer still sees a few traces.
const ZERO_SHOT_PROPOSER_DEMOS: usize = 3;
/// In `auto` mode, minibatches are used only on valsets larger than this.
const AUTO_MINIBATCH_ABOVE: usize = 50;

/// MIPROv2 (DSPy's defaults: `auto` light, 4 bootstrapped and 4 labeled demos,
/// minibatches of 35, a full evaluation every 5 trials, proposer temperature 1.0).
///
/// With `auto`, the number of candidates and the valset size follow [`Auto`], and
/// the number of trials is `max(2 * vars * log2(n), 1.5 * n)` where `vars` counts an
/// instruction and a demo set per predictor. Without it, set both
/// [`Self::num_candidates`] and [`Self::num_trials`].
#[derive(Clone)]
pub struct MiproV2 {
    metric: Arc<dyn Metric>,
    prompt_lm: Option<Arc<dyn Lm>>,
    teacher_lm: Option<Arc<dyn Lm>>,
    max_bootstrapped: usize,
    max_labeled: usize,
    threshold: Option<f64>,
    auto: Option<Auto>,
    num_candidates: Option<usize>,
    num_trials: Option<usize>,
    minibatch: bool,
    minibatch_size: usize,
    full_eval_steps: usize,
    proposer: ProposerSettings,
    config: EngineConfig,
}

/// The sizes of one run, derived from the settings and the data.
#[derive(Clone, Debug)]
struct Plan {
    num_trials: usize,
    minibatch: bool,
    n_instructions: usize,
    n_demo_sets: usize,
    valset_size: usize,
    zero_shot: bool,
}

impl MiproV2 {
    /// DSPy's defaults (see the type's docs).
    pub fn new(metric: impl Metric + 'static) -> Self {
        MiproV2 {
            metric: Arc::new(metric),
            prompt_lm: None,
            teacher_lm: None,
            max_bootstrapped: 4,
            max_labeled: 4,
            threshold: None,
            auto: Some(Auto::Light),
            num_candidates: None,
            num_trials: None,
            minibatch: true,
            minibatch_size: 35,
            full_eval_steps: 5,
            proposer: ProposerSettings {
                program_aware: true,
                data_aware: true,
                tip_aware: true,
                fewshot_aware: true,
                view_data_batch_size: 10,
                temperature: 1.0,
            },
            config: EngineConfig::default(),
        }
    }
    /// `None` to set the candidates and trials by hand.
    pub fn auto(mut self, auto: Option<Auto>) -> Self {
        self.auto = auto;
        self
    }
    /// Instruction and demo-set candidates per predictor (without `auto`).
    pub fn num_candidates(mut self, n: usize) -> Self {
        self.num_candidates = Some(n);
        self
    }
    /// Search trials (without `auto`).
    pub fn num_trials(mut self, n: usize) -> Self {
        self.num_trials = Some(n);
        self
    }
    /// The LM that writes instructions (default: the context's LM).
    pub fn prompt_lm(mut self, lm: Arc<dyn Lm>) -> Self {
        self.prompt_lm = Some(lm);
        self
    }
    /// The LM the teacher runs with while bootstrapping demos (default: the context's LM).
    pub fn teacher_lm(mut self, lm: Arc<dyn Lm>) -> Self {
        self.teacher_lm = Some(lm);
        self
    }
    /// Bootstrapped demos per demo set, at most (0 with no labeled demos either: instructions only).
    pub fn max_bootstrapped_demos(mut self, n: usize) -> Self {
        self.max_bootstrapped = n;
        self
    }
    /// Demo sets are topped up with labeled examples to this many demos; one demo set is
    /// labeled examples only.
    pub fn max_labeled_demos(mut self, n: usize) -> Self {
        self.max_labeled = n;
        self
    }
    /// A bootstrapped trace passes when its score is at least `t` (default: when it is nonzero).
    pub fn metric_threshold(mut self, t: f64) -> Self {
        self.threshold = Some(t);
        self
    }
    /// Whether trials score minibatches of the valset, with periodic full evaluations.
    pub fn minibatch(mut self, on: bool) -> Self {
        self.minibatch = on;
        self
    }
    /// Examples per minibatch.
    pub fn minibatch_size(mut self, n: usize) -> Self {
        self.minibatch_size = n.max(1);
        self
    }
    /// Minibatch trials between full evaluations.
    pub fn minibatch_full_eval_steps(mut self, n: usize) -> Self {
        self.full_eval_steps = n.max(1);
        self
    }
    /// Temperature of instruction proposals.
    pub fn init_temperature(mut self, t: f64) -> Self {
        self.proposer.temperature = t;
        self
    }
    /// Which grounding the proposer uses: program description, dataset summary, prompting tips, demos.
    pub fn proposer_grounding(
        mut self,
        program: bool,
        data: bool,
        tip: bool,
        fewshot: bool,
    ) -> Self {
        self.proposer.program_aware = program;
        self.proposer.data_aware = data;
        self.proposer.tip_aware = tip;
        self.proposer.fewshot_aware = fewshot;
        self
    }
    /// The engine's settings (seed, concurrency, budget, checkpoint, ...).
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    fn plan(&self, n_predictors: usize, valset_len: usize) -> Result<Plan, OptimizeError> {
        let zero_shot = self.max_bootstrapped == 0 && self.max_labeled == 0;
        let vars = if zero_shot {
            n_predictors
        } else {
            2 * n_predictors
        };
        let trials_for =
            |n: usize| ((2 * vars) as f64 * (n.max(1) as f64).log2()).max(1.5 * n as f64) as usize;
        let plan = match (self.auto, self.num_candidates, self.num_trials) {
            (Some(auto), None, None) => {
                let n = auto.candidates();
                let valset_size = valset_len.min(auto.valset_size());
                Plan {
                    num_trials: trials_for(n),
                    minibatch: valset_size > AUTO_MINIBATCH_ABOVE,
                    n_instructions: if zero_shot { n } else { n / 2 },
                    n_demo_sets: n,
                    valset_size,
                    zero_shot,
                }
            }
            (Some(_), _, _) => {
                return Err(OptimizeError::Config(
                    "with `auto`, num_candidates and num_trials are set for you; use auto(None) to set them".into(),
                ));
            }
            (None, Some(n), Some(t)) => Plan {
                num_trials: t,
                minibatch: self.minibatch,
                n_instructions: n,
                n_demo_sets: n,
                valset_size: valset_len,
                zero_shot,
            },
            (None, Some(n), None) => {
                return Err(OptimizeError::Config(format!(
                    "without `auto`, set num_trials too (about {} for {n} candidates)",
                    trials_for(n)
                )));
            }
            (None, None, _) => {
                return Err(OptimizeError::Config(
                    "without `auto`, set num_candidates and num_trials".into(),
                ));
            }
        };
        if plan.minibatch && self.minibatch_size > plan.valset_size {
            return Err(OptimizeError::Config(format!(
                "the minibatch ({}) is larger than the valset ({})",
                self.minibatch_size, plan.valset_size
            )));
        }
        Ok(plan)
    }

    /// Demo-set candidates per predictor, built as random search builds its candidates.
    async fn demo_sets(
        &self,
        engine: &Engine<'_>,
        plan: &Plan,
        trainset: &[Example],
    ) -> Result<IndexMap<String, Vec<DemoSet>>, OptimizeError> {
        let paths: Vec<String> = engine
            .program
            .named_predictors()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let mut out: IndexMap<String, Vec<DemoSet>> =
            paths.iter().map(|p| (p.clone(), Vec::new())).collect();
        let (max_boot, max_labeled) = if plan.zero_shot {
            (ZERO_SHOT_PROPOSER_DEMOS, 0)
        } else {
            (self.max_bootstrapped, self.max_labeled)
        };
        let base = BootstrapSettings {
            threshold: self.threshold,
            max_bootstrapped: max_boot,
            max_labeled,
            max_rounds: 1,
            round_temperature: 1.0,
            teacher_overlay: None,
        };
        let mut rng = SeededRng::new(derive_seed(engine.seed(), 1));
        let teacher = &Teacher::with_lm(self.teacher_lm.clone());
        for seed in -3..plan.n_demo_sets as i64 - 3 {
            let sets: IndexMap<String, DemoSet> = match seed {
                -3 => paths
                    .iter()
                    .map(|p| (p.clone(), DemoSet::default()))
                    .collect(),
                -2 if max_labeled > 0 => {
                    let o = labeled_overlay(
                        engine.program,
                        trainset,
                        max_labeled,
                        true,
                        &mut SeededRng::new(engine.seed()),
                    );
                    o.predictors
                        .into_iter()
                        .map(|(p, s)| {
                            (
                                p,
                                DemoSet {
                                    demos: s.demos.unwrap_or_default(),
                                    augmented: 0,
                                },
                            )
                        })
                        .collect()
                }
                -1 => bootstrap_demos(engine, &base, teacher, trainset).await?,
                _ => {
                    let mut shuffled = trainset.to_vec();
                    rng.shuffle(&mut shuffled);
                    let size = if max_boot == 0 {
                        0
                    } else {
                        1 + rng.below(max_boot)
                    };
                    let s = BootstrapSettings {
                        max_bootstrapped: size,
                        ..base.clone()
                    };
                    bootstrap_demos(engine, &s, teacher, &shuffled).await?
                }
            };
            for (path, set) in sets {
                out.entry(path).or_default().push(set);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Optimizer for MiproV2 {
    fn name(&self) -> &'static str {
        "MIPROv2"
    }

    fn estimate(
        &self,
        program: &dyn Module,
        trainset: &[Example],
        valset: &[Example],
        ctx: &Ctx,
    ) -> SpendEstimate {
        let preds = program.named_predictors().len() as u64;
        let Ok(plan) = self.plan(preds as usize, valset.len()) else {
            return SpendEstimate::default();
        };
        let val = plan.valset_size as u64;
        let demos: Vec<Example> = trainset
            .iter()
            .take(self.max_bootstrapped + self.max_labeled)
            .cloned()
            .collect();
        let forward = forward_spend(program, ctx, valset.first(), &demos);
        let zero = forward_spend(program, ctx, valset.first(), &[]);
        let boot_runs = (plan.n_demo_sets.saturating_sub(2) * self.max_bootstrapped.max(1)) as u64;
        let data_calls = if self.proposer.data_aware {
            1 + (trainset.len() as u64 / 10).clamp(1, 9)
        } else {
            0
        };
        let program_calls = if self.proposer.program_aware {
            preds + 1
        } else {
            0
        };
        let proposals = preds * plan.n_instructions.saturating_sub(1) as u64;
        let prompt_calls = data_calls + program_calls + proposals;
        let full_evals = if plan.minibatch {
            (plan.num_trials / self.full_eval_steps) as u64 + 1
        } else {
            0
        };
        let trial_forwards = if plan.minibatch {
            (self.minibatch_size * plan.num_trials) as u64 + val * full_evals
        } else {
            val * plan.num_trials as u64
        };
        let baseline = times(&zero, val);
        let mut total = baseline;
        total.add(&times(&forward, boot_runs + trial_forwards));
        total.add(&Spend {
            lm_calls: prompt_calls,
            input_tokens: 800 * prompt_calls,
            output_tokens: 150 * prompt_calls,
            ..Spend::default()
        });
        SpendEstimate {
            baseline,
            total,
            breakdown: vec![
                format!(
                    "{} trials, {} instruction and {} demo-set candidates per predictor, valset {}, minibatch {}",
                    plan.num_trials, plan.n_instructions, plan.n_demo_sets, val, plan.minibatch
                ),
                format!("about {boot_runs} teacher runs to bootstrap demo sets"),
                format!("about {prompt_calls} prompt-model calls to propose instructions"),
                format!(
                    "{val} runs for the default program, {trial_forwards} for trials and full evaluations"
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
        let plan = self.plan(program.named_predictors().len(), valset.len())?;
        let estimate = self.estimate(program, trainset, valset, ctx);
        let settings = format!(
            "{plan:?} boot={} labeled={} thr={:?} mb={} steps={} {:?}",
            self.max_bootstrapped,
            self.max_labeled,
            self.threshold,
            self.minibatch_size,
            self.full_eval_steps,
            self.proposer
        );
        let planned = (plan.num_trials + plan.num_trials / self.full_eval_steps + 2) as u64;
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
        let valset: Vec<Example> = if plan.valset_size < valset.len() {
            sample(
                &mut SeededRng::new(derive_seed(engine.seed(), 0)),
                valset,
                plan.valset_size,
            )
        } else {
            valset.to_vec()
        };
        let mut search = Search {
            best: None,
            baseline: None,
        };
        let outcome = self
            .run(&engine, &plan, trainset, &valset, &mut search)
            .await;
        let stopped = match outcome {
            Ok(()) => None,
            Err(OptimizeError::BudgetExhausted { .. }) => Some(StopReason::BudgetExhausted),
            Err(e) => return Err(e),
        };
        let (score, overlay) = match search.best {
            Some((s, o)) => (Some(s), o),
            None => (None, Overlay::default()),
        };
        Ok(engine.finish(
            overlay,
            score,
            search.baseline,
            stopped,
            ids_of(&[trainset, &valset]),
        ))
    }
}
