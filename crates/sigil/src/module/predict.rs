use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use super::{CallCtx, Ctx, Module, ModuleError};
use crate::adapter::native::{native_tools, parse_native};
use crate::adapter::{Adapter, FallbackPolicy, Fields, ParseError, check_inputs, json_fallback};
use crate::data::{Example, Prediction};
use crate::lm::{Lm, LmParams, LmRequest, Message, OutputConstraint};
use crate::signature::Signature;
use crate::trace::{CallData, LmCall, PredictTrace, constraint_kind};

/// One LM call shaped by a signature: the only module that talks to an LM.
///
/// Holds the signature (with its instructions), demos and per-predictor LM
/// parameters. An optimizer's overlay in the [`Ctx`] can replace instructions and
/// demos for one call without touching the predictor. Its path in a program comes
/// from the module tree the ctx runs ([`Ctx::path_of`]), never from the predictor.
#[derive(Debug)]
pub struct Predict {
    /// Shared, so a trace can keep the signature a call ran with without copying it.
    signature: Arc<Signature>,
    demos: Vec<Example>,
    params: LmParams,
    /// The system message and demo turns last rendered, per adapter name. Valid while
    /// the signature and demos are unchanged (every setter clears it) and no overlay
    /// applies to this predictor.
    prefix_cache: RwLock<Option<CachedPrefix>>,
    /// Where one output's value decides another's JSON schema while decoding.
    args_by_choice: Option<Arc<ArgsByChoice>>,
}

/// A decoding constraint finer than the signature's types: the value chosen for the
/// literal output `choice` decides the JSON schema of the output `args` right after
/// it (ReAct's step: the tool named decides its arguments). An LM that can enforce
/// [`OutputConstraint::ChatFieldsByChoice`] (the embedded engine, a llama.cpp server)
/// gets it in place of the plain field types; any other LM gets the plain ones.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgsByChoice {
    /// The literal output field whose value picks the case.
    pub choice: String,
    /// The output field right after it.
    pub args: String,
    /// Each choice and the JSON schema of its `args`.
    pub cases: Vec<(String, serde_json::Value)>,
}

/// An adapter name, whether the tool fields were left out (native function calling),
/// and the prompt prefix it rendered.
type CachedPrefix = (&'static str, bool, Arc<[Message]>);

impl Clone for Predict {
    fn clone(&self) -> Self {
        Predict {
            signature: self.signature.clone(),
            demos: self.demos.clone(),
            params: self.params.clone(),
            prefix_cache: RwLock::new(None),
            args_by_choice: self.args_by_choice.clone(),
        }
    }
}

impl Predict {
    /// A predictor for `signature`, with no demos or parameters of its own.
    pub fn new(signature: Signature) -> Self {
        Predict {
            signature: Arc::new(signature),
            demos: Vec::new(),
            params: LmParams::default(),
            prefix_cache: RwLock::new(None),
            args_by_choice: None,
        }
    }

    /// `Predict::parse("question -> answer")`, for string signatures.
    pub fn parse(signature: &str) -> Result<Self, crate::signature::SignatureError> {
        Ok(Predict::new(Signature::parse(signature)?))
    }

    /// Sets the instructions.
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.signature = Arc::new(self.signature.with_instructions(instructions));
        self.clear_prefix_cache();
        self
    }
    /// Sets the demos.
    pub fn with_demos(mut self, demos: Vec<Example>) -> Self {
        self.demos = demos;
        self.clear_prefix_cache();
        self
    }
    /// Sets LM parameters for this predictor; unset ones come from the ctx.
    pub fn with_params(mut self, params: LmParams) -> Self {
        self.params = params;
        self
    }

    /// Constrains decoding further: `args`'s JSON follows the schema of the value
    /// chosen for `choice` ([`ArgsByChoice`]).
    pub fn with_args_by_choice(mut self, args_by_choice: ArgsByChoice) -> Self {
        self.args_by_choice = Some(Arc::new(args_by_choice));
        self
    }
    /// The finer decoding constraint, if any ([`Predict::with_args_by_choice`]).
    pub fn args_by_choice(&self) -> Option<&ArgsByChoice> {
        self.args_by_choice.as_deref()
    }

    /// The adapter's constraint, made finer by [`ArgsByChoice`] where the LM can
    /// enforce that.
    fn constraint(
        &self,
        adapter: &dyn Adapter,
        signature: &Signature,
        lm: &dyn Lm,
    ) -> Option<OutputConstraint> {
        let plain = adapter.constraint(signature, lm);
        let (Some(by), Some(OutputConstraint::ChatFields { fields })) =
            (self.args_by_choice.as_deref(), &plain)
        else {
            return plain;
        };
        let finer = OutputConstraint::ChatFieldsByChoice {
            fields: fields.clone(),
            choice: by.choice.clone(),
            args: by.args.clone(),
            cases: by.cases.clone(),
        };
        if lm.supports_constraint(&finer) {
            Some(finer)
        } else {
            plain
        }
    }

    /// The signature, with its instructions.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
    /// The predictor's own demos.
    pub fn demos(&self) -> &[Example] {
        &self.demos
    }
    /// The predictor's own LM parameters.
    pub fn params(&self) -> &LmParams {
        &self.params
    }
    /// Replaces the signature.
    pub fn set_signature(&mut self, signature: Signature) {
        self.signature = Arc::new(signature);
        self.clear_prefix_cache();
    }
    /// Replaces the demos.
    pub fn set_demos(&mut self, demos: Vec<Example>) {
        self.demos = demos;
        self.clear_prefix_cache();
    }
    /// Replaces the instructions.
    pub fn set_instructions(&mut self, instructions: impl Into<String>) {
        self.signature = Arc::new(self.signature.with_instructions(instructions));
        self.clear_prefix_cache();
    }

    fn clear_prefix_cache(&mut self) {
        *self
            .prefix_cache
            .get_mut()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The input-independent messages for `adapter`: cached unless an overlay applies.
    /// `native` says `signature` is the predictor's without its tool fields.
    fn prefix(
        &self,
        adapter: &dyn Adapter,
        signature: &Signature,
        demos: &[Example],
        overlaid: bool,
        native: bool,
    ) -> Arc<[Message]> {
        if overlaid {
            return adapter.format_prefix(signature, demos).into();
        }
        if let Ok(guard) = self.prefix_cache.read()
            && let Some((name, was_native, cached)) = guard.as_ref()
            && *name == adapter.name()
            && *was_native == native
        {
            return cached.clone();
        }
        let fresh: Arc<[Message]> = adapter.format_prefix(signature, demos).into();
        if let Ok(mut guard) = self.prefix_cache.write() {
            *guard = Some((adapter.name(), native, fresh.clone()));
        }
        fresh
    }

    /// The signature and demos in effect for a call under `ctx` (overlay applied).
    /// Borrowed where nothing is overlaid, so the common call copies nothing.
    pub fn effective<'a>(&'a self, ctx: &'a Ctx) -> (Cow<'a, Signature>, &'a [Example]) {
        let state = ctx.overlay().and_then(|o| o.get(&ctx.path_of(self)));
        let signature = match state.and_then(|s| s.instructions.as_ref()) {
            Some(i) => Cow::Owned(self.signature.with_instructions(i.clone())),
            None => Cow::Borrowed(&*self.signature),
        };
        let demos = match state.and_then(|s| s.demos.as_deref()) {
            Some(d) => d,
            None => &self.demos,
        };
        (signature, demos)
    }

    /// Checks inputs, calls the LM through the ctx's adapter, and falls back to JSON if
    /// the policy says so.
    async fn run(
        &self,
        ctx: &Ctx,
        inputs: &Arc<Example>,
        path: &str,
        mut trace: Option<&mut PredictTrace<'_, '_>>,
    ) -> Result<Prediction, ModuleError> {
        let (signature, demos) = self.effective(ctx);
        let overlaid =
            matches!(signature, Cow::Owned(_)) || !std::ptr::eq(demos, self.demos.as_slice());
        let (signature, demos) = (signature.as_ref(), demos);
        check_inputs(signature, inputs).map_err(|source| ModuleError::Format {
            path: path.to_string(),
            source,
        })?;

        let mut pred = Prediction::default();
        let primary = ctx.adapter().clone();
        let mut parsed = self
            .call_once(
                ctx,
                &primary,
                signature,
                demos,
                inputs,
                path,
                false,
                overlaid,
                &mut pred,
                trace.as_deref_mut(),
            )
            .await?;
        let retries = match (&parsed, ctx.fallback()) {
            (Err(e), FallbackPolicy::Json { retries }) if primary.name() != "json" => {
                if let Some(t) = trace.as_deref_mut() {
                    t.event(
                        "fallback",
                        vec![
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
                    &json_fallback(&primary.tool_calling()),
                    signature,
                    demos,
                    inputs,
                    path,
                    true,
                    overlaid,
                    &mut pred,
                    trace.as_deref_mut(),
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
        let mut out = Prediction::new(fields);
        out.usage = pred.usage;
        out.lm_calls = pred.lm_calls;
        out.fallbacks = pred.fallbacks;
        Ok(out)
    }

    /// One format → LM → parse attempt. Each step reports to the trace, if any, with
    /// what the call already holds; nothing is copied for it.
    #[allow(clippy::too_many_arguments)]
    async fn call_once(
        &self,
        ctx: &Ctx,
        adapter: &Arc<dyn Adapter>,
        signature: &Signature,
        demos: &[Example],
        inputs: &Arc<Example>,
        path: &str,
        fallback: bool,
        overlaid: bool,
        pred: &mut Prediction,
        mut trace: Option<&mut PredictTrace<'_, '_>>,
    ) -> Result<Result<Fields, ParseError>, ModuleError> {
        let lm = ctx.lm_for(path);
        if let Some(t) = trace.as_deref_mut() {
            t.format_start(adapter.name(), demos.len(), fallback);
        }
        // Native function calling takes the tool fields out of the prompt; the rest is
        // formatted (and parsed) from the signature without them.
        let native = native_tools(adapter.as_ref(), signature, inputs, lm.as_ref());
        let formatted = native.and_then(|native| {
            let user = match &native {
                Some(n) => adapter.format_user(&n.text_signature, &n.text_inputs(inputs)),
                None => adapter.format_user(signature, inputs),
            }?;
            Ok((native, user))
        });
        let (native, messages, prefix) = match formatted {
            Ok((native, user)) => {
                let text_signature = native.as_ref().map_or(signature, |n| &n.text_signature);
                let prefix = self.prefix(
                    adapter.as_ref(),
                    text_signature,
                    demos,
                    overlaid,
                    native.is_some(),
                );
                let mut m = Vec::with_capacity(prefix.len() + 1);
                m.extend_from_slice(&prefix);
                m.extend(user);
                (native, m, prefix)
            }
            Err(source) => {
                if let Some(t) = trace.as_deref_mut() {
                    t.format_end(adapter.name(), demos.len(), Err(&source));
                }
                return Err(ModuleError::Format {
                    path: path.to_string(),
                    source,
                });
            }
        };
        if let Some(t) = trace.as_deref_mut() {
            t.format_end(adapter.name(), demos.len(), Ok((&messages, prefix.len())));
        }
        let params = self.params.or(ctx.params());
        let constraint = match &native {
            // Nothing is left to constrain when the tool calls were the only output.
            Some(n) if n.text_signature.outputs().is_empty() => None,
            Some(n) => self.constraint(adapter.as_ref(), &n.text_signature, lm.as_ref()),
            None => self.constraint(adapter.as_ref(), signature, lm.as_ref()),
        };
        let lm_call = LmCall {
            lm,
            constraint: constraint.as_ref().map(constraint_kind),
            tools: native.as_ref().map_or(&[], |n| n.tools.as_slice()),
        };
        if let Some(t) = trace.as_deref_mut() {
            // The trace keeps the prefix (shared, not copied) and the parameters.
            t.lm_start(&lm_call, prefix, &params);
        }
        let (tools, tool_choice) = match &native {
            Some(n) => (n.tools.clone(), n.tool_choice.clone()),
            None => (Vec::new(), None),
        };
        let request = LmRequest {
            messages,
            params,
            constraint,
            rollout_id: ctx.rollout_id(),
            tools,
            tool_choice,
        };
        // `Lm::call` on the `dyn Lm` itself: through `Arc`'s forwarding impl it would box a
        // second future per call.
        let response = match (**lm).call(request).await {
            Ok(r) => Arc::new(r),
            Err(source) => {
                if let Some(t) = trace.as_deref_mut() {
                    t.lm_end(&lm_call, Err(&source));
                }
                return Err(ModuleError::Lm {
                    path: path.to_string(),
                    source,
                });
            }
        };
        if let Some(t) = trace.as_deref_mut() {
            t.lm_end(&lm_call, Ok(&response));
        }
        pred.lm_calls += 1;
        pred.usage.add(&response.usage);
        if let Some(t) = trace.as_deref_mut() {
            t.parse_start(adapter.name(), &response.text, fallback);
        }
        let parsed = match &native {
            Some(n) => parse_native(adapter.as_ref(), n, signature, &response),
            None => adapter.parse(signature, &response.text),
        };
        if let Some(t) = trace {
            t.parse_end(adapter.name(), fallback, response, parsed.as_ref());
        }
        Ok(parsed)
    }
}

#[async_trait]
impl Module for Predict {
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let call = CallData {
            path: ctx.path_of(self),
            inputs: Arc::new(inputs),
        };
        let Some(mut trace) = ctx
            .tracing
            .as_deref()
            .and_then(|t| PredictTrace::begin(t, ctx.span_parent, &call))
        else {
            return self.run(ctx, &call.inputs, &call.path, None).await;
        };
        let result = self
            .run(ctx, &call.inputs, &call.path, Some(&mut trace))
            .await;
        let pending = match &result {
            Ok(p) => trace.end(Ok(p)),
            Err(e) => trace.end(Err(&e.to_error_info())),
        };
        if let Some(pending) = pending {
            pending.submit(call, result.as_ref().ok().map(|p| p.values()));
        }
        result
    }

    fn name(&self) -> &str {
        "Predict"
    }

    /// `Predict` opens its own span in `forward`.
    fn opens_own_span(&self) -> bool {
        true
    }

    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        vec![(String::new(), self)]
    }
}

#[cfg(test)]
#[path = "predict_tests.rs"]
mod tests;
