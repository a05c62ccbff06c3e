//! Store ingest throughput: real spans (from traced Predict calls: module, format, LM
//! with messages, parse) written in collector-sized batches.
//!
//!   cargo bench -p sigil-store --bench ingest [-- SPANS]
//!
//! Prints {"case": "store_ingest", "spans", "batch", "seconds", "spans_per_s",
//! "cpu_seconds", "spans_per_cpu_s", "runqueue_wait_seconds",
//! "spans_per_s_excluding_runqueue_wait"}: wall-clock throughput, throughput per
//! second of the writing thread's CPU time (what one free core sustains), and the
//! wall-clock time the thread was ready but other processes held both cores.

use std::sync::Arc;
use std::time::Instant;

use sigil::module::{Ctx, Module, Predict};
use sigil::prelude::Example;
use sigil::trace::{MemorySink, Span, SpanCollector, SpanId, TraceId};
use sigil_store::{Retention, Store};
use sigil_testkit::ScriptedLm;

/// This thread's CPU time and its time spent runnable but waiting for a core (ns),
/// from /proc/thread-self/schedstat: the first is robust to a busy machine, the
/// second says how much of the wall clock other processes took.
fn thread_sched_ns() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut f = text
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap_or(0));
    (f.next().unwrap_or(0), f.next().unwrap_or(0))
}

fn main() {
    let total: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let batch = 1024;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sample: Vec<Span> = rt.block_on(async {
        let sink = Arc::new(MemorySink::default());
        let collector = SpanCollector::builder().sink(sink.clone()).build();
        let lm = ScriptedLm::from_fn(|_| {
            Ok(sigil_testkit::chat(&[("answer", "Paris is the capital.")]))
        });
        let ctx = Ctx::new(lm).with_hook(collector.clone());
        let p = Predict::parse("question -> answer").expect("signature");
        for i in 0..250 {
            let q = format!("Question {i}: what is the capital of France, and why?");
            p.call(&ctx, Example::new().input("question", q))
                .await
                .expect("call");
        }
        collector.flush();
        sink.take()
    });
    let bytes: usize = sample
        .iter()
        .map(|s| {
            serde_json::to_string(&s.attributes)
                .map(|a| a.len())
                .unwrap_or(0)
        })
        .sum();
    eprintln!(
        "sample: {} spans, {} attribute bytes per span on average",
        sample.len(),
        bytes / sample.len().max(1)
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("traces.db"))
        .expect("store")
        .with_retention(Retention::unlimited());
    let mut spans: Vec<Span> = Vec::with_capacity(total);
    while spans.len() < total {
        // Fresh ids per copy of the sample, parents remapped within each trace.
        let mut map = std::collections::HashMap::new();
        let mut traces = std::collections::HashMap::new();
        for s in &sample {
            let mut c = s.clone();
            c.trace_id = *traces.entry(s.trace_id).or_insert_with(TraceId::new);
            c.span_id = *map.entry(s.span_id).or_insert_with(SpanId::new);
            c.parent_id = s
                .parent_id
                .map(|p| *map.entry(p).or_insert_with(SpanId::new));
            spans.push(c);
        }
    }
    spans.truncate(total);
    let (cpu0, wait0) = thread_sched_ns();
    let start = Instant::now();
    for chunk in spans.chunks(batch) {
        store.write_spans(chunk).expect("write");
    }
    let secs = start.elapsed().as_secs_f64();
    let (cpu1, wait1) = thread_sched_ns();
    let cpu_secs = (cpu1 - cpu0) as f64 / 1e9;
    let wait_secs = (wait1 - wait0) as f64 / 1e9;
    println!(
        "{}",
        serde_json::json!({
            "case": "store_ingest",
            "spans": total,
            "batch": batch,
            "seconds": secs,
            "spans_per_s": total as f64 / secs,
            "cpu_seconds": cpu_secs,
            "spans_per_cpu_s": total as f64 / cpu_secs,
            // Wall time minus the time other processes held the cores: what this
            // machine sustains when the writer has a core to itself.
            "runqueue_wait_seconds": wait_secs,
            "spans_per_s_excluding_runqueue_wait": total as f64 / (secs - wait_secs).max(1e-9),
        })
    );
    assert_eq!(store.span_count().expect("count") as usize, total);
}
