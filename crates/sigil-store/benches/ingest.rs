//! Store ingest throughput: real spans (from traced Predict calls: module, format, LM
//! with messages, parse) written in collector-sized batches.
//!
//!   cargo bench -p sigil-store --bench ingest [-- SPANS]
//!
//! Prints {"case": "store_ingest", "spans", "batch", "seconds", "spans_per_s",
//! "cpu_seconds", "spans_per_cpu_s"}: wall-clock throughput, and throughput per second
//! of the writing thread's CPU time (what one free core sustains).

use std::sync::Arc;
use std::time::Instant;

use sigil::module::{Ctx, Module, Predict};
use sigil::prelude::Example;
use sigil::testing::ScriptedLm;
use sigil::trace::{MemorySink, Span, SpanCollector, SpanId, TraceId};
use sigil_store::{Retention, Store};

/// CPU time of this thread (ns), from /proc: robust to a busy machine.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
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
            Ok("[[ ## answer ## ]]\nParis is the capital.\n\n[[ ## completed ## ]]".into())
        });
        let ctx = Ctx::new(lm).with_hook(collector.clone());
        let p = Predict::parse("question -> answer").expect("signature");
        for i in 0..250 {
            let q = format!("Question {i}: what is the capital of France, and why?");
            p.forward(&ctx, Example::new().input("question", q))
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
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    for chunk in spans.chunks(batch) {
        store.write_spans(chunk).expect("write");
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = (thread_cpu_ns() - cpu0) as f64 / 1e9;
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
        })
    );
    assert_eq!(store.span_count().expect("count") as usize, total);
}
