//! COPRO: an LM proposes instructions, first from the predictor's own instruction,
//! then from the scored history of earlier attempts; predictors are improved one at
//! a time (coordinate ascent), each scored with the others at their best so far.

use std::sync::Arc;

use async_trait::async_trait;
use indexmap::IndexMap;

use super::data::{check_disjoint, check_examples, derive_seed, ids_of};
use super::engine::{Engine, EngineConfig, forward_spend, times};
use super::observer::{CandidateSummary, TrialKind};
use super::proposer::{ask_lm, own_signature};
use super::{Compiled, OptimizeError, Optimizer, Spend, SpendEstimate, StopReason};
use crate::data::Example;
use crate::evaluate::Metric;
use crate::lm::Lm;
use crate::module::{Ctx, Module, Overlay};

/// DSPy's COPRO: `breadth` instructions per round, `depth` rounds, proposals at
/// `init_temperature` (defaults 10, 3, 1.4). Candidates are scored on the valset.
#[derive(Clone)]
pub struct Copro {
    metric: Arc<dyn Metric>,
    prompt_lm: Option<Arc<dyn Lm>>,
    breadth: usize,
    depth: usize,
    init_temperature: f64,
    config: EngineConfig,
}

/// One scored instruction of one predictor.
#[derive(Clone, Debug)]
struct Scored {
    score: f64,
    overlay: Overlay,
}

impl Copro {
    /// DSPy's defaults: breadth 10, depth 3, temperature 1.4.
    pub fn new(metric: impl Metric + 'static) -> Self {
        Copro {
            metric: Arc::new(metric),
            prompt_lm: None,
            breadth: 10,
            depth: 3,
            init_temperature: 1.4,
            config: EngineConfig::default(),
        }
    }
    /// New instructions per round (more than 1).
    pub fn breadth(mut self, n: usize) -> Self {
        self.breadth = n;
        self
    }
    /// Rounds of proposals.
    pub fn depth(mut self, n: usize) -> Self {
        self.depth = n;
        self
    }
    /// Temperature of instruction proposals.
    pub fn init_temperature(mut self, t: f64) -> Self {
        self.init_temperature = t;
        self
    }
    /// The LM that writes instructions (default: the context's LM).
    pub fn prompt_lm(mut self, lm: Arc<dyn Lm>) -> Self {
        self.prompt_lm = Some(lm);
        self
    }
    /// The engine's settings (seed, concurrency, budget, checkpoint, ...).
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Candidate evaluations of a full run: a single predictor scores each round's new
    /// candidates; several predictors score all candidates so far, every round.
    fn planned_evals(&self, preds: u64) -> u64 {
        let (b, d) = (self.breadth as u64, self.depth as u64);
        if preds <= 1 {
            b * d
        } else {
            (0..d).map(|k| preds * b * (k + 1)).sum()
        }
    }

    /// `count` proposals from `attempts` (scored history) or, in the first round, from
    /// the basic instruction; `stream` keeps each round's and predictor's rollout ids apart.
    async fn propose(
        &self,
        engine: &Engine<'_>,
        ctx: &Ctx,
        stream: usize,
        basic: &str,
        attempts: Option<&str>,
        count: usize,
    ) -> Result<Vec<String>, OptimizeError> {
        let (signature, inputs) = match attempts {
            None => (
                own_signature(
                    "basic_instruction -> proposed_instruction",
                    "You write instructions for language models. Given the current instruction of a task, propose \
                     a better one that will lead a capable model to do the task well. Unusual ideas are welcome.",
                )?,
                Example::new().input("basic_instruction", basic),
            ),
            Some(history) => (
                own_signature(
                    "attempted_instructions -> proposed_instruction",
                    "You write instructions for language models. Below are instructions already tried on a task with \
                     their validation scores, worst first. Propose a new instruction that should score higher still.",
                )?,
                Example::new().input("attempted_instructions", history),
            ),
        };
        let mut out = Vec::new();
        for k in 0..count {
            let rollout = derive_seed(engine.seed(), (stream + k) as i64) % 1_000_000_000;
            let text = ask_lm(
                engine,
                ctx,
                signature.clone(),
                inputs.clone(),
                "proposed_instruction",
                self.init_temperature,
                rollout,
            )
            .await?;
            out.extend(text);
        }
        Ok(out)
    }

    async fn run(
        &self,
        engine: &Engine<'_>,
        valset: &[Example],
        evaluated: &mut IndexMap<String, IndexMap<String, Scored>>,
    ) -> Result<(), OptimizeError> {
        let prompt_ctx = match &self.prompt_lm {
            Some(lm) => engine.ctx.with_lm(engine.wrap_lm(lm.clone())),
            None => engine.ctx.clone(),
        };
        let predictors: Vec<(String, String)> = engine
            .program
            .named_predictors()
            .into_iter()
            .map(|(path, p)| (path, p.signature().instructions()))
            .collect();
        let multi = predictors.len() > 1;
        let mut all: IndexMap<String, Vec<String>> = IndexMap::new();
        let mut latest: IndexMap<String, Vec<String>> = IndexMap::new();
        engine.phase("propose");
        for (pi, (path, basic)) in predictors.iter().enumerate() {
            let key = format!("propose/0/{pi}");
            let (mut c, _) = engine
                .step(&key, || {
                    self.propose(engine, &prompt_ctx, pi * 100, basic, None, self.breadth - 1)
                })
                .await?;
            c.push(basic.clone());
            all.insert(path.clone(), c.clone());
            latest.insert(path.clone(), c);
            evaluated.insert(path.clone(), IndexMap::new());
        }
        let mut current = Overlay::default();
        for depth in 0..self.depth {
            engine.phase(&format!("depth {}", depth + 1));
            for (pi, (path, _)) in predictors.iter().enumerate() {
                // With several predictors every candidate is scored again, as the others changed.
                let candidates = if multi { &all[path] } else { &latest[path] };
                for (ci, instruction) in candidates.iter().enumerate() {
                    let mut overlay = current.clone();
                    overlay.set_instructions(path, instruction.clone());
                    let mut summary = CandidateSummary::from_overlay(
                        format!("depth {} predictor {pi} #{ci}", depth + 1),
                        &overlay,
                    );
                    summary
                        .predictors
                        .entry(path.clone())
                        .or_default()
                        .instruction_index = Some(ci);
                    let key = format!("d{depth}/p{pi}/c{ci}");
                    let r = engine
                        .trial(&key, TrialKind::Full, summary, &overlay, valset)
                        .await?;
                    let seen = &mut evaluated[path];
                    if seen.get(instruction).is_none_or(|s| r.score > s.score) {
                        seen.insert(
                            instruction.clone(),
                            Scored {
                                score: r.score,
                                overlay,
                            },
                        );
                    }
                }
                // Keep this predictor at its best so the next ones are scored against it.
                let mut best: Option<(&String, f64)> = None;
                for (instruction, s) in &evaluated[path] {
                    if best.is_none_or(|(_, b)| s.score > b) {
                        best = Some((instruction, s.score));
                    }
                }
                if let Some((instruction, _)) = best {
                    current.set_instructions(path, instruction.clone());
                }
            }
            if depth + 1 == self.depth {
                break;
            }
            for (pi, (path, basic)) in predictors.iter().enumerate() {
                let mut ranked: Vec<(&String, f64)> =
                    evaluated[path].iter().map(|(i, s)| (i, s.score)).collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                ranked.truncate(self.breadth);
                let history: Vec<String> = ranked
                    .iter()
                    .rev()
                    .enumerate()
                    .map(|(k, (i, s))| {
                        format!(
                            "Instruction #{}: {i}\nResulting score #{}: {s:.4}",
                            k + 1,
                            k + 1
                        )
                    })
                    .collect();
                let history = history.join("\n");
                let key = format!("propose/{}/{pi}", depth + 1);
                let (new, _) = engine
                    .step(&key, || {
                        self.propose(
                            engine,
                            &prompt_ctx,
                            (depth + 1) * 10_000 + pi * 100,
                            basic,
                            Some(&history),
                            self.breadth,
                        )
                    })
                    .await?;
                all[path].extend(new.iter().cloned());
                latest.insert(path.clone(), new);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Optimizer for Copro {
    fn name(&self) -> &'static str {
        "COPRO"
    }

    fn estimate(
        &self,
        program: &dyn Module,
        _: &[Example],
        valset: &[Example],
        ctx: &Ctx,
    ) -> SpendEstimate {
        let preds = program.named_predictors().len() as u64;
        let (b, d) = (self.breadth as u64, self.depth as u64);
        let prompt_calls = preds * (b.saturating_sub(1) + d.saturating_sub(1) * b);
        let evals = self.planned_evals(preds);
        let forward = forward_spend(program, ctx, valset.first(), &[]);
        let baseline = times(&forward, valset.len() as u64);
        let mut total = times(&forward, evals * valset.len() as u64);
        total.add(&Spend {
            lm_calls: prompt_calls,
            input_tokens: 400 * prompt_calls,
            output_tokens: 100 * prompt_calls,
            ..Spend::default()
        });
        SpendEstimate {
            baseline,
            total,
            breakdown: vec![
                format!(
                    "{prompt_calls} prompt-model calls (breadth {b}, depth {d}, {preds} predictors)"
                ),
                format!(
                    "{evals} candidate evaluations x {} valset examples",
                    valset.len()
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
        if self.breadth <= 1 {
            return Err(OptimizeError::Config(
                "COPRO's breadth must be more than 1".into(),
            ));
        }
        if self.depth == 0 {
            return Err(OptimizeError::Config(
                "COPRO's depth must be at least 1".into(),
            ));
        }
        if valset.is_empty() {
            return Err(OptimizeError::EmptyValset);
        }
        check_disjoint("trainset", trainset, "valset", valset)?;
        check_examples("valset", valset, self.metric.as_ref())?;
        let estimate = self.estimate(program, trainset, valset, ctx);
        let settings = format!(
            "breadth={} depth={} t={}",
            self.breadth, self.depth, self.init_temperature
        );
        let planned = self.planned_evals(program.named_predictors().len() as u64);
        let engine = Engine::start(
            &self.config,
            self.name(),
            &settings,
            program,
            ctx,
            self.metric.clone(),
            &[valset],
            estimate,
            planned,
        )?;
        let mut evaluated = IndexMap::new();
        let stopped = match self.run(&engine, valset, &mut evaluated).await {
            Ok(()) => None,
            Err(OptimizeError::BudgetExhausted { .. }) => Some(StopReason::BudgetExhausted),
            Err(e) => return Err(e),
        };
        // The best of every predictor's candidates (each scored as a whole program).
        let mut best: Option<&Scored> = None;
        for s in evaluated.values().flat_map(|m| m.values()) {
            if best.is_none_or(|b| s.score > b.score) {
                best = Some(s);
            }
        }
        let (score, overlay) = best.map_or((None, Overlay::default()), |s| {
            (Some(s.score), s.overlay.clone())
        });
        let baseline = engine_baseline(&evaluated, program);
        Ok(engine.finish(
            overlay,
            score,
            baseline,
            stopped,
            ids_of(&[trainset, valset]),
        ))
    }
}

/// The score of the predictors' own instructions, when the first round measured it.
fn engine_baseline(
    evaluated: &IndexMap<String, IndexMap<String, Scored>>,
    program: &dyn Module,
) -> Option<f64> {
    let (path, p) = program.named_predictors().into_iter().next()?;
    evaluated
        .get(&path)?
        .get(&p.signature().instructions())
        .map(|s| s.score)
}
