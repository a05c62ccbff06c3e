//! Watching an optimization: every scored candidate is reported to observers.
//!
//! The tracing layer implements [`OptimizerObserver`] to turn trials into spans; tests
//! and tools can use [`RecordingObserver`].

use std::sync::Mutex;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::{Spend, SpendEstimate};
use crate::lm::Usage;

/// How a candidate was scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialKind {
    /// On the whole valset.
    Full,
    /// On a random minibatch of the valset.
    Minibatch,
}

/// What a candidate sets on one predictor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PredictorChoice {
    /// Index of the instruction among the optimizer's candidates for this predictor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction_index: Option<usize>,
    /// The instruction, when the candidate changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// Index of the demo set among the optimizer's candidates for this predictor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demo_set: Option<usize>,
    /// [`super::example_id`] of each demo, in prompt order.
    #[serde(default)]
    pub demo_ids: Vec<String>,
}

/// A candidate described for people and traces: predictor path -> choice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CandidateSummary {
    /// A short label (e.g. `zero-shot`, `seed 3`, `instruction 2 / demos 1`).
    pub label: String,
    /// Per predictor path, what the candidate sets.
    pub predictors: IndexMap<String, PredictorChoice>,
}

/// One scored candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialEvent {
    /// The optimizer's name.
    pub optimizer: String,
    /// 1-based, in the order trials were scored.
    pub trial: usize,
    /// Whether it was scored on the whole valset or a minibatch.
    pub kind: TrialKind,
    /// What the candidate sets.
    pub candidate: CandidateSummary,
    /// Its mean score.
    pub score: f64,
    /// Examples scored.
    pub n_examples: usize,
    /// Examples that failed.
    pub errors: usize,
    /// Tokens and cost of this trial's program calls.
    pub usage: Usage,
    /// LM calls the trial made.
    pub lm_calls: u64,
    /// The best full-valset score so far, after this trial.
    pub best_score: Option<f64>,
    /// True when this trial was read back from a checkpoint instead of run.
    pub replayed: bool,
}

/// The start of a run, after the dry-run estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStart {
    /// The optimizer's name.
    pub optimizer: String,
    /// The run's seed.
    pub seed: u64,
    /// What the run is expected to spend.
    pub estimate: SpendEstimate,
    /// Steps read back from a checkpoint rather than run.
    pub resumed_steps: usize,
}

/// The end of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    /// The optimizer's name.
    pub optimizer: String,
    /// The best score found, if any.
    pub best_score: Option<f64>,
    /// Trials scored.
    pub trials: usize,
    /// What the run spent.
    pub spend: Spend,
    /// Why the run ended early, if it did.
    pub stopped: Option<super::StopReason>,
}

/// Receives an optimization's events. Every method has an empty default.
pub trait OptimizerObserver: Send + Sync {
    /// The run started (after its estimate was checked against the budget).
    fn on_start(&self, start: &RunStart) {
        let _ = start;
    }
    /// A candidate was scored.
    fn on_trial(&self, trial: &TrialEvent) {
        let _ = trial;
    }
    /// A phase began (`bootstrap`, `propose`, `search`, ...).
    fn on_phase(&self, optimizer: &str, phase: &str) {
        let _ = (optimizer, phase);
    }
    /// The run ended.
    fn on_end(&self, end: &RunEnd) {
        let _ = end;
    }
}

/// Keeps every event in memory.
#[derive(Debug, Default)]
pub struct RecordingObserver {
    trials: Mutex<Vec<TrialEvent>>,
    starts: Mutex<Vec<RunStart>>,
    ends: Mutex<Vec<RunEnd>>,
    phases: Mutex<Vec<String>>,
}

impl RecordingObserver {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }
    /// The trials so far.
    pub fn trials(&self) -> Vec<TrialEvent> {
        self.trials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    /// The run starts so far.
    pub fn starts(&self) -> Vec<RunStart> {
        self.starts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    /// The run ends so far.
    pub fn ends(&self) -> Vec<RunEnd> {
        self.ends.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// The phases so far.
    pub fn phases(&self) -> Vec<String> {
        self.phases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl OptimizerObserver for RecordingObserver {
    fn on_start(&self, start: &RunStart) {
        self.starts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(start.clone());
    }
    fn on_trial(&self, trial: &TrialEvent) {
        self.trials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(trial.clone());
    }
    fn on_phase(&self, optimizer: &str, phase: &str) {
        self.phases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{optimizer}:{phase}"));
    }
    fn on_end(&self, end: &RunEnd) {
        self.ends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(end.clone());
    }
}

impl CandidateSummary {
    /// Describes `overlay`: each predictor's instruction (if set) and demo ids.
    pub(crate) fn from_overlay(label: impl Into<String>, overlay: &crate::module::Overlay) -> Self {
        let predictors = overlay
            .predictors
            .iter()
            .map(|(path, state)| {
                let choice = PredictorChoice {
                    instruction: state.instructions.clone(),
                    demo_ids: state
                        .demos
                        .iter()
                        .flatten()
                        .map(super::example_id)
                        .collect(),
                    ..PredictorChoice::default()
                };
                (path.clone(), choice)
            })
            .collect();
        CandidateSummary {
            label: label.into(),
            predictors,
        }
    }
}
