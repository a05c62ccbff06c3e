//! Per-call cost of tracing, measured like bench/src/bin/overhead.rs (Predict against
//! a zero-latency LM): no hooks, a collector with no sinks, and a collector writing to
//! the SQLite store. Cases are interleaved and repeated; the best run of each counts.
//!
//!   cargo bench -p sigil-store --bench trace_overhead [-- CALLS ROUNDS]
//!
//! Prints one JSON line per case: wall time per call (best round), the calling
//! thread's CPU time per call (what tracing adds to the program's own thread), and the
//! whole process's CPU time per call (including the collector and store threads).
//! CPU times come from /proc/*/schedstat, so they hold up on a busy machine where
//! wall times do not.

use std::sync::Arc;
use std::time::Instant;

use sigil::lm::{Lm, LmError, LmRequest, LmResponse, Usage};
use sigil::module::{Ctx, Module, Predict, TraceRecorder, bind_paths};
use sigil::prelude::Example;
use sigil::trace::SpanCollector;
use sigil_store::{Retention, Store, StoreSink};

struct ConstLm(String);

#[async_trait::async_trait]
impl Lm for ConstLm {
    fn model_id(&self) -> String {
        "fake/const".into()
    }
    async fn call(&self, _request: LmRequest) -> Result<LmResponse, LmError> {
        Ok(LmResponse {
            text: self.0.clone(),
            model: "fake/const".into(),
            usage: Usage {
                input_tokens: 50,
                output_tokens: 5,
                cached_tokens: 0,
                cost_usd: 0.0,
            },
            ..Default::default()
        })
    }
}

/// CPU time (ns) of one thread, or of every thread of the process, from /proc.
fn cpu_ns(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
fn process_cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.flatten()
        .map(|t| cpu_ns(&format!("{}/schedstat", t.path().display())))
        .sum()
}

struct Run {
    wall_us: f64,
    caller_cpu_us: f64,
}

/// Wall time and the calling thread's CPU time per call.
/// A hook that ignores every event: the cost of emitting them.
struct Noop;
impl sigil::trace::Hook for Noop {}

async fn time_calls(p: &Predict, ctx: &Ctx, calls: usize) -> Run {
    let input = Example::new().input("question", "What is the capital of France?");
    let cpu0 = cpu_ns("/proc/thread-self/schedstat");
    let start = Instant::now();
    for _ in 0..calls {
        if p.forward(ctx, input.clone()).await.is_err() {
            eprintln!("call failed");
            std::process::exit(1);
        }
    }
    let wall_us = start.elapsed().as_secs_f64() * 1e6 / calls as f64;
    let caller_cpu_us = (cpu_ns("/proc/thread-self/schedstat") - cpu0) as f64 / 1e3 / calls as f64;
    Run {
        wall_us,
        caller_cpu_us,
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let calls = args.first().copied().unwrap_or(20_000);
    let rounds = args.get(1).copied().unwrap_or(5);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    rt.block_on(async {
        let answer = "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]".to_string();
        let recorder = TraceRecorder::new();
        let base = Ctx::from_arc(Arc::new(ConstLm(answer))).with_recorder(Some(recorder.clone()));
        let p = Predict::parse("question -> answer").expect("signature");
        bind_paths(&p as &dyn Module);

        let empty = SpanCollector::builder().build();
        let store = Store::open(dir.path().join("traces.db"))
            .expect("store")
            .with_retention(Retention::unlimited());
        let sink = Arc::new(StoreSink::new(store));
        let stored = SpanCollector::builder().sink(sink.clone()).build();
        let cases: Vec<(&str, Ctx)> = vec![
            ("no_hooks", base.clone()),
            ("noop_hook", base.with_hook(Arc::new(Noop))),
            ("collector_no_sinks", base.with_hook(empty.clone())),
            ("collector_sqlite_store", base.with_hook(stored.clone())),
            // One trace in 32 recorded whole (Ctx::with_trace_sampling).
            (
                "collector_sqlite_store_sampled_1_in_32",
                base.with_hook(stored.clone())
                    .with_trace_sampling(1.0 / 32.0),
            ),
        ];
        // Optional: only the cases whose name contains this (for profiling).
        let only = std::env::var("TRACE_BENCH_ONLY").unwrap_or_default();
        let cases: Vec<(&str, Ctx)> = cases
            .into_iter()
            .filter(|(n, _)| n.contains(only.as_str()))
            .collect();
        for (_, ctx) in &cases {
            time_calls(&p, ctx, calls / 10).await;
        }
        let n = cases.len();
        let (mut wall, mut caller, mut total) = (
            vec![f64::INFINITY; n],
            vec![f64::INFINITY; n],
            vec![f64::INFINITY; n],
        );
        for _ in 0..rounds {
            for (i, (_, ctx)) in cases.iter().enumerate() {
                let cpu0 = process_cpu_ns();
                let run = time_calls(&p, ctx, calls).await;
                // Include the background work: wait until the collector delivered everything.
                stored.flush();
                empty.flush();
                let all_us = (process_cpu_ns() - cpu0) as f64 / 1e3 / calls as f64;
                recorder.take();
                wall[i] = wall[i].min(run.wall_us);
                caller[i] = caller[i].min(run.caller_cpu_us);
                total[i] = total[i].min(all_us);
            }
        }
        for (i, (name, _)) in cases.iter().enumerate() {
            println!(
                "{}",
                serde_json::json!({
                    "case": name,
                    "calls": calls,
                    "us_per_call": wall[i],
                    "caller_cpu_us_per_call": caller[i],
                    "process_cpu_us_per_call": total[i],
                    "caller_cpu_vs_no_hooks": caller[i] / caller[0] - 1.0,
                })
            );
        }
        let stats = stored.stats();
        eprintln!(
            "store: {} spans stored, {} dropped",
            sink.store().span_count().unwrap_or(0),
            stats.dropped
        );
    });
}
