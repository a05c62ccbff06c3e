//! An agent task end to end on the embedded model, with tools from a real MCP server.
//!
//! The task: "When it is 09:30 in Tokyo, what time is it in Lima?", answered through
//! `mcp-server-time`'s `convert_time` tool (started over stdio). The time zones have
//! no daylight-saving time, so every answer is fixed and checkable: the metric looks
//! for the expected `HH:MM` in the answer. A ReAct program (`question -> answer`, at
//! most 4 steps) runs on the embedded engine, zero-shot and after BootstrapFewShot
//! compiled it on a train split; both are scored on the same test split with a 95%
//! bootstrap interval. Every LM call is traced to memory to count the steps and the
//! parse failures (the by-choice constraint should leave none).
//!
//!   agent --model GGUF --mcp-python PY [--train N] [--test N] [--seed S] [--max-iters N]
//!
//! Prints one JSON line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use sigil::evaluate::{Evaluate, metric_fn};
use sigil::module::{Ctx, ReAct};
use sigil::optimize::{BootstrapFewShot, EngineConfig, Optimizer};
use sigil::prelude::*;
use sigil::trace::{MemorySink, Span, SpanCollector, SpanKind, SpanStatus};
use sigil_mcp::McpClient;

/// Time zones without daylight-saving time, and their UTC offsets in minutes.
const ZONES: [(&str, &str, i32); 10] = [
    ("Tokyo", "Asia/Tokyo", 540),
    ("Kolkata", "Asia/Kolkata", 330),
    ("Dubai", "Asia/Dubai", 240),
    ("Shanghai", "Asia/Shanghai", 480),
    ("Nairobi", "Africa/Nairobi", 180),
    ("Bogota", "America/Bogota", -300),
    ("Singapore", "Asia/Singapore", 480),
    ("Lima", "America/Lima", -300),
    ("Karachi", "Asia/Karachi", 300),
    ("Reykjavik", "Atlantic/Reykjavik", 0),
];

struct Args {
    model: PathBuf,
    mcp_python: PathBuf,
    train: usize,
    test: usize,
    seed: u64,
    max_iters: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        model: PathBuf::new(),
        mcp_python: PathBuf::new(),
        train: 16,
        test: 40,
        seed: 0,
        max_iters: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => a.model = value()?.into(),
            "--mcp-python" => a.mcp_python = value()?.into(),
            "--train" => a.train = value()?.parse()?,
            "--test" => a.test = value()?.parse()?,
            "--seed" => a.seed = value()?.parse()?,
            "--max-iters" => a.max_iters = value()?.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    if a.model.as_os_str().is_empty() || a.mcp_python.as_os_str().is_empty() {
        bail!("usage: agent --model GGUF --mcp-python PY [--train N] [--test N] [--seed S]");
    }
    Ok(a)
}

/// A small deterministic generator (splitmix64), so the questions are the same on
/// every run with the same seed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// `n` questions: a time in one city, asked in another, with the expected `HH:MM`.
fn questions(n: usize, rng: &mut Rng) -> Vec<Example> {
    (0..n)
        .map(|_| {
            let from = ZONES[rng.below(ZONES.len())];
            let to = loop {
                let z = ZONES[rng.below(ZONES.len())];
                if z.2 != from.2 {
                    break z;
                }
            };
            let (h, m) = (rng.below(24) as i32, [0, 15, 30, 45][rng.below(4)]);
            let minutes = (h * 60 + m - from.2 + to.2).rem_euclid(24 * 60);
            let expected = format!("{:02}:{:02}", minutes / 60, minutes % 60);
            Example::new()
                .input(
                    "question",
                    format!(
                        "When it is {h:02}:{m:02} in {} ({}), what time is it in {} ({})? Answer with the time as HH:MM.",
                        from.0, from.1, to.0, to.1
                    ),
                )
                .set("answer", expected)
        })
        .collect()
}

/// 1 when the answer holds the expected time (`9:30` counts for `09:30`).
fn answer_time_matches(example: &Example, prediction: &Prediction) -> f64 {
    let expected = example.get_str("answer").unwrap_or_default();
    let answer = prediction.get_str("answer").unwrap_or_default();
    let times = answer
        .char_indices()
        .filter(|(i, c)| {
            c.is_ascii_digit() && (*i == 0 || !answer[..*i].ends_with(|p: char| p.is_ascii_digit()))
        })
        .filter_map(|(i, _)| {
            let rest = &answer[i..];
            let (h, tail) = rest.split_once(':')?;
            let m: String = tail.chars().take(2).collect();
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60 && tail.len() >= 2).then(|| format!("{h:02}:{m:02}"))
        });
    f64::from(u8::from(times.into_iter().any(|t| t == expected)))
}

/// LM calls, parse spans that failed, and tool calls among `spans`.
fn counts(spans: &[Span]) -> (usize, usize, usize) {
    let of = |k: SpanKind| spans.iter().filter(move |s| s.kind == k);
    let failed = of(SpanKind::Parse)
        .filter(|s| !matches!(s.status, SpanStatus::Ok))
        .count();
    (of(SpanKind::Lm).count(), failed, of(SpanKind::Tool).count())
}

/// Scores `program` on `test`, with the trace counts of the run.
async fn evaluate(
    program: &ReAct,
    test: &[Example],
    ctx: &Ctx,
    collector: &SpanCollector,
    sink: &MemorySink,
) -> anyhow::Result<serde_json::Value> {
    let start = Instant::now();
    let report = Evaluate::new(test)
        .metric(metric_fn("answer_time_matches", answer_time_matches))
        .concurrency(1)
        .max_errors(None)
        .progress(false)
        .run(program, ctx)
        .await?;
    collector.flush();
    let (lm_calls, parse_failures, tool_calls) = counts(&sink.take());
    if std::env::var_os("AGENT_SHOW").is_some() {
        for r in &report.results {
            let p = r
                .prediction
                .as_ref()
                .map(|p| serde_json::to_string(p.values()));
            eprintln!(
                "{} -> {p:?}",
                r.example.get_str("answer").unwrap_or_default()
            );
        }
    }
    Ok(serde_json::json!({
        "acc": report.mean,
        "ci_lo": report.ci95.0,
        "ci_hi": report.ci95.1,
        "errors": report.errors,
        "lm_calls": lm_calls,
        "tool_calls": tool_calls,
        "parse_failures": parse_failures,
        "seconds": start.elapsed().as_secs_f64(),
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let server = McpClient::stdio(
        &a.mcp_python,
        ["-m", "mcp_server_time", "--local-timezone", "UTC"],
    )
    .await
    .context("cannot start mcp-server-time")?;
    let tools = server.tools().await?;
    let program = ReAct::parse("question -> answer", tools)?.with_max_iters(a.max_iters);
    let mut rng = Rng(a.seed);
    let train = questions(a.train, &mut rng);
    let test = questions(a.test, &mut rng);

    let lm = sigil_local::LocalLm::load(&a.model, sigil_local::LocalConfig::default())
        .with_context(|| format!("cannot load {}", a.model.display()))?;
    let sink = Arc::new(MemorySink::default());
    let collector = SpanCollector::builder().sink(sink.clone()).build();
    let ctx = Ctx::new(lm)
        .with_params(LmParams {
            temperature: Some(0.0),
            max_tokens: Some(96),
            ..Default::default()
        })
        .with_hook(collector.clone());
    let zero_shot = evaluate(&program, &test, &ctx, &collector, &sink).await?;
    let start = Instant::now();
    let compiled = BootstrapFewShot::new(metric_fn("answer_time_matches", answer_time_matches))
        .max_bootstrapped_demos(2)
        .max_labeled_demos(0)
        .config(EngineConfig::new().seed(a.seed).progress(false))
        .compile(&program, &train, &[], &ctx)
        .await?;
    let compile_s = start.elapsed().as_secs_f64();
    collector.flush();
    let (compile_calls, compile_parse_failures, _) = counts(&sink.take());
    let demos: usize = compiled
        .overlay
        .predictors
        .values()
        .map(|s| s.demos.as_ref().map_or(0, Vec::len))
        .sum();
    let after = evaluate(&program, &test, &compiled.ctx(&ctx), &collector, &sink).await?;
    server.close().await;
    println!(
        "{}",
        serde_json::json!({
            "task": "time-zone conversion through mcp-server-time's convert_time",
            "model": a.model.file_name().map(|f| f.to_string_lossy().into_owned()),
            "max_iters": a.max_iters,
            "train": train.len(),
            "test": test.len(),
            "seed": a.seed,
            "zero_shot": zero_shot,
            "compiled": after,
            "compile": {
                "optimizer": "BootstrapFewShot",
                "demos": demos,
                "lm_calls": compile_calls,
                "parse_failures": compile_parse_failures,
                "seconds": compile_s,
            },
        })
    );
    Ok(())
}
