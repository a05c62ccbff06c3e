//! Spans as the page wants them: ids in hex, times in milliseconds from the trace's
//! start (JSON numbers cannot hold nanoseconds since the epoch exactly), attributes
//! as plain JSON values, children nested.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};
use sigil::trace::{AttrValue, Attributes, Span};
use sigil_store::TraceSummary;

/// One span and its children.
#[derive(Clone, Debug, Serialize)]
pub struct SpanView {
    pub id: String,
    pub parent: Option<String>,
    pub kind: &'static str,
    pub name: String,
    /// Milliseconds from the trace's first span's start.
    pub start_ms: f64,
    pub duration_ms: f64,
    pub status: &'static str,
    pub error: Option<String>,
    pub attrs: Map<String, Value>,
    pub events: Vec<EventView>,
    pub children: Vec<SpanView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EventView {
    pub name: String,
    pub at_ms: f64,
    pub attrs: Map<String, Value>,
}

/// A trace: its summary row (absent while its root span is still running) and its
/// span forest (one root when complete).
#[derive(Debug, Serialize)]
pub struct TraceView {
    pub trace_id: String,
    pub summary: Option<TraceSummary>,
    /// Milliseconds since the epoch of the first span's start.
    pub start_epoch_ms: f64,
    pub duration_ms: f64,
    pub span_count: usize,
    pub complete: bool,
    pub roots: Vec<SpanView>,
}

pub fn attrs_json(attrs: &Attributes) -> Map<String, Value> {
    attrs
        .iter()
        .map(|(k, v)| {
            let v = match v {
                AttrValue::Bool(b) => Value::Bool(*b),
                AttrValue::Int(i) => Value::from(*i),
                AttrValue::Float(f) => serde_json::Number::from_f64(*f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
                AttrValue::Str(s) => Value::String(s.clone()),
            };
            (k.clone(), v)
        })
        .collect()
}

fn ms_between(from_ns: u64, to_ns: u64) -> f64 {
    to_ns.saturating_sub(from_ns) as f64 / 1e6
}

/// One span without children, times relative to `base_ns`.
pub fn span_view(span: &Span, base_ns: u64) -> SpanView {
    SpanView {
        id: span.span_id.to_hex(),
        parent: span.parent_id.map(|p| p.to_hex()),
        kind: span.kind.as_str(),
        name: span.name.clone(),
        start_ms: ms_between(base_ns, span.start_ns),
        duration_ms: span.duration_ms(),
        status: span.status.as_str(),
        error: span.status.message().map(str::to_string),
        attrs: attrs_json(&span.attributes),
        events: span
            .events
            .iter()
            .map(|e| EventView {
                name: e.name.clone(),
                at_ms: ms_between(base_ns, e.time_ns),
                attrs: attrs_json(&e.attributes),
            })
            .collect(),
        children: Vec::new(),
    }
}

/// Nests `spans` (in start order) under their parents. Spans whose parent is not
/// stored (the root of a trace still running) become roots.
pub fn forest(spans: &[Span]) -> Vec<SpanView> {
    let Some(base) = spans.iter().map(|s| s.start_ns).min() else {
        return Vec::new();
    };
    let ids: HashSet<_> = spans.iter().map(|s| s.span_id).collect();
    let mut by_parent: HashMap<_, Vec<&Span>> = HashMap::new();
    let mut roots = Vec::new();
    for s in spans {
        match s.parent_id.filter(|p| ids.contains(p) && *p != s.span_id) {
            Some(p) => by_parent.entry(p).or_default().push(s),
            None => roots.push(s),
        }
    }
    // Iterative, so a deep or hostile store cannot overflow the stack while building.
    fn build(
        span: &Span,
        base: u64,
        by_parent: &mut HashMap<sigil::trace::SpanId, Vec<&Span>>,
    ) -> SpanView {
        let mut root = span_view(span, base);
        let mut stack: Vec<(Vec<usize>, &Span)> = vec![(Vec::new(), span)];
        while let Some((path, s)) = stack.pop() {
            let children = by_parent.remove(&s.span_id).unwrap_or_default();
            let mut node = &mut root;
            for &i in &path {
                node = &mut node.children[i];
            }
            for (i, c) in children.into_iter().enumerate() {
                node.children.push(span_view(c, base));
                let mut p = path.clone();
                p.push(i);
                stack.push((p, c));
            }
        }
        root
    }
    roots
        .into_iter()
        .map(|r| build(r, base, &mut by_parent))
        .collect()
}

/// The whole trace view.
pub fn trace_view(trace_id: &str, summary: Option<TraceSummary>, spans: &[Span]) -> TraceView {
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(start);
    let roots = forest(spans);
    TraceView {
        trace_id: trace_id.to_string(),
        complete: summary.is_some() && roots.len() == 1,
        summary,
        start_epoch_ms: start as f64 / 1e6,
        duration_ms: ms_between(start, end),
        span_count: spans.len(),
        roots,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil::trace::{SpanId, SpanKind, SpanStatus, TraceId};

    fn span(t: TraceId, parent: Option<SpanId>, start: u64) -> Span {
        Span {
            trace_id: t,
            span_id: SpanId::new(),
            parent_id: parent,
            kind: SpanKind::Module,
            name: format!("s{start}"),
            start_ns: start,
            end_ns: start + 2_000_000,
            status: SpanStatus::Ok,
            attributes: Default::default(),
            events: Vec::new(),
        }
    }

    #[test]
    fn nests_children_and_keeps_orphans_as_roots() {
        let t = TraceId::new();
        let root = span(t, None, 1_000_000);
        let a = span(t, Some(root.span_id), 2_000_000);
        let b = span(t, Some(a.span_id), 3_000_000);
        let orphan = span(t, Some(SpanId::new()), 4_000_000);
        let view = trace_view(&t.to_hex(), None, &[root, a, b, orphan]);
        assert_eq!(view.roots.len(), 2);
        assert_eq!(view.roots[0].children[0].children[0].name, "s3000000");
        assert_eq!(view.roots[0].children[0].start_ms, 1.0);
        assert_eq!(view.duration_ms, 5.0);
        assert!(!view.complete);
    }
}
