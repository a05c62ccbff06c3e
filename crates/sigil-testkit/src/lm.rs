//! A scripted fake LM that records what it was asked.
//!
//! This file is compiled twice: as `sigil_testkit::lm` for every crate's tests, and,
//! through `#[path]`, as the private `testing` module of `sigil`'s own unit tests,
//! which cannot depend on the testkit (that dev-dependency would link a second copy
//! of `sigil`, whose types are not the ones under test). So it names only `sigil::`
//! paths (the crate aliases itself as `sigil` under `cfg(test)`), `std` and
//! `async_trait`.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use sigil::lm::{Lm, LmError, LmRequest, LmResponse, LmToolCall, Usage};

type Responder = Box<dyn Fn(&LmRequest) -> Result<String, LmError> + Send + Sync>;

/// A fake LM: answers from a script of completions (in order), or from a function of
/// the request, and keeps every request it received.
///
/// ```
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use sigil::prelude::*;
/// use sigil_testkit::{ScriptedLm, chat};
///
/// let ctx = Ctx::new(ScriptedLm::new([chat(&[("answer", "4")])]));
/// let qa = Predict::parse("question -> answer")?;
/// let out = qa.call(&ctx, Example::new().input("question", "2+2?")).await?;
/// assert_eq!(out.get_str("answer").as_deref(), Some("4"));
/// # Ok(()) }
/// ```
pub struct ScriptedLm {
    script: Mutex<VecDeque<Result<String, LmError>>>,
    responder: Option<Responder>,
    requests: Mutex<Vec<LmRequest>>,
    model: String,
    /// `Some`: the LM takes native tools and answers call `i` with these tool calls.
    tool_calls: Option<Mutex<VecDeque<Vec<LmToolCall>>>>,
    /// Whether it says it enforces JSON schemas ([`ScriptedLm::with_structured_output`]).
    structured: bool,
}

impl ScriptedLm {
    /// Answers with these completions, one per call, in order.
    pub fn new<S: Into<String>>(completions: impl IntoIterator<Item = S>) -> Self {
        ScriptedLm {
            script: Mutex::new(completions.into_iter().map(|s| Ok(s.into())).collect()),
            responder: None,
            requests: Mutex::new(Vec::new()),
            model: "fake/scripted".into(),
            tool_calls: None,
            structured: false,
        }
    }

    /// Answers with these completions or errors, one per call, in order.
    pub fn from_results(results: impl IntoIterator<Item = Result<String, LmError>>) -> Self {
        ScriptedLm {
            script: Mutex::new(results.into_iter().collect()),
            responder: None,
            requests: Mutex::new(Vec::new()),
            model: "fake/scripted".into(),
            tool_calls: None,
            structured: false,
        }
    }

    /// Answers every call with `f(request)`.
    pub fn from_fn(
        f: impl Fn(&LmRequest) -> Result<String, LmError> + Send + Sync + 'static,
    ) -> Self {
        ScriptedLm {
            script: Mutex::new(VecDeque::new()),
            responder: Some(Box::new(f)),
            requests: Mutex::new(Vec::new()),
            model: "fake/fn".into(),
            tool_calls: None,
            structured: false,
        }
    }

    /// Says it enforces JSON schemas (`Lm::supports_structured_output`), as a provider
    /// with structured output does.
    pub fn with_structured_output(mut self) -> Self {
        self.structured = true;
        self
    }

    /// Takes native tools, and answers the calls in order with these tool calls beside
    /// the completions (none once they run out).
    pub fn with_tool_calls(mut self, per_call: impl IntoIterator<Item = Vec<LmToolCall>>) -> Self {
        self.tool_calls = Some(Mutex::new(per_call.into_iter().collect()));
        self
    }

    /// Queues an error as the next answer.
    pub fn push_error(&self, e: LmError) {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(Err(e));
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<LmRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn calls(&self) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

#[async_trait]
impl Lm for ScriptedLm {
    fn model_id(&self) -> String {
        self.model.clone()
    }

    fn supports_native_tools(&self) -> bool {
        self.tool_calls.is_some()
    }

    fn supports_structured_output(&self) -> bool {
        self.structured
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request.clone());
        let next = self
            .script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        let text = match (next, &self.responder) {
            (Some(r), _) => r?,
            (None, Some(f)) => f(&request)?,
            (None, None) => return Err(LmError::Other("ScriptedLm: script exhausted".into())),
        };
        let input_tokens = request
            .messages
            .iter()
            .map(|m| m.content.split_whitespace().count() as u64)
            .sum();
        let output_tokens = text.split_whitespace().count() as u64;
        let tool_calls = self
            .tool_calls
            .as_ref()
            .and_then(|q| q.lock().unwrap_or_else(|e| e.into_inner()).pop_front())
            .unwrap_or_default();
        Ok(LmResponse {
            tool_calls,
            text,
            finish_reason: Some("stop".into()),
            usage: Usage {
                input_tokens,
                output_tokens,
                cached_tokens: 0,
                cost_usd: 0.0,
            },
            model: self.model.clone(),
            ..Default::default()
        })
    }
}
