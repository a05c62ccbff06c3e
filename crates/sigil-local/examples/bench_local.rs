//! The embedded engine's side of `bench/local_bench.sh`: reads the shared workload JSON
//! written by `bench/python/local_llama_cpp.py` and prints one JSON line (prefill and
//! decode tokens/s, wall time of the 60-query Banking77 workload).
//!
//! `cargo run --release -p sigil-local --example bench_local -- MODEL WORKLOAD_JSON`
use std::time::Instant;

use sigil::lm::{Lm, LmRequest, Message, OutputConstraint};
use sigil_local::{LocalConfig, LocalLm};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bench_local MODEL WORKLOAD_JSON");
        std::process::exit(2);
    }
    let w: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&args[2]).expect("workload")).expect("json");
    let msgs = |v: &serde_json::Value| -> Vec<Message> {
        serde_json::from_value(v.clone()).expect("messages")
    };
    let lm = std::sync::Arc::new(
        LocalLm::load(std::path::Path::new(&args[1]), LocalConfig::default()).expect("model"),
    );
    let m = lm.model();
    let render = |ms: &[Message]| {
        m.tokenizer
            .encode(&m.template.render(ms).expect("template"), true)
    };

    let ptoks = render(&msgs(&w["prefill_messages"]));
    let mut best = f64::MAX;
    for _ in 0..3 {
        let mut c = m.new_cache();
        let t = Instant::now();
        m.llama.forward(&ptoks, &mut c).expect("prefill");
        best = best.min(t.elapsed().as_secs_f64());
    }
    let prefill = ptoks.len() as f64 / best;

    let dtoks = render(&msgs(&w["decode_messages"]));
    let mut c = m.new_cache();
    let mut logits = m.llama.forward(&dtoks, &mut c).expect("prompt");
    let t = Instant::now();
    for _ in 0..128 {
        let tok = sigil_local::sampler::argmax(&logits);
        logits = m.llama.forward(&[tok], &mut c).expect("decode");
    }
    let decode = 128.0 / t.elapsed().as_secs_f64();

    let labels: Vec<String> = serde_json::from_value(w["labels"].clone()).expect("labels");
    let queries = w["queries"].as_array().expect("queries");

    // Batching: the same 16 calls (distinct questions after a shared prefix, 32 greedy
    // tokens each, unconstrained) one at a time and 8 at a time through `Lm::call`.
    let batch_reqs: Vec<LmRequest> = queries
        .iter()
        .take(16)
        .map(|q| {
            let mut r = LmRequest::new(msgs(&q["messages"]));
            r.params.max_tokens = Some(32);
            r.params.temperature = Some(0.0);
            r
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Warm the prefix cache so both runs start from the same state.
    rt.block_on(lm.call(batch_reqs[0].clone()))
        .expect("warm-up");
    let calls_per_s = |conc: usize| -> (f64, usize) {
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let t = Instant::now();
        let tokens: usize = rt.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..conc {
                let (lm, next, reqs) = (lm.clone(), next.clone(), batch_reqs.clone());
                tasks.push(tokio::spawn(async move {
                    let mut toks = 0;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(r) = reqs.get(i) else { return toks };
                        toks +=
                            lm.call(r.clone()).await.expect("call").usage.output_tokens as usize;
                    }
                }));
            }
            let mut n = 0;
            for t in tasks {
                n += t.await.expect("task");
            }
            n
        });
        (batch_reqs.len() as f64 / t.elapsed().as_secs_f64(), tokens)
    };
    let (c1, tok1) = calls_per_s(1);
    let (c8, tok8) = calls_per_s(8);
    assert_eq!(
        tok1, tok8,
        "batched calls decoded a different number of tokens"
    );

    if std::env::var_os("SIGIL_BENCH_QUICK").is_some() {
        println!(
            "{}",
            serde_json::json!({
                "engine": format!("sigil-local ({})", sigil_local::simd_level()),
                "prefill_tokens": ptoks.len(),
                "prefill_tok_s": prefill,
                "decode_tok_s": decode,
                "calls_per_s_c1": c1,
                "calls_per_s_c8": c8,
            })
        );
        return;
    }
    let t = Instant::now();
    let mut correct = 0;
    for q in queries {
        let mut r = LmRequest::new(msgs(&q["messages"]));
        r.params.max_tokens = Some(16);
        r.constraint = Some(OutputConstraint::Choice {
            choices: labels.clone(),
        });
        let g = lm.generate(&r).expect("generate");
        correct += usize::from(g.text.trim() == q["label"].as_str().unwrap_or(""));
    }
    let wall = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "engine": format!("sigil-local ({})", sigil_local::simd_level()),
            "prefill_tokens": ptoks.len(),
            "prefill_tok_s": prefill,
            "decode_tok_s": decode,
            "workload_s": wall,
            "workload_accuracy": correct as f64 / queries.len() as f64,
            "calls_per_s_c1": c1,
            "calls_per_s_c8": c8,
            "max_rss_mib": max_rss_mib(),
        })
    );
}

/// Peak resident memory of this process (Linux), in MiB.
fn max_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}
