//! The tracing set-up `sigil` commands use, in one call: the store sink plus, when the
//! environment asks for it, the OTLP exporter.
//!
//! It lives here rather than in the CLI because tests and embedding programs want the
//! same wiring; it costs the store no HTTP client, since the exporter (and its HTTP)
//! belongs to the core `sigil` crate.

use std::path::Path;
use std::sync::Arc;

use sigil::trace::otlp::OtlpExporter;
use sigil::trace::{SpanCollector, TraceEnv};

use crate::{DEFAULT_PATH, StoreSink};

/// A collector writing to the store at `path` (default `.sigil/traces.db`) and, when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, to that
/// OTLP collector too; privacy from `SIGIL_TRACE_INPUTS`/`_OUTPUTS`/`_MESSAGES`. The
/// variables are read by [`TraceEnv`], the one parse of the tracing environment.
///
/// A sink that cannot start (damaged store, bad OTLP settings) is left out and
/// described in the returned problems, for the caller to print once: the program runs
/// with less tracing rather than not at all. A privacy switch with an unrecognised
/// value is a problem too (it stays on).
///
/// ```no_run
/// let (collector, problems) = sigil_store::standard_collector(None);
/// for p in &problems {
///     eprintln!("sigil: {p}");
/// }
/// // ctx.with_hook(collector.clone()) ... collector.flush() before exit
/// ```
pub fn standard_collector(path: Option<&Path>) -> (Arc<SpanCollector>, Vec<String>) {
    standard_collector_from(path, TraceEnv::from_env())
}

/// [`standard_collector`] reading settings through `var` instead of the environment.
pub fn standard_collector_with(
    path: Option<&Path>,
    var: impl Fn(&str) -> Option<String>,
) -> (Arc<SpanCollector>, Vec<String>) {
    standard_collector_from(path, TraceEnv::from_lookup(var))
}

/// [`standard_collector`] with settings already read.
pub fn standard_collector_from(
    path: Option<&Path>,
    env: TraceEnv,
) -> (Arc<SpanCollector>, Vec<String>) {
    let mut problems: Vec<String> = env.unrecognised.iter().map(|e| e.to_string()).collect();
    let mut builder = SpanCollector::builder().privacy(env.privacy);
    let path = path.unwrap_or(Path::new(DEFAULT_PATH));
    match StoreSink::open(path) {
        Ok(sink) => builder = builder.sink(Arc::new(sink)),
        Err(e) => problems.push(format!("traces will not be stored: {e}")),
    }
    if let Some(otlp) = env.otlp {
        match otlp.and_then(OtlpExporter::new) {
            Ok(exporter) => builder = builder.sink(Arc::new(exporter)),
            Err(e) => problems.push(format!("traces will not be exported: {e}")),
        }
    }
    (builder.build(), problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_become_problems_not_failures() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.db");
        std::fs::write(
            &junk,
            b"not a database at all, just some bytes here".repeat(100),
        )
        .unwrap();
        let (_c, problems) = standard_collector_with(Some(&junk), |k| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("ftp://nope".into()),
            _ => None,
        });
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("will not be stored"));
        assert!(problems[1].contains("will not be exported"));
        let (_c, problems) = standard_collector_with(Some(&dir.path().join("ok.db")), |_| None);
        assert!(problems.is_empty(), "{problems:?}");
    }
}
