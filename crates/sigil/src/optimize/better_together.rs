//! `BetterTogether`, as DSPy 3.4.1's: prompt and weight optimization run in a
//! sequence the strategy string names (`"p -> w -> p"`), each stage on the program the
//! stage before it produced. With a valset every stage's program is scored and the
//! best returned; without one, the last. A stage that fails ends the sequence, and the
//! best program found so far is returned with the failure noted, as DSPy does.

use std::sync::Arc;

use indexmap::IndexMap;

use super::finetune::{BootstrapFinetune, FinetuneOutcome, FinetunedModel};
use super::finetune_data::FinetuneData;
use super::{OptimizeError, Optimizer};
use crate::data::Example;
use crate::evaluate::{Evaluate, Metric};
use crate::lm::Lm;
use crate::module::{Ctx, Module, Overlay};

/// A stage of a [`BetterTogether`] sequence.
pub enum Stage {
    /// Prompt optimization: instructions and demos (any [`Optimizer`]).
    Prompt(Box<dyn Optimizer>),
    /// Weight optimization: fine-tuned models for the predictors.
    Weights(BootstrapFinetune),
}

/// Makes the LM that calls a fine-tuned model.
pub type LmOf = Arc<dyn Fn(&FinetunedModel) -> Arc<dyn Lm> + Send + Sync>;

/// A program as a sequence leaves it: an overlay and the fine-tuned models in use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TogetherState {
    /// Instructions and demos per predictor.
    pub overlay: Overlay,
    /// Each fine-tuned model and the predictor paths that use it.
    pub models: Vec<(Vec<String>, FinetunedModel)>,
    /// The data the last weight stage trained on (for the artifact's record of it).
    pub finetune_data: Option<FinetuneData>,
}

impl TogetherState {
    /// The models and their data as a [`FinetuneOutcome`] (for
    /// [`crate::artifact::Artifact::with_finetuned`]); `None` when no weights were trained.
    pub fn finetune_outcome(&self) -> Option<FinetuneOutcome> {
        let data = self.finetune_data.clone()?;
        (!self.models.is_empty()).then(|| FinetuneOutcome {
            data,
            models: self.models.clone(),
        })
    }

    /// `ctx` running this state: its overlay, and `lm_of(model)` for each tuned path.
    pub fn ctx(&self, ctx: &Ctx, lm_of: &dyn Fn(&FinetunedModel) -> Arc<dyn Lm>) -> Ctx {
        let with_overlay = ctx.with_overlay(Some(Arc::new(self.overlay.clone())));
        super::finetune::with_models(with_overlay, &self.models, lm_of)
    }
}

/// One program a sequence produced, with its valset score.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The stages that made it (`""` for the program as given, `"p -> w"`, ...).
    pub strategy: String,
    /// Its mean valset score (`None` without a valset).
    pub score: Option<f64>,
    /// The program.
    pub state: TogetherState,
}

/// What a [`BetterTogether`] run returns.
#[derive(Clone, Debug, PartialEq)]
pub struct TogetherOutcome {
    /// The best candidate by valset score (the last one without a valset).
    pub best: TogetherState,
    /// Every candidate, in the order made.
    pub candidates: Vec<Candidate>,
    /// The failure that ended the sequence early, if one did.
    pub error: Option<String>,
}

/// DSPy's `BetterTogether` meta-optimizer. See the module docs.
pub struct BetterTogether {
    metric: Arc<dyn Metric>,
    stages: IndexMap<String, Stage>,
    lm_of: LmOf,
}

impl BetterTogether {
    /// A sequence scored by `metric`, calling fine-tuned models through `lm_of`.
    pub fn new(metric: impl Metric + 'static, lm_of: LmOf) -> Self {
        BetterTogether {
            metric: Arc::new(metric),
            stages: IndexMap::new(),
            lm_of,
        }
    }
    /// Names a stage for the strategy string (`"p"`, `"w"`).
    pub fn stage(mut self, name: impl Into<String>, stage: Stage) -> Self {
        self.stages.insert(name.into(), stage);
        self
    }

    /// The strategy's stage names, checked (`"p -> w -> p"`).
    fn parse_strategy(&self, strategy: &str) -> Result<Vec<String>, OptimizeError> {
        let names: Vec<String> = strategy.split("->").map(|s| s.trim().to_string()).collect();
        if names.iter().any(String::is_empty) {
            return Err(OptimizeError::Config(format!(
                "strategy {strategy:?}: stages are names separated by ` -> `"
            )));
        }
        for n in &names {
            if !self.stages.contains_key(n) {
                let known: Vec<&str> = self.stages.keys().map(String::as_str).collect();
                return Err(OptimizeError::Config(format!(
                    "strategy {strategy:?} names the stage {n:?}; the stages are {known:?}"
                )));
            }
        }
        Ok(names)
    }

    async fn score(&self, program: &dyn Module, valset: &[Example], ctx: &Ctx) -> Option<f64> {
        if valset.is_empty() {
            return None;
        }
        Evaluate::new(valset)
            .metric_arc(self.metric.clone())
            .max_errors(None)
            .progress(false)
            .run(program, ctx)
            .await
            .ok()
            .map(|r| r.mean)
    }

    /// Runs the stages `strategy` names on `program`, starting from `ctx` (its LMs and
    /// overlay).
    pub async fn compile(
        &self,
        program: &dyn Module,
        trainset: &[Example],
        valset: &[Example],
        ctx: &Ctx,
        strategy: &str,
    ) -> Result<TogetherOutcome, OptimizeError> {
        let names = self.parse_strategy(strategy)?;
        super::data::check_disjoint("trainset", trainset, "valset", valset)?;
        let lm_of = self.lm_of.as_ref();
        let mut state = TogetherState {
            overlay: ctx.overlay().cloned().unwrap_or_default(),
            models: Vec::new(),
            finetune_data: None,
        };
        let mut candidates = vec![Candidate {
            strategy: String::new(),
            score: self.score(program, valset, &state.ctx(ctx, lm_of)).await,
            state: state.clone(),
        }];
        let mut error = None;
        let mut done: Vec<&str> = Vec::new();
        for name in &names {
            let run_ctx = state.ctx(ctx, lm_of);
            let next = match &self.stages[name] {
                Stage::Prompt(opt) => {
                    opt.compile(program, trainset, valset, &run_ctx)
                        .await
                        .map(|c| TogetherState {
                            overlay: c.overlay,
                            models: state.models.clone(),
                            finetune_data: state.finetune_data.clone(),
                        })
                }
                Stage::Weights(w) => {
                    w.compile(program, trainset, valset, &run_ctx)
                        .await
                        .map(|o| {
                            let mut models = state.models.clone();
                            for (paths, model) in o.models {
                                models.retain(|(p, _)| !p.iter().any(|x| paths.contains(x)));
                                models.push((paths, model));
                            }
                            TogetherState {
                                overlay: state.overlay.clone(),
                                models,
                                finetune_data: Some(o.data),
                            }
                        })
                }
            };
            match next {
                Ok(s) => state = s,
                Err(e) => {
                    error = Some(format!("stage {name:?} failed: {e}"));
                    break;
                }
            }
            done.push(name);
            candidates.push(Candidate {
                strategy: done.join(" -> "),
                score: self.score(program, valset, &state.ctx(ctx, lm_of)).await,
                state: state.clone(),
            });
        }
        let best = if valset.is_empty() {
            candidates.last()
        } else {
            // The first of the best scores: an earlier, simpler program wins a tie.
            candidates.iter().reduce(|best, c| {
                if c.score.unwrap_or(f64::NEG_INFINITY) > best.score.unwrap_or(f64::NEG_INFINITY) {
                    c
                } else {
                    best
                }
            })
        };
        Ok(TogetherOutcome {
            best: best.map(|c| c.state.clone()).unwrap_or_default(),
            candidates,
            error,
        })
    }
}
