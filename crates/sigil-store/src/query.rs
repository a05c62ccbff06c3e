//! The questions the CLI and UI ask of the store.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Row, params_from_iter};
use serde::{Deserialize, Serialize};
use sigil::trace::{Attributes, Span, SpanEvent, SpanId, SpanKind, SpanStatus, TraceId};

use crate::{Store, StoreError};

/// Which traces to list. Unset fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceFilter {
    pub program: Option<String>,
    /// `ok`, `error` or `cancelled`.
    pub status: Option<String>,
    /// Traces that started at or after this time (ns since the epoch).
    pub since_ns: Option<u64>,
    /// Traces that started before this time.
    pub until_ns: Option<u64>,
    pub compiled: Option<bool>,
    pub artifact_hash: Option<String>,
    /// The root span's kind (`module` for production calls, `evaluate`, `compile`).
    pub root_kind: Option<String>,
    /// At most this many, newest first (default 100; 0 means no limit).
    pub limit: Option<usize>,
}

impl TraceFilter {
    pub fn program(mut self, p: impl Into<String>) -> Self {
        self.program = Some(p.into());
        self
    }
    pub fn status(mut self, s: impl Into<String>) -> Self {
        self.status = Some(s.into());
        self
    }
    pub fn errors_only(self) -> Self {
        self.status("error")
    }
    pub fn since_ns(mut self, t: u64) -> Self {
        self.since_ns = Some(t);
        self
    }
    pub fn until_ns(mut self, t: u64) -> Self {
        self.until_ns = Some(t);
        self
    }
    pub fn compiled(mut self, c: bool) -> Self {
        self.compiled = Some(c);
        self
    }
    pub fn artifact_hash(mut self, h: impl Into<String>) -> Self {
        self.artifact_hash = Some(h.into());
        self
    }
    pub fn root_kind(mut self, k: SpanKind) -> Self {
        self.root_kind = Some(k.as_str().to_string());
        self
    }
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    fn where_clause(&self) -> (String, Vec<SqlValue>) {
        let mut conds = Vec::new();
        let mut args: Vec<SqlValue> = Vec::new();
        let mut add = |cond: &str, v: SqlValue| {
            args.push(v);
            conds.push(cond.replace('?', &format!("?{}", args.len())));
        };
        if let Some(p) = &self.program {
            add("program = ?", SqlValue::Text(p.clone()));
        }
        if let Some(s) = &self.status {
            add("status = ?", SqlValue::Text(s.clone()));
        }
        if let Some(t) = self.since_ns {
            add("start_ns >= ?", SqlValue::Integer(t as i64));
        }
        if let Some(t) = self.until_ns {
            add("start_ns < ?", SqlValue::Integer(t as i64));
        }
        if let Some(c) = self.compiled {
            add("compiled = ?", SqlValue::Integer(i64::from(c)));
        }
        if let Some(h) = &self.artifact_hash {
            add("artifact_hash = ?", SqlValue::Text(h.clone()));
        }
        if let Some(k) = &self.root_kind {
            add("root_kind = ?", SqlValue::Text(k.clone()));
        }
        let clause = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        (clause, args)
    }
}

/// One trace, as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    pub trace_id: String,
    pub program: String,
    pub root_name: String,
    pub root_kind: String,
    pub compiled: bool,
    pub artifact_hash: Option<String>,
    pub optimizer: Option<String>,
    pub model: Option<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub duration_ms: f64,
    pub status: String,
    pub error: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub cost_usd: f64,
    pub lm_calls: u64,
    /// The root's inputs as JSON (absent when inputs are not recorded).
    pub inputs: Option<String>,
    /// The score, for evaluation traces.
    pub score: Option<f64>,
}

/// A span with its children, in start order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanNode {
    pub span: Span,
    pub children: Vec<SpanNode>,
}

impl SpanNode {
    /// Every span in the tree, depth first.
    pub fn flatten(&self) -> Vec<&Span> {
        let mut out = vec![&self.span];
        for c in &self.children {
            out.extend(c.flatten());
        }
        out
    }
}

/// A compile run and its trials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompileRun {
    pub compile: Span,
    pub trials: Vec<Span>,
}

/// Per program and hour: volume, errors, latency percentiles, tokens and cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HourlyStats {
    pub program: String,
    /// Start of the hour, ns since the epoch.
    pub hour_start_ns: u64,
    pub traces: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

const TRACE_COLUMNS: &str = "trace_id, program, root_name, root_kind, compiled, artifact_hash, optimizer, model, \
     start_ns, end_ns, status, error, input_tokens, output_tokens, cached_tokens, cost_usd, lm_calls, inputs, score";
const SPAN_COLUMNS: &str = "trace_id, span_id, parent_id, kind, name, start_ns, end_ns, status, status_message, attributes, events";
const HOUR_NS: u64 = 3_600_000_000_000;

fn trace_row(r: &Row<'_>) -> rusqlite::Result<TraceSummary> {
    let start_ns = r.get::<_, i64>(8)? as u64;
    let end_ns = r.get::<_, i64>(9)? as u64;
    Ok(TraceSummary {
        trace_id: r.get(0)?,
        program: r.get(1)?,
        root_name: r.get(2)?,
        root_kind: r.get(3)?,
        compiled: r.get(4)?,
        artifact_hash: r.get(5)?,
        optimizer: r.get(6)?,
        model: r.get(7)?,
        start_ns,
        end_ns,
        duration_ms: end_ns.saturating_sub(start_ns) as f64 / 1e6,
        status: r.get(10)?,
        error: r.get(11)?,
        input_tokens: r.get::<_, i64>(12)? as u64,
        output_tokens: r.get::<_, i64>(13)? as u64,
        cached_tokens: r.get::<_, i64>(14)? as u64,
        cost_usd: r.get(15)?,
        lm_calls: r.get::<_, i64>(16)? as u64,
        inputs: r.get(17)?,
        score: r.get(18)?,
    })
}

fn span_row(r: &Row<'_>) -> rusqlite::Result<Span> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad {what}").into(),
        )
    };
    let trace_id: String = r.get(0)?;
    let span_id: String = r.get(1)?;
    let parent: Option<String> = r.get(2)?;
    let kind: String = r.get(3)?;
    let status: String = r.get(7)?;
    let message: Option<String> = r.get(8)?;
    let attributes: String = r.get(9)?;
    let events: Option<String> = r.get(10)?;
    Ok(Span {
        trace_id: TraceId::from_hex(&trace_id).ok_or_else(|| bad(0, "trace id"))?,
        span_id: SpanId::from_hex(&span_id).ok_or_else(|| bad(1, "span id"))?,
        parent_id: match parent {
            Some(p) => Some(SpanId::from_hex(&p).ok_or_else(|| bad(2, "parent id"))?),
            None => None,
        },
        kind: SpanKind::parse(&kind).ok_or_else(|| bad(3, "kind"))?,
        name: r.get(4)?,
        start_ns: r.get::<_, i64>(5)? as u64,
        end_ns: r.get::<_, i64>(6)? as u64,
        status: match status.as_str() {
            "ok" => SpanStatus::Ok,
            "cancelled" => SpanStatus::Cancelled,
            _ => SpanStatus::Error(message.unwrap_or_default()),
        },
        attributes: serde_json::from_str::<Attributes>(&attributes)
            .map_err(|_| bad(9, "attributes"))?,
        events: match events {
            Some(e) => serde_json::from_str::<Vec<SpanEvent>>(&e).map_err(|_| bad(10, "events"))?,
            None => Vec::new(),
        },
    })
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Store {
    /// Traces matching `filter`, newest first.
    pub fn traces(&self, filter: &TraceFilter) -> Result<Vec<TraceSummary>, StoreError> {
        let (clause, mut args) = filter.where_clause();
        let limit = filter.limit.unwrap_or(100);
        let limit_sql = if limit == 0 {
            String::new()
        } else {
            args.push(SqlValue::Integer(limit as i64));
            format!("LIMIT ?{}", args.len())
        };
        let sql = format!(
            "SELECT {TRACE_COLUMNS} FROM traces {clause} ORDER BY start_ns DESC {limit_sql}"
        );
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), trace_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One trace's summary.
    pub fn trace(&self, trace_id: &str) -> Result<Option<TraceSummary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {TRACE_COLUMNS} FROM traces WHERE trace_id = ?1"
        ))?;
        let mut rows = stmt.query_map([trace_id], trace_row)?;
        Ok(rows.next().transpose()?)
    }

    /// The full id of the one trace whose id starts with `prefix` (case-insensitive),
    /// `None` when none does; an error when several do.
    pub fn resolve_trace_id(&self, prefix: &str) -> Result<Option<String>, StoreError> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid(format!(
                "`{prefix}` is not a trace id (hex digits)"
            )));
        }
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT DISTINCT trace_id FROM spans WHERE trace_id >= ?1 AND trace_id < ?2 LIMIT 2",
        )?;
        // Hex ids sort as text: every id with the prefix lies in [prefix, prefix + 'g').
        let upper = format!("{prefix}g");
        let ids: Vec<String> = stmt
            .query_map([&prefix, &upper], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        match ids.len() {
            0 => Ok(None),
            1 => Ok(ids.into_iter().next()),
            _ => Err(StoreError::Invalid(format!(
                "trace id prefix `{prefix}` matches several traces; give more digits"
            ))),
        }
    }

    /// Every stored span of a trace, in start order.
    pub fn spans(&self, trace_id: &str) -> Result<Vec<Span>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id = ?1 ORDER BY start_ns, span_id"
        ))?;
        let rows = stmt.query_map([trace_id], span_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A trace's span tree from its root. Spans whose parent is missing (a trace
    /// still being written) hang off the root.
    pub fn trace_tree(&self, trace_id: &str) -> Result<Option<SpanNode>, StoreError> {
        let spans = self.spans(trace_id)?;
        let ids: std::collections::HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
        let Some(root) = spans.iter().find(|s| s.parent_id.is_none()).cloned() else {
            return Ok(None);
        };
        let mut by_parent: HashMap<SpanId, Vec<Span>> = HashMap::new();
        for s in spans {
            if s.span_id == root.span_id {
                continue;
            }
            let parent = s
                .parent_id
                .filter(|p| ids.contains(p))
                .unwrap_or(root.span_id);
            by_parent.entry(parent).or_default().push(s);
        }
        fn build(span: Span, by_parent: &mut HashMap<SpanId, Vec<Span>>) -> SpanNode {
            let children = by_parent.remove(&span.span_id).unwrap_or_default();
            SpanNode {
                children: children.into_iter().map(|c| build(c, by_parent)).collect(),
                span,
            }
        }
        Ok(Some(build(root, &mut by_parent)))
    }

    /// Compile runs (newest first), each with its trials in start order.
    pub fn compile_runs(
        &self,
        program: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CompileRun>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {SPAN_COLUMNS} FROM spans WHERE kind = 'compile' ORDER BY start_ns DESC LIMIT ?1"
        ))?;
        let compiles: Vec<Span> = stmt
            .query_map([limit.max(1) as i64 * 4], span_row)?
            .collect::<Result<_, _>>()?;
        let mut trials_stmt = conn.prepare(&format!(
            "SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id = ?1 AND kind = 'trial' ORDER BY start_ns"
        ))?;
        let mut out = Vec::new();
        for c in compiles {
            let name = c
                .attr_str(sigil::trace::keys::PROGRAM_NAME)
                .unwrap_or(&c.name);
            if program.is_some_and(|p| p != name) {
                continue;
            }
            let trials: Vec<Span> = trials_stmt
                .query_map([c.trace_id.to_hex()], span_row)?
                .collect::<Result<Vec<_>, _>>()?;
            out.push(CompileRun { compile: c, trials });
            if out.len() >= limit.max(1) {
                break;
            }
        }
        Ok(out)
    }

    /// Aggregates per program and hour over the traces `filter` selects (its limit is
    /// ignored). Hours in ascending order.
    pub fn hourly_stats(&self, filter: &TraceFilter) -> Result<Vec<HourlyStats>, StoreError> {
        let (clause, args) = filter.where_clause();
        let sql = format!(
            "SELECT program, start_ns, end_ns, status, input_tokens, output_tokens, cost_usd FROM traces {clause} \
             ORDER BY program, start_ns"
        );
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out: Vec<(HourlyStats, Vec<f64>)> = Vec::new();
        while let Some(r) = rows.next()? {
            let program: String = r.get(0)?;
            let start = r.get::<_, i64>(1)? as u64;
            let end = r.get::<_, i64>(2)? as u64;
            let status: String = r.get(3)?;
            let hour = start - start % HOUR_NS;
            let fresh = out
                .last()
                .is_none_or(|(h, _)| h.program != program || h.hour_start_ns != hour);
            if fresh {
                out.push((
                    HourlyStats {
                        program,
                        hour_start_ns: hour,
                        traces: 0,
                        errors: 0,
                        error_rate: 0.0,
                        p50_ms: 0.0,
                        p95_ms: 0.0,
                        input_tokens: 0,
                        output_tokens: 0,
                        cost_usd: 0.0,
                    },
                    Vec::new(),
                ));
            }
            let Some((h, latencies)) = out.last_mut() else {
                continue;
            };
            h.traces += 1;
            h.errors += u64::from(status == "error");
            h.input_tokens += r.get::<_, i64>(4)? as u64;
            h.output_tokens += r.get::<_, i64>(5)? as u64;
            h.cost_usd += r.get::<_, f64>(6)?;
            latencies.push(end.saturating_sub(start) as f64 / 1e6);
        }
        let mut stats: Vec<HourlyStats> = out
            .into_iter()
            .map(|(mut h, mut lat)| {
                lat.sort_by(f64::total_cmp);
                h.p50_ms = percentile(&lat, 50.0);
                h.p95_ms = percentile(&lat, 95.0);
                h.error_rate = h.errors as f64 / h.traces.max(1) as f64;
                h
            })
            .collect();
        stats.sort_by(|a, b| {
            a.hour_start_ns
                .cmp(&b.hour_start_ns)
                .then_with(|| a.program.cmp(&b.program))
        });
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
