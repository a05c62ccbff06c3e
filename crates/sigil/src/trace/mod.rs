//! Tracing: a side channel beside the program's flow. One event model, one span model,
//! and the pipeline that feeds the optimizers' demo capture, the store, the exporters
//! and the UI.
//!
//! Every step of a program emits a start and an end event, once, to the [`Hook`]s
//! registered on its `Ctx`: module calls, LM calls, adapter format and parse, tool
//! calls, retrieval hops, evaluations, compile runs and optimizer trials. The events
//! carry what the step already produced (the messages, the raw completion, the parsed
//! fields or the error); nothing is formatted or parsed again to be traced. This
//! module is a leaf: it knows nothing of modules or adapters' behaviour, only the
//! data they hand it.
//! There is no global state: hooks travel in the ctx, and so does the current span,
//! so parent links survive `tokio::spawn` (move a ctx clone into the task) and
//! concurrent calls. Without hooks, tracing costs a branch per step.
//!
//! [`SpanCollector`] is the hook that turns calls into [`Span`]s. It skips the borrowed
//! events: on the calling task it takes ids, one clock read per boundary (consecutive
//! spans share one: format end = LM start) and what the call's steps produced, and
//! queues them as one record per `Predict` call. Everything else (span attributes,
//! privacy, token and cost roll-ups, delivery to [`SpanSink`]s such as the SQLite
//! store and the [`otlp`] exporter) runs on its own thread.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use sigil::prelude::*;
//! use sigil::trace::{MemorySink, SpanCollector};
//!
//! let sink = Arc::new(MemorySink::default());
//! let collector = SpanCollector::builder().sink(sink.clone()).build();
//! let lm = sigil_testkit::ScriptedLm::new(["[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]"]);
//! let ctx = Ctx::new(lm).with_hook(collector.clone());
//! let qa = Predict::parse("question -> answer")?;
//! qa.call(&ctx, Example::new().input("question", "2+2?")).await?;
//! collector.flush();
//! assert_eq!(sink.spans().len(), 4); // Predict, format, lm, parse
//! # Ok(()) }
//! ```

mod clock;
mod collector;
mod convert;
mod env;
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
    CollectorBuilder, CollectorStats, MemorySink, SinkError, SpanCollector, SpanSink,
};
pub use env::{TraceEnv, TraceFlagError};
pub use hooks::{
    CompileSummary, EndData, EpochSummary, ErrorInfo, EvalSummary, FinetuneSummary, Hook,
    HookError, LmInput, ModuleOutput, SpanEnd, SpanGuard, SpanParent, SpanStart, StartData, now_ns,
};
pub(crate) use hooks::{Tracing, constraint_kind};
pub use ids::{SpanId, TraceId};
pub(crate) use predict::{CallData, LmCall, PredictTrace};
pub use privacy::Privacy;
pub use program::ProgramInfo;
pub use span::{AttrValue, Attributes, Span, SpanEvent, SpanKind, SpanStatus, keys};

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

#[cfg(test)]
mod tests {
    /// The trace side channel is a leaf: nothing under `trace/` reaches into modules.
    #[test]
    fn trace_imports_nothing_from_module() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/trace");
        let mut stack = vec![dir];
        let mut offenders = Vec::new();
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if text.contains(concat!("crate::", "module")) {
                        offenders.push(path.display().to_string());
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "{offenders:?}");
    }
}
