use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::Predict;
use crate::adapter::{Adapter, ChatAdapter, FallbackPolicy};
use crate::data::Example;
use crate::lm::{Lm, LmParams};
use crate::trace::{Hook, ProgramInfo, SpanGuard, SpanParent, StartData, Tracing};

/// The state an optimizer can set on one predictor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PredictorState {
    /// Instructions to use instead of the predictor's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Demos to use instead of the predictor's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demos: Option<Vec<Example>>,
}

/// A candidate program as data: predictor path -> instructions and demos to use
/// instead of the program's own. Optimizers run candidates by scoping an overlay to
/// a call; the program itself is never mutated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Overlay {
    /// Per predictor path, what to replace.
    pub predictors: IndexMap<String, PredictorState>,
}

impl Overlay {
    /// The state for the predictor at `path`.
    pub fn get(&self, path: &str) -> Option<&PredictorState> {
        self.predictors.get(path)
    }
    /// Sets the instructions of the predictor at `path`.
    pub fn set_instructions(&mut self, path: &str, instructions: impl Into<String>) {
        self.predictors
            .entry(path.to_string())
            .or_default()
            .instructions = Some(instructions.into());
    }
    /// Sets the demos of the predictor at `path`.
    pub fn set_demos(&mut self, path: &str, demos: Vec<Example>) {
        self.predictors.entry(path.to_string()).or_default().demos = Some(demos);
    }
}

/// Everything scoped to a call: the LM, the adapter and fallback policy, default LM
/// parameters, the program's predictor paths, an optimizer's overlay, and the trace
/// hooks.
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
    /// Where each predictor of the running program sits in it; derived from the module
    /// tree by [`Ctx::for_program`] (or by the first [`super::Module::call`]).
    pub(crate) paths: Option<Arc<PathMap>>,
    /// Hooks and program info; `None` (the default) makes tracing cost one branch.
    pub(crate) tracing: Option<Arc<Tracing>>,
    /// The span that calls made under this ctx are children of.
    pub(crate) span_parent: Option<SpanParent>,
}

impl Ctx {
    /// A context with the ChatAdapter and the default JSON fallback policy.
    pub fn new(lm: impl Lm + 'static) -> Self {
        Ctx::from_arc(Arc::new(lm))
    }

    /// [`Ctx::new`] for an LM already shared.
    pub fn from_arc(lm: Arc<dyn Lm>) -> Self {
        Ctx {
            lm,
            lm_by_path: Arc::new(HashMap::new()),
            adapter: Arc::new(ChatAdapter),
            fallback: FallbackPolicy::default(),
            params: LmParams::default(),
            rollout_id: None,
            overlay: None,
            paths: None,
            tracing: None,
            span_parent: None,
        }
    }

    /// The LM predictors call, unless one is set for their path.
    pub fn lm(&self) -> &Arc<dyn Lm> {
        &self.lm
    }
    /// The LM used by the predictor at `path`.
    pub fn lm_for(&self, path: &str) -> &Arc<dyn Lm> {
        self.lm_by_path.get(path).unwrap_or(&self.lm)
    }
    /// The adapter that formats prompts and parses completions.
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.adapter
    }
    /// What `Predict` does when a parse fails.
    pub fn fallback(&self) -> &FallbackPolicy {
        &self.fallback
    }
    /// Default LM parameters; a predictor's own parameters take precedence.
    pub fn params(&self) -> &LmParams {
        &self.params
    }
    /// The rollout id sent with every request (see [`LmRequest::rollout_id`](crate::lm::LmRequest::rollout_id)).
    pub fn rollout_id(&self) -> Option<u64> {
        self.rollout_id
    }
    /// The overlay in scope, if any.
    pub fn overlay(&self) -> Option<&Overlay> {
        self.overlay.as_deref()
    }
    /// The path of `predict` in the program this ctx runs (`""` for a predictor that
    /// is not part of it, or a bare predictor called on its own).
    pub fn path_of(&self, predict: &Predict) -> Arc<str> {
        self.paths
            .as_ref()
            .and_then(|m| m.get(predict))
            .cloned()
            .unwrap_or_else(empty_path)
    }
    /// Whether the predictor paths of a program are bound in this ctx.
    pub fn has_program(&self) -> bool {
        self.paths.is_some()
    }
    /// This ctx for running `program`: every predictor's path is derived from the
    /// module tree ([`super::Module::named_predictors`]), so overlays and traces find
    /// it. [`super::Module::call`] does this itself when the ctx has no program yet;
    /// Evaluate and the optimizers do it once per run.
    pub fn for_program(&self, program: &dyn super::Module) -> Self {
        self.with_paths(program.named_predictors())
    }
    pub(crate) fn with_paths(&self, predictors: Vec<(String, &Predict)>) -> Self {
        Ctx {
            paths: Some(Arc::new(PathMap::of(predictors))),
            ..self.clone()
        }
    }

    /// This ctx with another LM.
    pub fn with_lm(&self, lm: Arc<dyn Lm>) -> Self {
        Ctx { lm, ..self.clone() }
    }
    /// This ctx with another LM for the predictor at `path` (a stronger model for one step,
    /// say).
    pub fn with_lm_for(&self, path: &str, lm: Arc<dyn Lm>) -> Self {
        let mut map = (*self.lm_by_path).clone();
        map.insert(path.to_string(), lm);
        Ctx {
            lm_by_path: Arc::new(map),
            ..self.clone()
        }
    }
    /// This ctx with another adapter.
    pub fn with_adapter(&self, adapter: impl Adapter + 'static) -> Self {
        Ctx {
            adapter: Arc::new(adapter),
            ..self.clone()
        }
    }
    /// [`with_adapter`](Self::with_adapter) for an adapter already shared, such as
    /// one from [`adapter::by_name`](crate::adapter::by_name).
    pub fn with_adapter_arc(&self, adapter: Arc<dyn Adapter>) -> Self {
        Ctx {
            adapter,
            ..self.clone()
        }
    }
    /// This ctx with another fallback policy.
    pub fn with_fallback(&self, fallback: FallbackPolicy) -> Self {
        Ctx {
            fallback,
            ..self.clone()
        }
    }
    /// This ctx with other default LM parameters.
    pub fn with_params(&self, params: LmParams) -> Self {
        Ctx {
            params,
            ..self.clone()
        }
    }
    /// This ctx with another rollout id (`None`: none).
    pub fn with_rollout_id(&self, rollout_id: Option<u64>) -> Self {
        Ctx {
            rollout_id,
            ..self.clone()
        }
    }
    /// This ctx with `overlay` in scope (`None` removes one).
    pub fn with_overlay(&self, overlay: Option<Arc<Overlay>>) -> Self {
        Ctx {
            overlay,
            ..self.clone()
        }
    }

    /// Adds a trace hook: it receives a start and an end event for every module call,
    /// LM call, adapter format and parse (and tool, retrieval, evaluate, compile and
    /// trial) made under the returned ctx.
    pub fn with_hook(&self, hook: Arc<dyn Hook>) -> Self {
        let mut hooks = self.tracing.as_ref().map(|t| t.hooks()).unwrap_or_default();
        hooks.push(hook);
        let program = self.tracing.as_ref().and_then(|t| t.program.clone());
        Ctx {
            tracing: Some(Arc::new(Tracing::new(hooks, program, self.sample_ratio()))),
            ..self.clone()
        }
    }
    /// Replaces the trace hooks (an empty list turns tracing off).
    pub fn with_hooks(&self, hooks: Vec<Arc<dyn Hook>>) -> Self {
        let program = self.tracing.as_ref().and_then(|t| t.program.clone());
        let tracing = if hooks.is_empty() && program.is_none() {
            None
        } else {
            Some(Arc::new(Tracing::new(hooks, program, self.sample_ratio())))
        };
        Ctx {
            tracing,
            ..self.clone()
        }
    }
    /// Says which program runs under this ctx and whether it was compiled; stamped on
    /// every root span. Takes effect once a hook is registered.
    pub fn with_program(&self, program: ProgramInfo) -> Self {
        let hooks = self.tracing.as_ref().map(|t| t.hooks()).unwrap_or_default();
        Ctx {
            tracing: Some(Arc::new(Tracing::new(
                hooks,
                Some(Arc::new(program)),
                self.sample_ratio(),
            ))),
            ..self.clone()
        }
    }
    /// Records only this share of traces (0 to 1; default 1), chosen at each root span
    /// from its trace id; a trace is recorded whole or not at all. Cuts tracing
    /// overhead for high-traffic programs.
    pub fn with_trace_sampling(&self, ratio: f64) -> Self {
        let hooks = self.tracing.as_ref().map(|t| t.hooks()).unwrap_or_default();
        let program = self.tracing.as_ref().and_then(|t| t.program.clone());
        Ctx {
            tracing: Some(Arc::new(Tracing::new(hooks, program, ratio))),
            ..self.clone()
        }
    }
    fn sample_ratio(&self) -> f64 {
        self.tracing.as_ref().map_or(1.0, |t| t.sample_ratio)
    }

    /// Whether any hook is registered.
    pub fn is_tracing(&self) -> bool {
        self.tracing.as_ref().is_some_and(|t| !t.is_empty())
    }
    /// The program set with [`Ctx::with_program`], once a hook is registered.
    pub fn program_info(&self) -> Option<&ProgramInfo> {
        self.tracing.as_ref().and_then(|t| t.program.as_deref())
    }
    /// The span calls under this ctx become children of (`None`: they start a trace).
    pub fn span_parent(&self) -> Option<SpanParent> {
        self.span_parent
    }
    /// Makes calls under the returned ctx children of `parent` (e.g. a trace context
    /// received from a caller).
    pub fn with_span_parent(&self, parent: Option<SpanParent>) -> Self {
        Ctx {
            span_parent: parent,
            ..self.clone()
        }
    }

    /// Opens a span as a child of this ctx's current span. `data` is only built when a
    /// hook is registered; without hooks the guard is inert and this is one branch.
    ///
    /// ```
    /// # use sigil::prelude::*;
    /// # use sigil::trace::{EndData, StartData};
    /// # use std::sync::Arc;
    /// # async fn demo(ctx: &Ctx) {
    /// let span = ctx.start_span("search", || StartData::Tool { tool: "search".into(), args: Arc::new(serde_json::json!({"q": "x"})) });
    /// let inner = ctx.child(&span); // pass `inner` to the work inside the span
    /// # let _ = inner;
    /// span.end_with(|| EndData::Tool(Ok(Arc::new(serde_json::json!(["result"])))));
    /// # }
    /// ```
    pub fn start_span(
        &self,
        name: impl Into<Arc<str>>,
        data: impl FnOnce() -> StartData,
    ) -> SpanGuard {
        self.start_span_under(self.span_parent, name, data)
    }

    /// Like [`Ctx::start_span`], under an explicit parent (for spans inside one call).
    pub(crate) fn start_span_under(
        &self,
        parent: Option<SpanParent>,
        name: impl Into<Arc<str>>,
        data: impl FnOnce() -> StartData,
    ) -> SpanGuard {
        self.start_span_lazy(parent, || name.into(), data)
    }

    /// Like [`Ctx::start_span_under`], with the name also built only when tracing.
    pub(crate) fn start_span_lazy(
        &self,
        parent: Option<SpanParent>,
        name: impl FnOnce() -> Arc<str>,
        data: impl FnOnce() -> StartData,
    ) -> SpanGuard {
        match &self.tracing {
            Some(t) if !t.is_empty() => SpanGuard::begin(t, parent, name(), data()),
            _ => SpanGuard::none(),
        }
    }

    /// This ctx with `span` as the current span (itself when the span is inert).
    pub fn child(&self, span: &SpanGuard) -> Self {
        match span.parent() {
            Some(p) => Ctx {
                span_parent: Some(p),
                ..self.clone()
            },
            None => self.clone(),
        }
    }
}

fn empty_path() -> Arc<str> {
    static EMPTY: OnceLock<Arc<str>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from("")).clone()
}

/// Predictor identity (its address while the program is borrowed for the call) to its
/// path, sorted by address. Identity rather than a path stored in the predictor: a
/// path set on the predictor could be forgotten or go stale, this one is derived from
/// the module tree the ctx runs.
#[derive(Debug, Default)]
pub(crate) struct PathMap(Vec<(usize, Arc<str>)>);

impl PathMap {
    fn of(predictors: Vec<(String, &Predict)>) -> Self {
        let mut v: Vec<(usize, Arc<str>)> = predictors
            .into_iter()
            .map(|(path, p)| (p as *const Predict as usize, Arc::from(path)))
            .collect();
        v.sort_by_key(|(a, _)| *a);
        PathMap(v)
    }
    fn get(&self, predict: &Predict) -> Option<&Arc<str>> {
        let at = predict as *const Predict as usize;
        self.0
            .binary_search_by_key(&at, |(a, _)| *a)
            .ok()
            .map(|i| &self.0[i].1)
    }
}
