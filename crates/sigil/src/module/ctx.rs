use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::adapter::{Adapter, ChatAdapter, FallbackPolicy};
use crate::data::Example;
use crate::lm::{Lm, LmParams};

/// The state an optimizer can set on one predictor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PredictorState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demos: Option<Vec<Example>>,
}

/// A candidate program as data: predictor path -> instructions and demos to use
/// instead of the program's own. Optimizers run candidates by scoping an overlay to
/// a call; the program itself is never mutated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Overlay {
    pub predictors: IndexMap<String, PredictorState>,
}

impl Overlay {
    pub fn get(&self, path: &str) -> Option<&PredictorState> {
        self.predictors.get(path)
    }
    pub fn set_instructions(&mut self, path: &str, instructions: impl Into<String>) {
        self.predictors.entry(path.to_string()).or_default().instructions = Some(instructions.into());
    }
    pub fn set_demos(&mut self, path: &str, demos: Vec<Example>) {
        self.predictors.entry(path.to_string()).or_default().demos = Some(demos);
    }
}

/// One predictor call captured while recording: the demos optimizers bootstrap from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEntry {
    pub path: String,
    pub inputs: Example,
    pub outputs: IndexMap<String, Value>,
}

/// Collects (predictor path, inputs, outputs) of every predictor call in its scope.
#[derive(Debug, Default)]
pub struct TraceRecorder {
    entries: Mutex<Vec<TraceEntry>>,
}

impl TraceRecorder {
    pub fn new() -> Arc<Self> {
        Arc::new(TraceRecorder::default())
    }
    pub fn record(&self, entry: TraceEntry) {
        // A poisoned lock only means another recorder call panicked mid-push; the data is still usable.
        let mut g = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        g.push(entry);
    }
    pub fn take(&self) -> Vec<TraceEntry> {
        std::mem::take(&mut *self.entries.lock().unwrap_or_else(|e| e.into_inner()))
    }
    pub fn snapshot(&self) -> Vec<TraceEntry> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Everything scoped to a call: the LM, the adapter and fallback policy, default LM
/// parameters, and the optimizer's overlay and trace recorder when one is running.
///
/// There are no global settings: a `Ctx` is passed to every `forward`, and cloning
/// it is cheap, so concurrent tasks each carry their own.
#[derive(Clone)]
pub struct Ctx {
    pub(crate) lm: Arc<dyn Lm>,
    /// Per-predictor LMs (e.g. a teacher for one path); falls back to `lm`.
    pub(crate) lm_by_path: Arc<HashMap<String, Arc<dyn Lm>>>,
    pub(crate) adapter: Arc<dyn Adapter>,
    pub(crate) fallback: FallbackPolicy,
    pub(crate) params: LmParams,
    pub(crate) rollout_id: Option<u64>,
    pub(crate) overlay: Option<Arc<Overlay>>,
    pub(crate) recorder: Option<Arc<TraceRecorder>>,
}

impl Ctx {
    /// A context with the ChatAdapter and the default JSON fallback policy.
    pub fn new(lm: impl Lm + 'static) -> Self {
        Ctx::from_arc(Arc::new(lm))
    }

    pub fn from_arc(lm: Arc<dyn Lm>) -> Self {
        Ctx {
            lm,
            lm_by_path: Arc::new(HashMap::new()),
            adapter: Arc::new(ChatAdapter),
            fallback: FallbackPolicy::default(),
            params: LmParams::default(),
            rollout_id: None,
            overlay: None,
            recorder: None,
        }
    }

    pub fn lm(&self) -> &Arc<dyn Lm> {
        &self.lm
    }
    /// The LM used by the predictor at `path`.
    pub fn lm_for(&self, path: &str) -> &Arc<dyn Lm> {
        self.lm_by_path.get(path).unwrap_or(&self.lm)
    }
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.adapter
    }
    pub fn fallback(&self) -> &FallbackPolicy {
        &self.fallback
    }
    pub fn params(&self) -> &LmParams {
        &self.params
    }
    pub fn rollout_id(&self) -> Option<u64> {
        self.rollout_id
    }
    pub fn overlay(&self) -> Option<&Overlay> {
        self.overlay.as_deref()
    }
    pub fn recorder(&self) -> Option<&Arc<TraceRecorder>> {
        self.recorder.as_ref()
    }

    pub fn with_lm(&self, lm: Arc<dyn Lm>) -> Self {
        Ctx { lm, ..self.clone() }
    }
    pub fn with_lm_for(&self, path: &str, lm: Arc<dyn Lm>) -> Self {
        let mut map = (*self.lm_by_path).clone();
        map.insert(path.to_string(), lm);
        Ctx { lm_by_path: Arc::new(map), ..self.clone() }
    }
    pub fn with_adapter(&self, adapter: impl Adapter + 'static) -> Self {
        Ctx { adapter: Arc::new(adapter), ..self.clone() }
    }
    pub fn with_fallback(&self, fallback: FallbackPolicy) -> Self {
        Ctx { fallback, ..self.clone() }
    }
    pub fn with_params(&self, params: LmParams) -> Self {
        Ctx { params, ..self.clone() }
    }
    pub fn with_rollout_id(&self, rollout_id: Option<u64>) -> Self {
        Ctx { rollout_id, ..self.clone() }
    }
    pub fn with_overlay(&self, overlay: Option<Arc<Overlay>>) -> Self {
        Ctx { overlay, ..self.clone() }
    }
    pub fn with_recorder(&self, recorder: Option<Arc<TraceRecorder>>) -> Self {
        Ctx { recorder, ..self.clone() }
    }
}
