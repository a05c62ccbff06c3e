//! The search of MIPROv2: the default program, then TPE-suggested candidates on
//! minibatches, with the best-averaging candidate fully evaluated every few trials.

use std::collections::HashSet;

use indexmap::IndexMap;

use super::{MiproV2, Plan};
use crate::data::Example;
use crate::module::Overlay;
use crate::optimize::OptimizeError;
use crate::optimize::bootstrap::DemoSet;
use crate::optimize::data::{derive_seed, example_id, sample};
use crate::optimize::engine::Engine;
use crate::optimize::observer::{CandidateSummary, PredictorChoice, TrialKind};
use crate::optimize::proposer::Proposer;
use crate::optimize::tpe::TpeSampler;
use crate::rng::SeededRng;

/// The chosen instruction and demo set of every predictor, as an overlay and a summary.
fn candidate(
    point: &[usize],
    instructions: &IndexMap<String, Vec<String>>,
    demos: Option<&IndexMap<String, Vec<DemoSet>>>,
) -> (Overlay, CandidateSummary) {
    let stride = if demos.is_some() { 2 } else { 1 };
    let mut overlay = Overlay::default();
    let mut summary = CandidateSummary::default();
    let mut label = Vec::new();
    for (i, (path, candidates)) in instructions.iter().enumerate() {
        let ii = point[stride * i];
        let mut choice = PredictorChoice {
            instruction_index: Some(ii),
            ..PredictorChoice::default()
        };
        if let Some(text) = candidates.get(ii) {
            overlay.set_instructions(path, text.clone());
            choice.instruction = Some(text.clone());
        }
        label.push(format!("i{ii}"));
        if let Some(set) = demos
            .and_then(|d| d.get(path))
            .and_then(|sets| sets.get(point[stride * i + 1]))
        {
            overlay.set_demos(path, set.demos.clone());
            choice.demo_set = Some(point[stride * i + 1]);
            choice.demo_ids = set.demos.iter().map(example_id).collect();
            label.push(format!("d{}", point[stride * i + 1]));
        }
        summary.predictors.insert(path.clone(), choice);
    }
    summary.label = label.join(" ");
    (overlay, summary)
}

/// What the search has found so far (kept when the budget ends it early).
pub(super) struct Search {
    pub(super) best: Option<(f64, Overlay)>,
    pub(super) baseline: Option<f64>,
}

impl Search {
    fn offer(&mut self, score: f64, overlay: &Overlay) {
        if self.best.as_ref().is_none_or(|(b, _)| score > *b) {
            self.best = Some((score, overlay.clone()));
        }
    }
}

impl MiproV2 {
    pub(super) async fn run(
        &self,
        engine: &Engine<'_>,
        plan: &Plan,
        trainset: &[Example],
        valset: &[Example],
        search: &mut Search,
    ) -> Result<(), OptimizeError> {
        engine.phase("bootstrap");
        let (demo_sets, _) = engine
            .step("demo_sets", || self.demo_sets(engine, plan, trainset))
            .await?;
        engine.phase("propose");
        let proposer = Proposer::new(engine, self.prompt_lm.as_ref(), self.proposer.clone());
        let (instructions, _) = engine
            .step("instructions", || async {
                let mut rng = SeededRng::new(derive_seed(engine.seed(), 2));
                proposer
                    .propose(trainset, &demo_sets, plan.n_instructions, &mut rng)
                    .await
            })
            .await?;
        let demos = if plan.zero_shot {
            None
        } else {
            Some(&demo_sets)
        };
        let mut choices = Vec::new();
        for (path, cands) in &instructions {
            choices.push(cands.len());
            if let Some(d) = demos {
                choices.push(d.get(path).map_or(1, Vec::len));
            }
        }
        engine.phase("search");
        let mut tpe = TpeSampler::new(choices.clone(), engine.seed());
        let default_point = vec![0; choices.len()];
        let (overlay, summary) = candidate(&default_point, &instructions, None);
        let default = engine
            .trial("default", TrialKind::Full, summary, &overlay, valset)
            .await?;
        search.baseline = Some(default.score);
        search.offer(default.score, &overlay);
        tpe.tell(default_point.clone(), default.score);

        let mut mb_rng = SeededRng::new(derive_seed(engine.seed(), 3));
        let mut minibatch_scores: IndexMap<Vec<usize>, Vec<f64>> = IndexMap::new();
        let mut fully_evaluated: HashSet<Vec<usize>> = HashSet::from([default_point]);
        for t in 1..=plan.num_trials {
            let point = tpe.ask();
            let (overlay, summary) = candidate(&point, &instructions, demos);
            if plan.minibatch {
                let batch = sample(&mut mb_rng, valset, self.minibatch_size);
                let r = engine
                    .trial(
                        &format!("mb{t}"),
                        TrialKind::Minibatch,
                        summary,
                        &overlay,
                        &batch,
                    )
                    .await?;
                minibatch_scores
                    .entry(point.clone())
                    .or_default()
                    .push(r.score);
                tpe.tell(point, r.score);
                if t % self.full_eval_steps == 0 || t == plan.num_trials {
                    // Fully evaluate the best-averaging candidate not yet fully evaluated.
                    let mut best: Option<(&Vec<usize>, f64)> = None;
                    for (p, scores) in minibatch_scores
                        .iter()
                        .filter(|(p, _)| !fully_evaluated.contains(*p))
                    {
                        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
                        if best.is_none_or(|(_, m)| mean > m) {
                            best = Some((p, mean));
                        }
                    }
                    if let Some((p, _)) = best {
                        let p = p.clone();
                        let (overlay, summary) = candidate(&p, &instructions, demos);
                        let r = engine
                            .trial(
                                &format!("full{t}"),
                                TrialKind::Full,
                                summary,
                                &overlay,
                                valset,
                            )
                            .await?;
                        search.offer(r.score, &overlay);
                        tpe.tell(p.clone(), r.score);
                        fully_evaluated.insert(p);
                    }
                }
            } else {
                let r = engine
                    .trial(&format!("t{t}"), TrialKind::Full, summary, &overlay, valset)
                    .await?;
                search.offer(r.score, &overlay);
                tpe.tell(point, r.score);
            }
        }
        Ok(())
    }
}
