use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use super::{Ctx, Module, ModuleError, TraceEntry};
use crate::adapter::{Adapter, FallbackPolicy, Fields, JsonAdapter, ParseError, check_inputs};
use crate::data::{Example, Prediction};
use crate::lm::{LmParams, LmRequest, Message};
use crate::signature::Signature;
use crate::trace::{
    EndData, ErrorInfo, LmInput, SpanGuard, SpanParent, StartData, constraint_kind,
};

/// One LM call shaped by a signature: the only module that talks to an LM.
///
/// Holds the signature (with its instructions), demos and per-predictor LM
/// parameters. An optimizer's overlay in the [`Ctx`] can replace instructions and
/// demos for one call without touching the predictor.
#[derive(Debug)]
pub struct Predict {
    signature: Signature,
    demos: Vec<Example>,
    params: LmParams,
    /// Set by [`super::bind_paths`]; interior so binding works through `&self`.
    path: RwLock<Arc<str>>,
    /// The system message and demo turns last rendered, per adapter name. Valid while
    /// the signature and demos are unchanged (every setter clears it) and no overlay
    /// applies to this predictor.
    prefix_cache: RwLock<Option<CachedPrefix>>,
}

/// An adapter name and the prompt prefix it rendered.
type CachedPrefix = (&'static str, Arc<[Message]>);

impl Clone for Predict {
    fn clone(&self) -> Self {
        Predict {
            signature: self.signature.clone(),
            demos: self.demos.clone(),
            params: self.params.clone(),
            path: RwLock::new(self.path()),
            prefix_cache: RwLock::new(None),
        }
    }
}

impl Predict {
    pub fn new(signature: Signature) -> Self {
        Predict {
            signature,
            demos: Vec::new(),
            params: LmParams::default(),
            path: RwLock::new(Arc::from("")),
            prefix_cache: RwLock::new(None),
        }
    }

    /// `Predict::parse("question -> answer")`, for string signatures.
    pub fn parse(signature: &str) -> Result<Self, crate::signature::SignatureError> {
        Ok(Predict::new(Signature::parse(signature)?))
    }

    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.signature = self.signature.with_instructions(instructions);
        self.clear_prefix_cache();
        self
    }
    pub fn with_demos(mut self, demos: Vec<Example>) -> Self {
        self.demos = demos;
        self.clear_prefix_cache();
        self
    }
    pub fn with_params(mut self, params: LmParams) -> Self {
        self.params = params;
        self
    }

    pub fn signature(&self) -> &Signature {
        &self.signature
    }
    pub fn demos(&self) -> &[Example] {
        &self.demos
    }
    pub fn params(&self) -> &LmParams {
        &self.params
    }
    pub fn set_signature(&mut self, signature: Signature) {
        self.signature = signature;
        self.clear_prefix_cache();
    }
    pub fn set_demos(&mut self, demos: Vec<Example>) {
        self.demos = demos;
        self.clear_prefix_cache();
    }
    pub fn set_instructions(&mut self, instructions: impl Into<String>) {
        self.signature = self.signature.with_instructions(instructions);
        self.clear_prefix_cache();
    }

    fn clear_prefix_cache(&mut self) {
        *self
            .prefix_cache
            .get_mut()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The input-independent messages for `adapter`: cached unless an overlay applies.
    fn prefix(
        &self,
        adapter: &dyn Adapter,
        signature: &Signature,
        demos: &[Example],
        overlaid: bool,
    ) -> Arc<[Message]> {
        if overlaid {
            return adapter.format_prefix(signature, demos).into();
        }
        if let Ok(guard) = self.prefix_cache.read()
            && let Some((name, cached)) = guard.as_ref()
            && *name == adapter.name()
        {
            return cached.clone();
        }
        let fresh: Arc<[Message]> = adapter.format_prefix(signature, demos).into();
        if let Ok(mut guard) = self.prefix_cache.write() {
            *guard = Some((adapter.name(), fresh.clone()));
        }
        fresh
    }

    /// This predictor's path in its program (empty until bound).
    pub fn path(&self) -> Arc<str> {
        self.path
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }
    pub(crate) fn set_path(&self, path: &str) {
        let mut g = self.path.write().unwrap_or_else(|e| e.into_inner());
        *g = Arc::from(path);
    }

    /// The signature and demos in effect for a call under `ctx` (overlay applied).
    /// Borrowed where nothing is overlaid, so the common call copies nothing.
    pub fn effective<'a>(&'a self, ctx: &'a Ctx) -> (Cow<'a, Signature>, &'a [Example]) {
        let state = ctx.overlay().and_then(|o| o.get(&self.path()));
        let signature = match state.and_then(|s| s.instructions.as_ref()) {
            Some(i) => Cow::Owned(self.signature.with_instructions(i.clone())),
            None => Cow::Borrowed(&self.signature),
        };
        let demos = match state.and_then(|s| s.demos.as_deref()) {
            Some(d) => d,
            None => &self.demos,
        };
        (signature, demos)
    }

    /// Checks inputs, calls the LM through the ctx's adapter, falls back to JSON if
    /// the policy says so, and records the call for an optimizer.
    /// `traced` receives the parsed fields as the parse span recorded them, so the
    /// module span shares them instead of copying them again.
    async fn run(
        &self,
        ctx: &Ctx,
        inputs: &Arc<Example>,
        path: &str,
        span: &mut SpanGuard,
        traced: &mut Option<Arc<Fields>>,
    ) -> Result<Prediction, ModuleError> {
        let (signature, demos) = self.effective(ctx);
        let overlaid =
            matches!(signature, Cow::Owned(_)) || !std::ptr::eq(demos, self.demos.as_slice());
        let (signature, demos) = (signature.as_ref(), demos);
        check_inputs(signature, inputs).map_err(|source| ModuleError::Format {
            path: path.to_string(),
            source,
        })?;
        let parent = span.parent();

        let mut pred = Prediction::default();
        let primary = ctx.adapter().clone();
        let mut parsed = self
            .call_once(
                ctx,
                primary.as_ref(),
                signature,
                demos,
                inputs,
                path,
                parent,
                false,
                overlaid,
                &mut pred,
                traced,
            )
            .await?;
        let retries = match (&parsed, ctx.fallback()) {
            (Err(e), FallbackPolicy::Json { retries }) if primary.name() != "json" => {
                if span.is_recording() {
                    span.event(
                        "fallback",
                        [
                            ("from".to_string(), primary.name().into()),
                            ("error".to_string(), e.to_string().into()),
                        ],
                    );
                }
                *retries
            }
            _ => 0,
        };
        for _ in 0..retries {
            pred.fallbacks += 1;
            parsed = self
                .call_once(
                    ctx,
                    &JsonAdapter,
                    signature,
                    demos,
                    inputs,
                    path,
                    parent,
                    true,
                    overlaid,
                    &mut pred,
                    traced,
                )
                .await?;
            if parsed.is_ok() {
                break;
            }
        }
        let fields = parsed.map_err(|source| ModuleError::Parse {
            path: path.to_string(),
            source,
        })?;
        if let Some(rec) = ctx.recorder() {
            rec.record(TraceEntry {
                path: path.to_string(),
                inputs: (**inputs).clone(),
                outputs: fields.clone(),
            });
        }
        let mut out = Prediction::new(fields);
        out.usage = pred.usage;
        out.lm_calls = pred.lm_calls;
        out.fallbacks = pred.fallbacks;
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    async fn call_once(
        &self,
        ctx: &Ctx,
        adapter: &dyn Adapter,
        signature: &Signature,
        demos: &[Example],
        inputs: &Arc<Example>,
        path: &str,
        span: Option<SpanParent>,
        fallback: bool,
        overlaid: bool,
        pred: &mut Prediction,
        traced: &mut Option<Arc<Fields>>,
    ) -> Result<Result<Fields, ParseError>, ModuleError> {
        let lm = ctx.lm_for(path);
        let format_span = ctx.start_span_lazy(
            span,
            || step_name(adapter, "format"),
            || StartData::Format {
                adapter: adapter.name(),
                demos: demos.len(),
                inputs: inputs.clone(),
            },
        );
        // Not recording when tracing is off or this trace was not sampled.
        let recording = format_span.is_recording();
        let user = adapter.format_user(signature, inputs);
        let (messages, traced_input) = match user {
            Ok(user) => {
                let prefix = self.prefix(adapter, signature, demos, overlaid);
                let mut m = Vec::with_capacity(prefix.len() + 1);
                m.extend_from_slice(&prefix);
                // The span shares the cached prefix and copies only this call's turn.
                let traced =
                    recording.then(|| (prefix.clone(), user.iter().cloned().collect::<Vec<_>>()));
                m.extend(user);
                (m, traced)
            }
            Err(source) => {
                format_span.end_with(|| {
                    EndData::Format(Err(ErrorInfo::new("format", source.to_string())))
                });
                return Err(ModuleError::Format {
                    path: path.to_string(),
                    source,
                });
            }
        };
        format_span.end_with(|| EndData::Format(Ok(messages.len())));
        let request = LmRequest {
            messages,
            params: self.params.or(ctx.params()),
            constraint: adapter.constraint(signature, lm.as_ref()),
            rollout_id: ctx.rollout_id(),
        };
        // OTel GenAI names LM spans `{operation} {model}`.
        let names = recording.then(|| crate::trace::lm_span_names(&lm.model_id()));
        let lm_span = ctx.start_span_lazy(
            span,
            || names.as_ref().map(|n| n.1.clone()).unwrap_or_default(),
            || {
                let (prefix, turns) = traced_input.unwrap_or_default();
                StartData::Lm {
                    model_id: names.as_ref().map(|n| n.0.clone()).unwrap_or_default(),
                    input: Arc::new(LmInput {
                        prefix,
                        turns,
                        params: request.params.clone(),
                        constraint: request.constraint.as_ref().map(constraint_kind),
                    }),
                }
            },
        );
        let response = match lm.call(request).await {
            Ok(r) => Arc::new(r),
            Err(source) => {
                lm_span.end_with(|| EndData::Lm(Err(ErrorInfo::new("lm", source.to_string()))));
                return Err(ModuleError::Lm {
                    path: path.to_string(),
                    source,
                });
            }
        };
        lm_span.end_with(|| EndData::Lm(Ok(response.clone())));
        pred.lm_calls += 1;
        pred.usage.add(&response.usage);
        let parse_span = ctx.start_span_lazy(
            span,
            || step_name(adapter, "parse"),
            || StartData::Parse {
                adapter: adapter.name(),
                completion: Arc::from(response.text.as_str()),
                fallback,
            },
        );
        let parsed = adapter.parse(signature, &response.text);
        parse_span.end_with(|| {
            EndData::Parse(match &parsed {
                Ok(fields) => {
                    let shared = Arc::new(fields.clone());
                    *traced = Some(shared.clone());
                    Ok(shared)
                }
                Err(e) => Err(ErrorInfo::new("parse", e.to_string())),
            })
        });
        Ok(parsed)
    }
}

#[async_trait]
impl Module for Predict {
    async fn forward(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> {
        let path = self.path();
        let inputs = Arc::new(inputs);
        let mut span = ctx.start_span(
            if path.is_empty() {
                Arc::from("Predict")
            } else {
                path.clone()
            },
            || StartData::Module {
                inputs: inputs.clone(),
            },
        );
        let mut traced = None;
        let result = self.run(ctx, &inputs, &path, &mut span, &mut traced).await;
        span.end_with(|| crate::trace::module_end(&result, traced));
        result
    }

    fn name(&self) -> &str {
        "Predict"
    }

    /// `Predict` opens its own span in `forward`, so `call` adds none.
    async fn call(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> {
        self.forward(ctx, inputs).await
    }

    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        vec![(String::new(), self)]
    }
}

/// `chat.format`, `json.parse`: the span name of an adapter step.
fn step_name(adapter: &dyn Adapter, step: &'static str) -> Arc<str> {
    crate::trace::adapter_step_name(adapter.name(), step)
}
