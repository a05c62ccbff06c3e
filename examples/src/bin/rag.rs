//! A two-step RAG program: write a search query, retrieve passages, then answer with
//! ChainOfThought over them. Evaluated on the mini QA set.
//!
//! cargo run -p sigil-examples --bin rag   (with SIGIL_OPENAI_BASE_URL pointing at a server)

use async_trait::async_trait;
use serde_json::json;
use sigil::evaluate::{Contains, Evaluate};
use sigil::prelude::*;
use sigil_examples::{Passage, keyword_search, lm_from_env, load_corpus};

struct Rag {
    corpus: Vec<Passage>,
    k: usize,
    write_query: Predict,
    generate: ChainOfThought,
}

impl Rag {
    fn new(corpus: Vec<Passage>, k: usize) -> anyhow::Result<Self> {
        Ok(Rag {
            corpus,
            k,
            write_query: Predict::parse("question -> search_query")?.with_instructions(
                "Write a short keyword search query that would find the answer to the question.",
            ),
            generate: ChainOfThought::parse("context: list[str], question -> answer")?
                .with_instructions(
                    "Answer the question with a short phrase taken from the context.",
                ),
        })
    }
}

#[async_trait]
impl Module for Rag {
    sigil::submodules!(write_query, generate);

    async fn forward(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> {
        let question = inputs.get_str("question").unwrap_or_default();
        let q = self
            .write_query
            .forward(ctx, Example::new().input("question", question.clone()))
            .await?;
        let query = format!(
            "{} {}",
            question,
            q.get_str("search_query").unwrap_or_default()
        );
        let passages: Vec<String> = keyword_search(&self.corpus, &query, self.k)
            .into_iter()
            .map(|p| p.text)
            .collect();
        let mut out = self
            .generate
            .forward(
                ctx,
                Example::new()
                    .input("context", json!(passages))
                    .input("question", question),
            )
            .await?;
        out.absorb_stats(&q);
        Ok(out)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ctx = Ctx::from_arc(lm_from_env()?);
    let rag = Rag::new(load_corpus()?, 3)?;
    let qa = sigil::data::load_jsonl(
        sigil_examples::data_path("mini_wiki_qa.jsonl"),
        &["question"],
    )?;

    let first = qa
        .examples
        .first()
        .ok_or_else(|| anyhow::anyhow!("empty QA set"))?;
    bind_paths(&rag);
    let out = rag.forward(&ctx, first.inputs()).await?;
    println!("Q: {}", first.get_str("question").unwrap_or_default());
    println!(
        "reasoning: {}",
        out.get_str("reasoning").unwrap_or_default()
    );
    println!(
        "answer: {}   (gold: {})",
        out.get_str("answer").unwrap_or_default(),
        first.get_str("answer").unwrap_or_default()
    );

    let report = Evaluate::new(&qa)
        .metric(Contains::new("answer"))
        .concurrency(4)
        .max_errors(None)
        .run(&rag, &ctx)
        .await?;
    println!(
        "answer contains gold: {:.1}% (95% CI {:.1}-{:.1}) over {} questions, {} errors, {} LM calls, {} tokens",
        report.mean * 100.0,
        report.ci95.0 * 100.0,
        report.ci95.1 * 100.0,
        report.len(),
        report.errors,
        report.lm_calls,
        report.usage.total_tokens()
    );
    Ok(())
}
