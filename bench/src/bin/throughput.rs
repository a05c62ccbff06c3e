//! Sigil's side of the Evaluate throughput benchmark: `Evaluate` of a `Predict`
//! (`question -> answer`) over N examples at concurrency C against the loopback
//! server (`loopback`), through `OpenAiClient` with no request cache.
//!
//! Usage: throughput BASE_URL N C. Prints one JSON line:
//! {"framework", "examples", "concurrency", "wall_s", "per_s", "accuracy", "errors", "peak_rss_mib",
//! "call_ms_mean", "call_ms_p50", "call_ms_p95"} (the call_ms figures: each example's
//! program call as Evaluate timed it).
//! Peak RSS is the process's VmHWM from /proc/self/status, read after the run (the
//! Python side reads it the same way).

use std::time::Instant;

use sigil::evaluate::{Evaluate, ExactMatch};
use sigil::lm::{OpenAiClient, OpenAiConfig, WithClientOptions};
use sigil::module::{Ctx, Predict};
use sigil::prelude::Example;

/// The process's peak resident set size in MiB (Linux), or 0 when unknown.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn fail(msg: String) -> ! {
    eprintln!("throughput: {msg}");
    std::process::exit(1);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("runtime: {e}")));
    // As `sigil eval` does: the evaluation runs as a task on the runtime's workers, so
    // each response wakes it on the worker that read it.
    rt.block_on(async {
        tokio::spawn(run())
            .await
            .unwrap_or_else(|e| fail(format!("the run panicked: {e}")))
    });
}

async fn run() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, n, c] = args.as_slice() else {
        fail("usage: throughput BASE_URL N CONCURRENCY".into())
    };
    let n: usize = n.parse().unwrap_or_else(|_| fail(format!("bad N `{n}`")));
    let c: usize = c
        .parse()
        .unwrap_or_else(|_| fail(format!("bad concurrency `{c}`")));
    let client = OpenAiClient::new(
        OpenAiConfig::new("openai/loopback")
            .base_url(url.clone())
            .max_concurrency(c.max(1))
            .max_retries(0),
    )
    .unwrap_or_else(|e| fail(format!("client: {e}")));
    let ctx = Ctx::new(client);
    let program =
        Predict::parse("question -> answer").unwrap_or_else(|e| fail(format!("signature: {e}")));
    let examples: Vec<Example> = (0..n)
        .map(|i| {
            Example::new()
                .input("question", format!("What is the capital of France? (#{i})"))
                .set("answer", "Paris")
        })
        .collect();
    let start = Instant::now();
    let report = Evaluate::new(&examples)
        .metric(ExactMatch::new("answer"))
        .concurrency(c)
        .max_errors(None)
        .progress(false)
        .run(&program, &ctx)
        .await
        .unwrap_or_else(|e| fail(format!("evaluate: {e}")));
    let wall = start.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = report
        .results
        .iter()
        .map(|r| r.elapsed.as_secs_f64() * 1e3)
        .collect();
    lat.sort_by(f64::total_cmp);
    let mean_ms = lat.iter().sum::<f64>() / lat.len().max(1) as f64;
    let p50 = lat.get(lat.len() / 2).copied().unwrap_or(0.0);
    let p95 = lat.get(lat.len() * 95 / 100).copied().unwrap_or(0.0);
    println!(
        "{}",
        serde_json::json!({
            "framework": "sigil",
            "examples": n,
            "concurrency": c,
            "wall_s": wall,
            "per_s": n as f64 / wall,
            "accuracy": report.mean,
            "errors": report.errors,
            "peak_rss_mib": peak_rss_mib(),
            "call_ms_mean": mean_ms,
            "call_ms_p50": p50,
            "call_ms_p95": p95,
        })
    );
}
