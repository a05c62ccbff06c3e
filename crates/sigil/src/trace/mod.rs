//! Tracing: hooks, one span model, and the pipeline that feeds the store and exporters.
//!
//! Every step of a program emits a start and an end event to the [`Hook`]s registered
//! on its [`Ctx`](crate::module::Ctx): module calls, LM calls, adapter format and
//! parse, tool calls, retrieval hops, evaluations, compile runs and optimizer trials.
//! There is no global state: hooks travel in the ctx, and so does the current span,
//! so parent links survive `tokio::spawn` (move a ctx clone into the task) and
//! concurrent calls. Without hooks, tracing costs a branch per step.
//!
//! [`SpanCollector`] is the hook that turns calls into [`Span`]s. It skips the borrowed
//! events: on the calling task it takes ids, one clock read per boundary (consecutive
//! spans share one: format end = LM start) and the pointers the call already holds,
//! and queues them as one record per `Predict` call. Everything else (rendering the
//! recorded messages, parsed fields, attributes, privacy, token and cost roll-ups,
//! delivery to [`SpanSink`]s such as the SQLite store and the [`otlp`] exporter) runs
//! on its own thread.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use sigil::prelude::*;
//! use sigil::trace::{MemorySink, SpanCollector};
//!
//! let sink = Arc::new(MemorySink::default());
//! let collector = SpanCollector::builder().sink(sink.clone()).build();
//! let lm = sigil::testing::ScriptedLm::new(["[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]"]);
//! let ctx = Ctx::new(lm).with_hook(collector.clone());
//! let qa = Predict::parse("question -> answer")?;
//! qa.call(&ctx, Example::new().input("question", "2+2?")).await?;
//! collector.flush();
//! assert_eq!(sink.spans().len(), 4); // Predict, format, lm, parse
//! # Ok(()) }
//! ```

mod collector;
mod convert;
mod events;
mod hooks;
mod ids;
pub mod otlp;
pub(crate) mod predict;
mod privacy;
mod program;
mod span;

use std::sync::Arc;

pub use collector::{
    CollectorBuilder, CollectorStats, MemorySink, SinkError, SpanCollector, SpanQueue, SpanSink,
};
pub use hooks::{
    CompileSummary, EndData, ErrorInfo, EvalSummary, Hook, HookError, LmInput, ModuleOutput,
    SpanEnd, SpanGuard, SpanParent, SpanStart, StartData, Tracing, constraint_kind, now_ns,
};
pub use ids::{SpanId, TraceId};
pub(crate) use predict::PredictTrace;
pub use privacy::{Privacy, redact_secrets};
pub use program::ProgramInfo;
pub use span::{AttrValue, Attributes, Span, SpanEvent, SpanKind, SpanStatus, keys};

use crate::adapter::Fields;
use crate::data::Prediction;
use crate::module::ModuleError;

/// The end event of a module call from its result.
pub fn module_end(
    result: &Result<Prediction, ModuleError>,
    outputs: Option<Arc<Fields>>,
) -> EndData {
    EndData::Module(match result {
        Ok(p) => Ok(ModuleOutput {
            outputs: outputs.unwrap_or_else(|| Arc::new(p.values().clone())),
            usage: p.usage,
            lm_calls: p.lm_calls,
            fallbacks: p.fallbacks,
        }),
        Err(e) => Err(ErrorInfo::new(e.kind(), e.to_string())),
    })
}

/// A shared copy of a short string used again and again as a span name or model id,
/// so opening a span does not allocate it. Bounded: past 4096 distinct strings, new
/// ones are allocated each time.
pub(crate) fn intern(text: &str) -> Arc<str> {
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};
    static TABLE: OnceLock<RwLock<HashMap<Box<str>, Arc<str>>>> = OnceLock::new();
    let table = TABLE.get_or_init(Default::default);
    if let Some(a) = table.read().unwrap_or_else(|e| e.into_inner()).get(text) {
        return a.clone();
    }
    let a: Arc<str> = Arc::from(text);
    let mut w = table.write().unwrap_or_else(|e| e.into_inner());
    if w.len() < 4096 {
        w.insert(Box::from(text), a.clone());
    }
    a
}

/// The LM span's model id and name (`chat {model}`), shared across calls.
pub(crate) fn lm_span_names(model_id: &str) -> (Arc<str>, Arc<str>) {
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};
    type Names = HashMap<Box<str>, (Arc<str>, Arc<str>)>;
    static TABLE: OnceLock<RwLock<Names>> = OnceLock::new();
    let table = TABLE.get_or_init(Default::default);
    if let Some(n) = table
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(model_id)
    {
        return n.clone();
    }
    let n: (Arc<str>, Arc<str>) = (Arc::from(model_id), Arc::from(format!("chat {model_id}")));
    let mut w = table.write().unwrap_or_else(|e| e.into_inner());
    if w.len() < 4096 {
        w.insert(Box::from(model_id), n.clone());
    }
    n
}

/// `chat.format`, `json.parse`, ...: the span names of the built-in adapters' steps.
pub(crate) fn adapter_step_name(adapter: &'static str, step: &'static str) -> Arc<str> {
    use std::sync::OnceLock;
    static NAMES: OnceLock<[Arc<str>; 4]> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        [
            Arc::from("chat.format"),
            Arc::from("chat.parse"),
            Arc::from("json.format"),
            Arc::from("json.parse"),
        ]
    });
    match (adapter, step) {
        ("chat", "format") => names[0].clone(),
        ("chat", "parse") => names[1].clone(),
        ("json", "format") => names[2].clone(),
        ("json", "parse") => names[3].clone(),
        (other, step) => intern(&format!("{other}.{step}")),
    }
}

/// Runs one retrieval hop inside its own span, recording the query and the passages
/// found (privacy settings permitting). `search` gets a ctx whose current span is the
/// retrieval span, for retrievers that call other traced code.
///
/// ```
/// # async fn demo(ctx: &sigil::module::Ctx) -> Result<(), std::io::Error> {
/// let passages = sigil::trace::retrieval(ctx, "wiki", "capital of France", Some(3), |_ctx| async {
///     Ok::<_, std::io::Error>(vec!["Paris is the capital of France.".to_string()])
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn retrieval<F, Fut, E>(
    ctx: &crate::module::Ctx,
    name: &str,
    query: &str,
    k: Option<usize>,
    search: F,
) -> Result<Vec<String>, E>
where
    F: FnOnce(crate::module::Ctx) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, E>>,
    E: std::fmt::Display,
{
    let span = ctx.start_span(name, || StartData::Retrieval {
        query: Arc::from(query),
        k,
    });
    let inner = ctx.child(&span);
    let result = search(inner).await;
    span.end_with(|| {
        EndData::Retrieval(match &result {
            Ok(p) => Ok(Arc::new(p.clone())),
            Err(e) => Err(ErrorInfo::new("retrieval", e.to_string())),
        })
    });
    result
}
