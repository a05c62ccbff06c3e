//! Span-tree expectations, in the style of `tracing-mock`: say what the tree should
//! look like, check it against the spans a [`sigil::trace::MemorySink`] collected, and
//! get a diff of expected against actual when it does not match.
//!
//! ```
//! use sigil::trace::{SpanKind, keys};
//! use sigil_testkit::expect;
//!
//! let want = expect::span("TwoStep")
//!     .kind(SpanKind::Module)
//!     .ok()
//!     .with_attr(keys::PROGRAM_NAME, "two-step")
//!     .child(expect::span("query").child(expect::kind(SpanKind::Format)))
//!     .child(expect::span("answer"));
//! # let spans: Vec<sigil::trace::Span> = Vec::new();
//! // want.assert_tree(&spans);
//! assert!(want.check_tree(&spans).is_err()); // no spans at all
//! ```
//!
//! Children are compared in start order. A span with [`ExpectedSpan::child`]ren must
//! have exactly those children; one without is not checked below (use
//! [`ExpectedSpan::no_children`] to require a leaf). Only what an expectation names
//! is checked: a span's other attributes may be anything.

use std::collections::{HashMap, HashSet};
use std::fmt;

use sigil::trace::{AttrValue, Span, SpanId, SpanKind, SpanStatus};

use crate::diff::line_diff;

/// A span that has not been looked at yet, with nothing required of it.
pub fn any() -> ExpectedSpan {
    ExpectedSpan::default()
}

/// A span with this name.
pub fn span(name: impl Into<String>) -> ExpectedSpan {
    any().named(name)
}

/// A span of this kind, any name.
pub fn kind(kind: SpanKind) -> ExpectedSpan {
    any().kind(kind)
}

/// What one span (and, optionally, the spans beneath it) should be.
#[derive(Clone, Debug, Default)]
pub struct ExpectedSpan {
    name: Option<String>,
    kind: Option<SpanKind>,
    status: Option<StatusIs>,
    attrs: Vec<(String, AttrIs)>,
    events: Option<Vec<String>>,
    children: Option<Vec<ExpectedSpan>>,
}

#[derive(Clone, Debug)]
enum StatusIs {
    Ok,
    Cancelled,
    /// An error whose message contains this.
    Error(String),
}

#[derive(Clone, Debug)]
enum AttrIs {
    /// Equal; numbers compare by value, so `2.0` matches an integer 2, as
    /// `Span::attr_f64` reads it.
    Equals(AttrValue),
    /// A string attribute containing this.
    Contains(String),
    Present,
    Absent,
}

/// Why spans did not match: every difference found, and the expected and actual
/// trees as a line diff. Its `Display` is the report.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanMismatch {
    pub problems: Vec<String>,
    pub diff: String,
}

impl fmt::Display for SpanMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "spans do not match the expectation:")?;
        for p in &self.problems {
            writeln!(f, "  * {p}")?;
        }
        writeln!(f, "tree (- expected, + actual):")?;
        write!(f, "{}", self.diff)
    }
}

impl std::error::Error for SpanMismatch {}

impl ExpectedSpan {
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Ended with status ok.
    pub fn ok(mut self) -> Self {
        self.status = Some(StatusIs::Ok);
        self
    }

    pub fn cancelled(mut self) -> Self {
        self.status = Some(StatusIs::Cancelled);
        self
    }

    /// Ended with an error whose message contains `text` (`""`: any error).
    pub fn error_containing(mut self, text: impl Into<String>) -> Self {
        self.status = Some(StatusIs::Error(text.into()));
        self
    }

    /// Attribute `key` equals `value`.
    pub fn with_attr(mut self, key: impl Into<String>, value: impl Into<AttrValue>) -> Self {
        self.attrs.push((key.into(), AttrIs::Equals(value.into())));
        self
    }

    /// Attribute `key` is a string containing `text`.
    pub fn with_attr_containing(mut self, key: impl Into<String>, text: impl Into<String>) -> Self {
        self.attrs.push((key.into(), AttrIs::Contains(text.into())));
        self
    }

    /// Attribute `key` is set, to anything.
    pub fn with_attr_present(mut self, key: impl Into<String>) -> Self {
        self.attrs.push((key.into(), AttrIs::Present));
        self
    }

    /// Attribute `key` is not set.
    pub fn without_attr(mut self, key: impl Into<String>) -> Self {
        self.attrs.push((key.into(), AttrIs::Absent));
        self
    }

    /// The span's events are exactly these, by name, in order.
    pub fn with_events<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.events = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The next child (in start order). Once one is given, the children must be
    /// exactly those given.
    pub fn child(mut self, child: ExpectedSpan) -> Self {
        self.children.get_or_insert_with(Vec::new).push(child);
        self
    }

    /// No children at all.
    pub fn no_children(mut self) -> Self {
        self.children = Some(Vec::new());
        self
    }

    /// Checks that `spans` form one tree (a single root, every parent present) and
    /// that its root matches this expectation.
    pub fn check_tree(&self, spans: &[Span]) -> Result<(), SpanMismatch> {
        let tree = Tree::new(spans);
        let roots: Vec<&Span> = spans.iter().filter(|s| s.parent_id.is_none()).collect();
        let mut problems = Vec::new();
        for s in spans {
            if let Some(p) = s.parent_id.filter(|p| !tree.ids.contains(p)) {
                problems.push(format!(
                    "span {:?} ({}) has parent {p}, which is not among the spans",
                    s.name,
                    s.kind.as_str()
                ));
            }
        }
        match roots.as_slice() {
            [root] => self.finish(root, &tree, problems),
            _ => {
                let names: Vec<String> = roots
                    .iter()
                    .map(|r| format!("{:?} ({})", r.name, r.kind.as_str()))
                    .collect();
                problems.push(format!(
                    "expected one root span, found {}: [{}]",
                    roots.len(),
                    names.join(", ")
                ));
                let mut want = Vec::new();
                self.render(0, &mut want);
                let mut got = Vec::new();
                for r in &roots {
                    render_actual(r, &tree, 0, &mut got);
                }
                Err(SpanMismatch {
                    problems,
                    diff: line_diff(&want, &got),
                })
            }
        }
    }

    /// Checks `span`, and beneath it as far as this expectation goes, among `spans`
    /// (the list the span came from, which holds its descendants).
    pub fn check(&self, span: &Span, spans: &[Span]) -> Result<(), SpanMismatch> {
        self.finish(span, &Tree::new(spans), Vec::new())
    }

    /// [`ExpectedSpan::check_tree`], panicking with the report.
    #[track_caller]
    pub fn assert_tree(&self, spans: &[Span]) {
        if let Err(e) = self.check_tree(spans) {
            panic!("{e}");
        }
    }

    /// [`ExpectedSpan::check`], panicking with the report.
    #[track_caller]
    pub fn assert(&self, span: &Span, spans: &[Span]) {
        if let Err(e) = self.check(span, spans) {
            panic!("{e}");
        }
    }

    fn finish(
        &self,
        span: &Span,
        tree: &Tree<'_>,
        mut problems: Vec<String>,
    ) -> Result<(), SpanMismatch> {
        let mut want = Vec::new();
        let mut got = Vec::new();
        self.compare(span, tree, "", 0, &mut problems, &mut want, &mut got);
        if problems.is_empty() {
            return Ok(());
        }
        Err(SpanMismatch {
            problems,
            diff: line_diff(&want, &got),
        })
    }

    /// Compares one span and, recursively, its children. Writes the expected lines
    /// and the actual span's lines as seen through the expectation: a part that
    /// matches is written as expected, a part that differs as it actually is, so the
    /// diff shows only differences.
    #[allow(clippy::too_many_arguments)]
    fn compare(
        &self,
        span: &Span,
        tree: &Tree<'_>,
        path: &str,
        depth: usize,
        problems: &mut Vec<String>,
        want: &mut Vec<String>,
        got: &mut Vec<String>,
    ) {
        let here = if path.is_empty() {
            span.name.clone()
        } else {
            format!("{path} > {}", span.name)
        };
        let pad = "  ".repeat(depth);
        // The header: kind, name, status; `*` for what is not checked.
        let kind_ok = self.kind.is_none_or(|k| k == span.kind);
        let name_ok = self.name.as_ref().is_none_or(|n| *n == span.name);
        let status_ok = self.status.as_ref().is_none_or(|s| s.matches(&span.status));
        if !kind_ok {
            problems.push(format!(
                "{here}: kind is {}, expected {}",
                span.kind.as_str(),
                self.kind.map_or("*", SpanKind::as_str)
            ));
        }
        if !name_ok {
            problems.push(format!(
                "{here}: name is {:?}, expected {:?}",
                span.name,
                self.name.as_deref().unwrap_or("*")
            ));
        }
        if !status_ok {
            problems.push(format!(
                "{here}: status is {}, expected {}",
                status_text(&span.status),
                self.status.as_ref().map_or("*".into(), StatusIs::text)
            ));
        }
        want.push(format!("{pad}{}", self.header()));
        got.push(format!(
            "{pad}{} {} {}",
            if kind_ok {
                self.kind.map_or("*", SpanKind::as_str).to_string()
            } else {
                span.kind.as_str().to_string()
            },
            if name_ok {
                self.name.as_ref().map_or("*".into(), |n| format!("{n:?}"))
            } else {
                format!("{:?}", span.name)
            },
            if status_ok {
                self.status.as_ref().map_or("*".into(), StatusIs::text)
            } else {
                status_text(&span.status)
            }
        ));
        for (key, is) in &self.attrs {
            let actual = span.attr(key);
            want.push(format!("{pad}  .{key} {}", is.text()));
            if is.matches(actual) {
                got.push(format!("{pad}  .{key} {}", is.text()));
            } else {
                let shown = actual.map_or("absent".to_string(), |v| format!("= {}", value_text(v)));
                problems.push(format!(
                    "{here}: attribute {key} is {shown}, expected {}",
                    is.text()
                ));
                got.push(format!("{pad}  .{key} {shown}"));
            }
        }
        if let Some(events) = &self.events {
            let actual: Vec<String> = span.events.iter().map(|e| e.name.clone()).collect();
            want.push(format!("{pad}  events {events:?}"));
            got.push(format!("{pad}  events {actual:?}"));
            if actual != *events {
                problems.push(format!(
                    "{here}: events are {actual:?}, expected {events:?}"
                ));
            }
        }
        let Some(expected) = &self.children else {
            return;
        };
        let actual = tree.children(span.span_id);
        if actual.len() != expected.len() {
            problems.push(format!(
                "{here}: has {} children [{}], expected {}",
                actual.len(),
                actual
                    .iter()
                    .map(|c| format!("{:?}", c.name))
                    .collect::<Vec<_>>()
                    .join(", "),
                expected.len()
            ));
        }
        for (i, e) in expected.iter().enumerate() {
            match actual.get(i) {
                Some(c) => e.compare(c, tree, &here, depth + 1, problems, want, got),
                None => e.render(depth + 1, want),
            }
        }
        for extra in actual.iter().skip(expected.len()) {
            render_actual(extra, tree, depth + 1, got);
        }
    }

    fn header(&self) -> String {
        format!(
            "{} {} {}",
            self.kind.map_or("*", SpanKind::as_str),
            self.name.as_ref().map_or("*".into(), |n| format!("{n:?}")),
            self.status.as_ref().map_or("*".into(), StatusIs::text)
        )
    }

    /// The expected lines alone (for a span that is missing).
    fn render(&self, depth: usize, out: &mut Vec<String>) {
        let pad = "  ".repeat(depth);
        out.push(format!("{pad}{}", self.header()));
        for (key, is) in &self.attrs {
            out.push(format!("{pad}  .{key} {}", is.text()));
        }
        if let Some(events) = &self.events {
            out.push(format!("{pad}  events {events:?}"));
        }
        for c in self.children.iter().flatten() {
            c.render(depth + 1, out);
        }
    }
}

impl StatusIs {
    fn matches(&self, status: &SpanStatus) -> bool {
        match (self, status) {
            (StatusIs::Ok, SpanStatus::Ok) | (StatusIs::Cancelled, SpanStatus::Cancelled) => true,
            (StatusIs::Error(want), SpanStatus::Error(got)) => got.contains(want.as_str()),
            _ => false,
        }
    }

    fn text(&self) -> String {
        match self {
            StatusIs::Ok => "ok".into(),
            StatusIs::Cancelled => "cancelled".into(),
            StatusIs::Error(m) if m.is_empty() => "error".into(),
            StatusIs::Error(m) => format!("error containing {m:?}"),
        }
    }
}

impl AttrIs {
    fn matches(&self, actual: Option<&AttrValue>) -> bool {
        match (self, actual) {
            (AttrIs::Absent, None) => true,
            (AttrIs::Absent, Some(_)) | (_, None) => false,
            (AttrIs::Present, Some(_)) => true,
            (AttrIs::Contains(t), Some(v)) => v.as_str().is_some_and(|s| s.contains(t.as_str())),
            (AttrIs::Equals(want), Some(got)) => match want {
                AttrValue::Float(f) => got.as_f64() == Some(*f),
                AttrValue::Int(i) => got.as_i64() == Some(*i),
                _ => want == got,
            },
        }
    }

    fn text(&self) -> String {
        match self {
            AttrIs::Equals(v) => format!("== {}", value_text(v)),
            AttrIs::Contains(t) => format!("contains {t:?}"),
            AttrIs::Present => "present".into(),
            AttrIs::Absent => "absent".into(),
        }
    }
}

fn value_text(v: &AttrValue) -> String {
    match v {
        AttrValue::Bool(b) => b.to_string(),
        AttrValue::Int(i) => i.to_string(),
        AttrValue::Float(f) => format!("{f:?}"),
        AttrValue::Str(s) => format!("{s:?}"),
    }
}

fn status_text(s: &SpanStatus) -> String {
    match s {
        SpanStatus::Ok => "ok".into(),
        SpanStatus::Cancelled => "cancelled".into(),
        SpanStatus::Error(m) => format!("error {m:?}"),
    }
}

/// An unexpected span and everything beneath it, as it is.
fn render_actual(span: &Span, tree: &Tree<'_>, depth: usize, out: &mut Vec<String>) {
    out.push(format!(
        "{}{} {:?} {}",
        "  ".repeat(depth),
        span.kind.as_str(),
        span.name,
        status_text(&span.status)
    ));
    for c in tree.children(span.span_id) {
        render_actual(c, tree, depth + 1, out);
    }
}

/// Spans by parent, children in start order (ties keep the list's order).
struct Tree<'a> {
    ids: HashSet<SpanId>,
    by_parent: HashMap<SpanId, Vec<&'a Span>>,
}

impl<'a> Tree<'a> {
    fn new(spans: &'a [Span]) -> Self {
        let mut by_parent: HashMap<SpanId, Vec<&'a Span>> = HashMap::new();
        for s in spans {
            if let Some(p) = s.parent_id {
                by_parent.entry(p).or_default().push(s);
            }
        }
        for children in by_parent.values_mut() {
            children.sort_by_key(|s| s.start_ns);
        }
        Tree {
            ids: spans.iter().map(|s| s.span_id).collect(),
            by_parent,
        }
    }

    fn children(&self, id: SpanId) -> &[&'a Span] {
        self.by_parent.get(&id).map_or(&[], Vec::as_slice)
    }
}
