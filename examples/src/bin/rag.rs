//! RAG: retrieve k passages from the BM25 index of the mini wiki, then answer with
//! ChainOfThought over them. Evaluated on held-out questions before and after
//! compiling with BootstrapFewShot.
//!
//! cargo run --release -p sigil-examples --bin rag   (SIGIL_OPENAI_BASE_URL pointing at a server)
//!
//! Options: --k N (passages, default 3), --index bm25|dense|hybrid (default bm25),
//! --train N --val N (default 12 and 8; the rest of the 54 questions are the test set),
//! --seed N, --concurrency N, --adapter chat|json (json with a server that enforces JSON,
//! e.g. llama.cpp with SIGIL_OPENAI_STRUCTURED_OUTPUT=1 SIGIL_OPENAI_RESPONSE_FORMAT=json_object).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use sigil::adapter::Adapter;
use sigil::evaluate::Contains;
use sigil::optimize::{BootstrapFewShot, EngineConfig, Optimizer, held_out_report_with};
use sigil::prelude::*;
use sigil::retrieve::Retrieve;
use sigil::rng::SeededRng;
use sigil_examples::wiki::{qa_set, wiki_index};
use sigil_examples::{adapter_flag, lm_from_env};
use sigil_index::IndexKind;

/// DSPy's RAG: `context = retrieve(question).passages; answer = generate(context, question)`.
struct Rag {
    retrieve: Retrieve,
    generate: ChainOfThought,
}

impl Rag {
    fn new(retrieve: Retrieve) -> anyhow::Result<Self> {
        Ok(Rag {
            retrieve,
            generate: ChainOfThought::parse("context: list[str], question -> answer")?
                .with_instructions(
                    "Answer the question with a short phrase taken from the context.",
                ),
        })
    }
}

#[async_trait]
impl Module for Rag {
    sigil::submodules!(generate);

    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let question = inputs.get_str("question").unwrap_or_default();
        let passages = self
            .retrieve
            .search(ctx, &question)
            .await
            .map_err(|e| ModuleError::Other(format!("retrieve: {e}")))?;
        let context: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
        self.generate
            .call(
                ctx,
                Example::new()
                    .input("context", json!(context))
                    .input("question", question),
            )
            .await
    }
}

struct Args {
    k: usize,
    kind: IndexKind,
    train: usize,
    val: usize,
    seed: u64,
    concurrency: usize,
    adapter: Option<Arc<dyn Adapter>>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        k: 3,
        kind: IndexKind::Bm25,
        train: 12,
        val: 8,
        seed: 0,
        concurrency: 2,
        adapter: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--k" => a.k = value()?.parse()?,
            "--index" => a.kind = value()?.parse()?,
            "--train" => a.train = value()?.parse()?,
            "--val" => a.val = value()?.parse()?,
            "--seed" => a.seed = value()?.parse()?,
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--adapter" => a.adapter = adapter_flag(&value()?)?,
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let mut ctx = Ctx::from_arc(lm_from_env()?);
    if let Some(adapter) = &a.adapter {
        ctx = ctx.with_adapter_arc(adapter.clone());
    }
    let rag = Rag::new(Retrieve::new(wiki_index(a.kind).await?, a.k))?;

    let mut qa = qa_set()?;
    SeededRng::new(a.seed).shuffle(&mut qa);
    if a.train + a.val >= qa.len() {
        anyhow::bail!(
            "--train + --val must leave questions for the test set ({} in all)",
            qa.len()
        );
    }
    let test = qa.split_off(a.train + a.val);
    let val = qa.split_off(a.train);
    let train = qa;

    let first = &test[0];
    println!("Q: {}", first.get_str("question").unwrap_or_default());
    // A tiny model's completion may not parse; the evaluation below counts that as a miss.
    match rag.call(&ctx, first.inputs()).await {
        Ok(out) => println!(
            "reasoning: {}\nanswer: {}   (gold: {})\n",
            out.get_str("reasoning").unwrap_or_default(),
            out.get_str("answer").unwrap_or_default(),
            first.get_str("answer").unwrap_or_default()
        ),
        Err(e) => println!("failed: {e}\n"),
    }

    let optimizer = BootstrapFewShot::new(Contains::new("answer"))
        .max_bootstrapped_demos(3)
        .max_labeled_demos(3)
        .config(EngineConfig::new().seed(a.seed).concurrency(a.concurrency));
    let compiled = optimizer.compile(&rag, &train, &val, &ctx).await?;
    let report = held_out_report_with(
        &rag,
        &ctx,
        &compiled,
        &test,
        Arc::new(Contains::new("answer")),
        a.concurrency,
    )
    .await?;
    println!(
        "RAG ({} k={}) on {} held-out questions, metric: answer contains the gold phrase",
        a.kind,
        a.k,
        test.len()
    );
    println!("{report}");
    println!(
        "BootstrapFewShot: train {}, val {}, {} LM calls",
        train.len(),
        val.len(),
        compiled.spend.lm_calls
    );
    Ok(())
}
