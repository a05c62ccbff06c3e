//! A multi-hop program: each retrieval hop is its own span with its query and
//! passages, between the predictor spans, under the program span.

use std::sync::Arc;

use async_trait::async_trait;
use sigil::prelude::*;
use sigil::trace::{SpanKind, keys};
use sigil_testkit::expect;
use trace_support::*;

use crate::trace_support;

struct MultiHop {
    query: Predict,
    answer: Predict,
}

fn search(q: &str) -> Vec<String> {
    vec![
        format!("passage about {q} #1"),
        format!("passage about {q} #2"),
    ]
}

#[async_trait]
impl Module for MultiHop {
    sigil::submodules!(query, answer);
    fn name(&self) -> &str {
        "MultiHop"
    }
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let question = inputs.get_str("question").unwrap_or_default();
        let mut context = Vec::new();
        for hop in 0..2 {
            let q = self
                .query
                .call(
                    ctx,
                    Example::new().input("question", format!("{question} hop {hop}")),
                )
                .await?;
            let query = q.get_str("query").unwrap_or_default();
            let found =
                sigil::retrieve::traced_search(ctx, "retrieve", &query, Some(2), |_| async {
                    Ok::<_, std::convert::Infallible>(search(&query))
                })
                .await
                .unwrap_or_default();
            context.extend(found);
        }
        self.answer
            .call(
                ctx,
                Example::new()
                    .input("question", question)
                    .input("query", context.join(" | ")),
            )
            .await
    }
}

#[tokio::test]
async fn every_hop_is_a_retrieval_span_with_query_and_passages() {
    let (collector, sink) = memory_collector();
    let program = MultiHop {
        query: Predict::parse("question -> query").unwrap(),
        answer: Predict::parse("question, query -> answer").unwrap(),
    };
    let ctx = Ctx::from_arc(Arc::new(two_step_lm())).with_hook(collector.clone());
    program
        .call(&ctx, Example::new().input("question", "capital?"))
        .await
        .unwrap();
    collector.flush();
    let spans = sink.spans();
    assert_well_formed(&spans);
    let query = || expect::span("query").kind(SpanKind::Module);
    let hop = || expect::span("retrieve").kind(SpanKind::Retrieval);
    expect::any()
        .child(query())
        .child(
            hop()
                .with_attr(keys::RETRIEVAL_QUERY, "capital of France")
                .with_attr(keys::RETRIEVAL_K, 2i64)
                .with_attr(
                    keys::RETRIEVAL_PASSAGES,
                    r#"["passage about capital of France #1","passage about capital of France #2"]"#,
                ),
        )
        .child(query())
        .child(hop())
        .child(expect::span("answer").kind(SpanKind::Module))
        .assert_tree(&spans);
}
