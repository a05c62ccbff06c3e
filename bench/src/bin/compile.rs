//! Sigil's side of the compile benchmark: an intent classifier on Banking77's first 10
//! intents, compiled with BootstrapFewShotWithRandomSearch or MIPROv2 (auto light)
//! under an LM-call budget, then scored on the held-out test set.
//!
//! The split (trainset, valset, test set) is read from the JSON file that
//! `bench/python/banking77_split.py` writes, so Python DSPy sees the very same examples.
//!
//! ```text
//! compile --split SPLIT.json --optimizer random|mipro --budget N --seed S
//!         [--lm server --url http://127.0.0.1:PORT/v1 | --lm embedded --model MODEL.gguf]
//!         [--adapter chat|json] [--grammar] [--concurrency C] [--max-tokens T] [--max-demos D]
//!         [--candidates K]
//! ```
//!
//! `--grammar` (server, chat adapter): the ChatAdapter's format goes to the server as a
//! GBNF grammar, so the server decodes only completions that parse.
//!
//! Prints one JSON line: search LM calls, tokens and wall time, valset score, held-out
//! accuracy with its 95% bootstrap CI, and the completions the adapter could not parse.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use sigil::adapter::{Adapter, ChatAdapter, FormatError, JsonAdapter, ParseError};
use sigil::evaluate::{Evaluate, ExactMatch};
use sigil::lm::{
    Lm, LmParams, Message, OpenAiClient, OpenAiConfig, OutputConstraint, WithClientOptions,
};
use sigil::module::{Ctx, Predict};
use sigil::optimize::{BootstrapFewShotWithRandomSearch, Budget, EngineConfig, MiproV2, Optimizer};
use sigil::prelude::Example;
use sigil::signature::Signature;

/// Delegates to an adapter and counts the completions it could not parse.
struct CountingAdapter {
    inner: Box<dyn Adapter>,
    failures: Arc<AtomicU64>,
}

impl Adapter for CountingAdapter {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn format_prefix(&self, signature: &Signature, demos: &[Example]) -> Vec<Message> {
        self.inner.format_prefix(signature, demos)
    }
    fn format_user(
        &self,
        signature: &Signature,
        inputs: &Example,
    ) -> Result<Option<Message>, FormatError> {
        self.inner.format_user(signature, inputs)
    }
    fn format(
        &self,
        signature: &Signature,
        demos: &[Example],
        inputs: &Example,
    ) -> Result<Vec<Message>, FormatError> {
        self.inner.format(signature, demos, inputs)
    }
    fn parse(
        &self,
        signature: &Signature,
        completion: &str,
    ) -> Result<sigil::adapter::Fields, ParseError> {
        let r = self.inner.parse(signature, completion);
        if r.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
    fn constraint(&self, signature: &Signature, lm: &dyn Lm) -> Option<OutputConstraint> {
        self.inner.constraint(signature, lm)
    }
}

struct Args {
    split: PathBuf,
    optimizer: String,
    budget: u64,
    seed: u64,
    lm: String,
    url: String,
    model: PathBuf,
    json: bool,
    grammar: bool,
    concurrency: usize,
    max_tokens: u32,
    max_demos: usize,
    candidates: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        split: PathBuf::new(),
        optimizer: "random".into(),
        budget: 100,
        seed: 0,
        lm: "server".into(),
        url: String::new(),
        model: PathBuf::new(),
        json: false,
        grammar: false,
        concurrency: 2,
        max_tokens: 64,
        max_demos: 2,
        candidates: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--split" => a.split = value()?.into(),
            "--optimizer" => a.optimizer = value()?,
            "--budget" => a.budget = value()?.parse().context("--budget")?,
            "--seed" => a.seed = value()?.parse().context("--seed")?,
            "--lm" => a.lm = value()?,
            "--url" => a.url = value()?,
            "--model" => a.model = value()?.into(),
            "--adapter" => a.json = value()? == "json",
            "--grammar" => a.grammar = true,
            "--concurrency" => a.concurrency = value()?.parse().context("--concurrency")?,
            "--max-tokens" => a.max_tokens = value()?.parse().context("--max-tokens")?,
            "--max-demos" => a.max_demos = value()?.parse().context("--max-demos")?,
            "--candidates" => a.candidates = value()?.parse().context("--candidates")?,
            other => bail!("unknown option {other}"),
        }
    }
    if a.split.as_os_str().is_empty() {
        bail!("--split SPLIT.json is required");
    }
    Ok(a)
}

struct Split {
    labels: Vec<String>,
    instructions: String,
    train: Vec<Example>,
    val: Vec<Example>,
    test: Vec<Example>,
}

fn load_split(path: &PathBuf) -> anyhow::Result<Split> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the split {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let strings = |key: &str| -> anyhow::Result<Vec<String>> {
        v[key]
            .as_array()
            .with_context(|| format!("{}: `{key}` is not a list", path.display()))?
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .with_context(|| format!("{}: `{key}` holds a non-string", path.display()))
            })
            .collect()
    };
    let rows = |key: &str| -> anyhow::Result<Vec<Example>> {
        v[key]
            .as_array()
            .with_context(|| format!("{}: `{key}` is not a list", path.display()))?
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let field = |f: &str| {
                    r[f].as_str().with_context(|| {
                        format!("{}: {key}[{i}] has no string `{f}`", path.display())
                    })
                };
                Ok(Example::new()
                    .input("text", field("text")?)
                    .set("category", field("category")?))
            })
            .collect()
    };
    Ok(Split {
        labels: strings("labels")?,
        instructions: v["instructions"]
            .as_str()
            .with_context(|| format!("{}: no `instructions`", path.display()))?
            .to_string(),
        train: rows("train")?,
        val: rows("val")?,
        test: rows("test")?,
    })
}

fn lm(a: &Args) -> anyhow::Result<Arc<dyn Lm>> {
    match a.lm.as_str() {
        "server" => {
            if a.url.is_empty() {
                bail!("--lm server needs --url");
            }
            let mut c = OpenAiConfig::new("openai/smollm2")
                .base_url(a.url.clone())
                .max_concurrency(a.concurrency.max(1));
            if a.grammar {
                c = c.grammar(true);
            }
            if a.json {
                // llama-cpp-python enforces a JSON schema given as json_object + schema.
                c = c
                    .structured_output(true)
                    .response_format_style(sigil::lm::ResponseFormatStyle::JsonObjectWithSchema);
            }
            Ok(Arc::new(OpenAiClient::new(c)?))
        }
        "embedded" => {
            let local = sigil_local::LocalLm::load(&a.model, sigil_local::LocalConfig::default())
                .with_context(|| format!("cannot load {}", a.model.display()))?;
            Ok(Arc::new(local))
        }
        other => bail!("--lm must be server or embedded, not {other}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let split = load_split(&a.split)?;
    let program = Predict::parse(&format!(
        "text -> category: enum[{}]",
        split.labels.join(", ")
    ))?
    .with_instructions(split.instructions.clone());
    let failures = Arc::new(AtomicU64::new(0));
    let inner: Box<dyn Adapter> = if a.json {
        Box::new(JsonAdapter)
    } else {
        Box::new(ChatAdapter)
    };
    let ctx = Ctx::from_arc(lm(&a)?)
        .with_adapter(CountingAdapter {
            inner,
            failures: failures.clone(),
        })
        .with_params(LmParams {
            temperature: Some(0.0),
            max_tokens: Some(a.max_tokens),
            ..Default::default()
        });
    let config = EngineConfig::new()
        .seed(a.seed)
        .concurrency(a.concurrency)
        .budget(Budget::unlimited().max_calls(a.budget));
    let metric = ExactMatch::new("category");
    let optimizer: Box<dyn Optimizer> = match a.optimizer.as_str() {
        "random" => Box::new(
            BootstrapFewShotWithRandomSearch::new(metric.clone())
                .num_candidates(a.candidates)
                .max_labeled_demos(a.max_demos)
                .max_bootstrapped_demos(a.max_demos)
                .config(config),
        ),
        "mipro" => Box::new(
            MiproV2::new(metric.clone())
                .max_labeled_demos(a.max_demos)
                .max_bootstrapped_demos(a.max_demos)
                .config(config),
        ),
        other => bail!("--optimizer must be random or mipro, not {other}"),
    };
    let start = Instant::now();
    let compiled = optimizer
        .compile(&program, &split.train, &split.val, &ctx)
        .await?;
    let search_s = start.elapsed().as_secs_f64();
    let search_failures = failures.load(Ordering::Relaxed);

    let start = Instant::now();
    let report = Evaluate::new(&split.test)
        .metric(metric)
        .concurrency(a.concurrency)
        .max_errors(None)
        .progress(false)
        .run(&program, &compiled.ctx(&ctx))
        .await?;
    let test_s = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "framework": "sigil",
            "lm": a.lm,
            "adapter": match (a.json, a.grammar) {
                (true, _) => "json",
                (false, true) => "chat + grammar",
                (false, false) => "chat",
            },
            "optimizer": a.optimizer,
            "budget": a.budget,
            "seed": a.seed,
            "train": split.train.len(),
            "val": split.val.len(),
            "test": split.test.len(),
            "search_calls": compiled.spend.lm_calls,
            "search_tokens": compiled.spend.total_tokens(),
            "search_s": search_s,
            "val_score": compiled.score,
            "test_acc": report.mean,
            "ci_lo": report.ci95.0,
            "ci_hi": report.ci95.1,
            "test_calls": report.lm_calls,
            "test_errors": report.errors,
            "test_s": test_s,
            "parse_failures_search": search_failures,
            "parse_failures": failures.load(Ordering::Relaxed),
            "stopped": compiled.stopped.as_ref().map(|s| format!("{s:?}")),
        })
    );
    Ok(())
}
