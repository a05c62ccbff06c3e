//! `sigil traces`: list, show and export stored traces.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sigil::trace::{Span, SpanStatus, keys, now_ns};
use sigil_store::{SpanNode, Store, TraceFilter, TraceSummary};

/// List, show and export stored traces.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trace store.
    #[arg(long, global = true, default_value = sigil_store::DEFAULT_PATH)]
    pub store: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Traces, newest first.
    List(ListArgs),
    /// One trace's span tree with timings, tokens and cost.
    Show(ShowArgs),
    /// Every span of the selected traces, one JSON object per line.
    Export(ExportArgs),
}

/// Which traces: shared by `list` and `export`.
#[derive(clap::Args, Debug)]
pub struct Filters {
    /// Only this program.
    #[arg(long)]
    pub program: Option<String>,
    /// Only traces with this status.
    #[arg(long, value_parser = ["ok", "error", "cancelled"])]
    pub status: Option<String>,
    /// Only traces that started within this long ago (e.g. 30m, 1h, 7d).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Only traces that ran compiled prompts.
    #[arg(long, conflicts_with = "uncompiled")]
    pub compiled: bool,
    /// Only traces that ran uncompiled prompts.
    #[arg(long)]
    pub uncompiled: bool,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// At most this many traces (0: all).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// One JSON array of trace summaries instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The trace id, or a unique prefix of it.
    pub trace_id: String,
    /// The span tree as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// JSON Lines: one span per line (the only format so far; required to say so).
    #[arg(long, required = true)]
    pub jsonl: bool,
    /// Write here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub filters: Filters,
    /// At most this many traces, newest first (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let store = open_store(&args.store)?;
    match &args.command {
        Command::List(a) => list(&store, a),
        Command::Show(a) => show(&store, a),
        Command::Export(a) => export(&store, a),
    }
}

/// Opens an existing store: reading commands never create one.
pub(crate) fn open_store(path: &Path) -> anyhow::Result<Store> {
    if !path.exists() {
        bail!(
            "no trace store at {} (traced runs create it; pass --store PATH for another one)",
            path.display()
        );
    }
    Ok(Store::open(path)?)
}

impl Filters {
    fn to_filter(&self, limit: usize) -> anyhow::Result<TraceFilter> {
        let mut f = TraceFilter::default().limit(limit);
        if let Some(p) = &self.program {
            f = f.program(p.clone());
        }
        if let Some(s) = &self.status {
            f = f.status(s.clone());
        }
        if let Some(since) = &self.since {
            let d = sigil_alerts::parse_window(since).with_context(|| {
                format!("--since `{since}` is not a duration like 30m, 1h or 7d")
            })?;
            f = f.since_ns(now_ns().saturating_sub(d.as_nanos() as u64));
        }
        if self.compiled {
            f = f.compiled(true);
        }
        if self.uncompiled {
            f = f.compiled(false);
        }
        Ok(f)
    }
}

fn list(store: &Store, a: &ListArgs) -> anyhow::Result<()> {
    let traces = store.traces(&a.filters.to_filter(a.limit)?)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &traces)?;
        writeln!(out)?;
        return Ok(());
    }
    if traces.is_empty() {
        writeln!(out, "no traces match")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<32}  {:<20}  {:<19}  {:<9}  {:>10}  {:>6}  {:>13}  {:>10}  KIND",
        "TRACE",
        "PROGRAM",
        "STARTED (UTC)",
        "STATUS",
        "DURATION",
        "CALLS",
        "TOKENS IN/OUT",
        "COST $",
    )?;
    for t in &traces {
        writeln!(
            out,
            "{:<32}  {:<20}  {:<19}  {:<9}  {:>10}  {:>6}  {:>13}  {:>10.6}  {}{}",
            t.trace_id,
            clip(&t.program, 20),
            utc(t.start_ns),
            t.status,
            ms(t.duration_ms),
            t.lm_calls,
            format!("{}/{}", t.input_tokens, t.output_tokens),
            t.cost_usd,
            t.root_kind,
            if t.compiled { " (compiled)" } else { "" },
        )?;
    }
    Ok(())
}

fn show(store: &Store, a: &ShowArgs) -> anyhow::Result<()> {
    let id = store
        .resolve_trace_id(&a.trace_id)?
        .with_context(|| format!("no trace `{}` in {}", a.trace_id, store.path().display()))?;
    let tree = store
        .trace_tree(&id)?
        .with_context(|| format!("trace {id} has no root span yet"))?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &node_json(&tree))?;
        writeln!(out)?;
        return Ok(());
    }
    let summary: Option<TraceSummary> = store.trace(&id)?;
    let program = summary
        .as_ref()
        .map(|s| s.program.clone())
        .unwrap_or_else(|| tree.span.name.clone());
    writeln!(
        out,
        "trace {id}  {program}  started {} UTC  {} spans",
        utc(tree.span.start_ns),
        tree.flatten().len()
    )?;
    print_node(&mut out, &tree, "", true, true)?;
    Ok(())
}

fn print_node(
    out: &mut impl Write,
    node: &SpanNode,
    prefix: &str,
    last: bool,
    root: bool,
) -> std::io::Result<()> {
    let (branch, next) = match (root, last) {
        (true, _) => ("", String::new()),
        (false, true) => ("└─ ", format!("{prefix}   ")),
        (false, false) => ("├─ ", format!("{prefix}│  ")),
    };
    writeln!(out, "{prefix}{branch}{}", describe(&node.span))?;
    for (i, c) in node.children.iter().enumerate() {
        print_node(out, c, &next, i + 1 == node.children.len(), false)?;
    }
    Ok(())
}

/// One line per span: kind, name, duration, status, then tokens, cost and the
/// kind's key numbers.
fn describe(s: &Span) -> String {
    // `compile BootstrapFewShot`, `trial 3`: names that already say their kind.
    let label = if s.name.split(' ').next() == Some(s.kind.as_str()) {
        s.name.clone()
    } else {
        format!("{} {}", s.kind.as_str(), s.name)
    };
    let mut line = format!("{label}  {}", ms(s.duration_ms()));
    match &s.status {
        SpanStatus::Ok => {}
        SpanStatus::Cancelled => line.push_str("  CANCELLED"),
        SpanStatus::Error(m) => {
            line.push_str("  ERROR");
            if !m.is_empty() {
                line.push_str(&format!(": {}", clip(m.lines().next().unwrap_or(""), 100)));
            }
        }
    }
    let int = |k: &str| s.attr_i64(k);
    let tokens = int(keys::USAGE_INPUT_TOKENS)
        .zip(int(keys::USAGE_OUTPUT_TOKENS))
        .or(int(keys::GEN_AI_INPUT_TOKENS).zip(int(keys::GEN_AI_OUTPUT_TOKENS)));
    if let Some((i, o)) = tokens.filter(|(i, o)| i + o > 0) {
        line.push_str(&format!("  tokens {i} in / {o} out"));
    }
    if let Some(c) = s
        .attr_f64(keys::USAGE_COST_USD)
        .or(s.attr_f64(keys::LM_COST_USD))
        .filter(|c| *c > 0.0)
    {
        line.push_str(&format!("  ${c:.6}"));
    }
    if let Some(n) = int(keys::USAGE_LM_CALLS).filter(|n| *n > 0) {
        line.push_str(&format!("  {n} LM call{}", if n == 1 { "" } else { "s" }));
    }
    if s.attr(keys::LM_CACHE_HIT).and_then(|v| v.as_bool()) == Some(true) {
        line.push_str("  (cached)");
    }
    for (key, label) in [
        (keys::EVAL_SCORE, "score"),
        (keys::TRIAL_SCORE, "score"),
        (keys::COMPILE_BEST_SCORE, "best score"),
    ] {
        if let Some(v) = s.attr_f64(key) {
            line.push_str(&format!("  {label} {v:.4}"));
        }
    }
    if let Some(d) = s.attr_str(keys::TRIAL_DEMOS) {
        line.push_str(&format!("  demos {d}"));
    }
    line
}

fn export(store: &Store, a: &ExportArgs) -> anyhow::Result<()> {
    let traces = store.traces(&a.filters.to_filter(a.limit)?)?;
    let mut sink: Box<dyn Write> = match &a.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut n = 0usize;
    // Oldest trace first, spans in start order: the file reads as a timeline.
    for t in traces.iter().rev() {
        for span in store.spans(&t.trace_id)? {
            serde_json::to_writer(&mut sink, &span_json(&span))?;
            sink.write_all(b"\n")?;
            n += 1;
        }
    }
    sink.flush()?;
    if let Some(path) = &a.out {
        eprintln!(
            "wrote {n} spans of {} traces to {}",
            traces.len(),
            path.display()
        );
    }
    Ok(())
}

/// A span as exported: ids in their hex (OTLP/W3C) text form, times in ns since the
/// epoch, the status as a string with its message, attributes and events as stored.
fn span_json(s: &Span) -> serde_json::Value {
    let (status, message) = match &s.status {
        SpanStatus::Ok => ("ok", None),
        SpanStatus::Cancelled => ("cancelled", None),
        SpanStatus::Error(m) => ("error", Some(m.as_str())),
    };
    serde_json::json!({
        "trace_id": s.trace_id.to_hex(),
        "span_id": s.span_id.to_hex(),
        "parent_id": s.parent_id.map(|p| p.to_hex()),
        "kind": s.kind.as_str(),
        "name": s.name,
        "start_ns": s.start_ns,
        "end_ns": s.end_ns,
        "duration_ms": s.duration_ms(),
        "status": status,
        "status_message": message,
        "attributes": s.attributes,
        "events": s.events,
    })
}

/// A span tree: each span as [`span_json`] with its `children`.
fn node_json(n: &SpanNode) -> serde_json::Value {
    let mut v = span_json(&n.span);
    v["children"] = n.children.iter().map(node_json).collect();
    v
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        format!("{v:.2} ms")
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(n.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a time in ns since the epoch.
fn utc(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000_000_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_795_000_000_000_000_000), "2026-11-18 11:06:40");
    }

    #[test]
    fn clip_keeps_short_text() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
