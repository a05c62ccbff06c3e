//! Per-call framework overhead of `Predict` against a zero-latency fake LM:
//! format + LM call (returns a constant) + parse + trace capture.
//!
//! Prints one JSON line per case: {"case", "calls", "us_per_call"}. The last line,
//! `predict_0_demos_traced`, is the same Predict with tracing on (a span collector:
//! spans are built on its thread), timed in rounds interleaved with untraced ones;
//! `vs_untraced` is its best round over the best untraced round, minus one. The full
//! measurement, with the SQLite store and the collector thread's CPU time, is
//! `cargo bench -p sigil-store --bench trace_overhead`.
//! Usage: overhead [CALLS]

use std::sync::Arc;
use std::time::Instant;

use sigil::lm::{Lm, LmError, LmRequest, LmResponse};
use sigil::module::{CallCtx, ChainOfThought, Ctx, Module, ModuleError, Predict, ReAct};
use sigil::prelude::{Example, Prediction};
use sigil::trace::SpanCollector;

/// Answers instantly with a fixed completion, like DSPy's DummyLM.
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
            ..Default::default()
        })
    }
}

/// N predictors in sequence; each feeds its answer to the next as the question.
struct Chain {
    steps: Vec<Predict>,
}

#[async_trait::async_trait]
impl Module for Chain {
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let mut question = inputs.get_str("question").unwrap_or_default();
        let mut last = Prediction::default();
        for step in &self.steps {
            last = step
                .call(ctx, Example::new().input("question", question.clone()))
                .await?;
            question = last.get_str("answer").unwrap_or_default();
        }
        Ok(last)
    }
    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        self.steps
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("steps.{i}"), p))
            .collect()
    }
}

fn demos(n: usize) -> Vec<Example> {
    (0..n)
        .map(|i| {
            Example::new()
                .input("question", format!("What is {i} plus {i}?"))
                .set("answer", format!("{}", 2 * i))
        })
        .collect()
}

/// The best of three timed rounds (a shared machine's slow phases hit single rounds).
async fn best_of_3(module: &dyn Module, ctx: &Ctx, calls: usize) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        best = best.min(time_calls(module, ctx, calls).await);
    }
    best
}

async fn time_calls(module: &dyn Module, ctx: &Ctx, calls: usize) -> f64 {
    let input = Example::new().input("question", "What is the capital of France?");
    for _ in 0..calls / 10 {
        let _ = module.call(ctx, input.clone()).await;
    }
    let start = Instant::now();
    for _ in 0..calls {
        let p = module.call(ctx, input.clone()).await;
        if let Err(e) = p {
            eprintln!("call failed: {e}");
            std::process::exit(1);
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / calls as f64
}

fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(async {
        let answer = "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]".to_string();
        // Like DSPy's settings.trace, every call is captured for the optimizers.
        let recorder = sigil::optimize::DemoCapture::new();
        let ctx = Ctx::from_arc(Arc::new(ConstLm(answer))).with_hook(recorder.clone());
        let report = |case: &str, us: f64, calls: usize| {
            emit(&serde_json::json!({"case": case, "calls": calls, "us_per_call": us}));
        };
        for n in [0usize, 4] {
            let p = Predict::parse("question -> answer").map(|p| p.with_demos(demos(n)));
            let Ok(p) = p else { std::process::exit(1) };
            let us = best_of_3(&p, &ctx, calls).await;
            recorder.take();
            report(&format!("predict_{n}_demos"), us, calls);
        }
        let cot_answer = "[[ ## reasoning ## ]]\nIt is Paris.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]".to_string();
        let cot_ctx = Ctx::from_arc(Arc::new(ConstLm(cot_answer))).with_hook(recorder.clone());
        if let Ok(cot) = ChainOfThought::parse("question -> answer") {
            let us = best_of_3(&cot, &cot_ctx, calls).await;
            recorder.take();
            report("chain_of_thought_0_demos", us, calls);
        }
        let chain = Chain { steps: (0..10).filter_map(|_| Predict::parse("question -> answer").ok()).collect() };
        let chain_calls = (calls / 10).max(100);
        let us = best_of_3(&chain, &ctx, chain_calls).await;
        recorder.take();
        report("chain_10_deep", us, chain_calls);

        // ReAct: the framework's cost per iteration (a step's predictor call, the tool
        // call, the trajectory), as the difference of runs of 10 and 2 iterations over
        // 8, with a no-op tool. One completion carries every field, so both predictors
        // parse it (each ignores the others' sections).
        let all = "[[ ## next_thought ## ]]\nCall the tool.\n\n[[ ## next_tool_name ## ]]\nnoop\n\n[[ ## next_tool_args ## ]]\n{}\n\n[[ ## reasoning ## ]]\nDone.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]";
        let react_ctx = Ctx::from_arc(Arc::new(ConstLm(all.to_string()))).with_hook(recorder.clone());
        let noop = sigil::tool::Tool::new("noop", "Does nothing.", serde_json::json!({}), |_| async {
            Ok::<_, std::convert::Infallible>("ok")
        });
        let react = |n| {
            ReAct::parse("question -> answer", vec![noop.clone()]).map(|r| r.with_max_iters(n))
        };
        let (Ok(short), Ok(long)) = (react(2), react(10)) else { std::process::exit(1) };
        let runs = (calls / 20).max(50);
        let (mut t2, mut t10) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..3 {
            t2 = t2.min(time_calls(&short, &react_ctx, runs).await);
            recorder.take();
            t10 = t10.min(time_calls(&long, &react_ctx, runs).await);
            recorder.take();
        }
        emit(&serde_json::json!({
            "case": "react_iteration",
            "calls": 6 * runs,
            "us_per_call": (t10 - t2) / 8.0,
            "us_per_run_2_iters": t2,
            "us_per_run_10_iters": t10,
        }));

        let collector = SpanCollector::builder().build();
        let traced = ctx.with_hook(collector.clone());
        let Ok(p) = Predict::parse("question -> answer") else { std::process::exit(1) };
        let (mut untraced_us, mut traced_us) = (f64::INFINITY, f64::INFINITY);
        let round = (calls / 5).max(100);
        for _ in 0..5 {
            untraced_us = untraced_us.min(time_calls(&p, &ctx, round).await);
            recorder.take();
            traced_us = traced_us.min(time_calls(&p, &traced, round).await);
            collector.flush();
            recorder.take();
        }
        emit(&serde_json::json!({
            "case": "predict_0_demos_traced",
            "calls": 5 * round,
            "us_per_call": traced_us,
            "untraced_us_per_call": untraced_us,
            "vs_untraced": traced_us / untraced_us - 1.0,
        }));
    });
}

/// Prints one JSON line; a closed stdout (`overhead | head -1`) ends the run quietly.
fn emit(line: &serde_json::Value) {
    use std::io::Write;
    if writeln!(std::io::stdout(), "{line}").is_err() {
        std::process::exit(0);
    }
}
