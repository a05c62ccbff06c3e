//! Inside a program, every `Retrieve` search is one retrieval span (named after the
//! retriever, with its query, k and passages) between the predictor spans; a failed
//! search is a retrieval span with an error status.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use sigil::prelude::*;
use sigil::retrieve::{Passage, Retrieve, RetrieveError, Retriever};
use sigil::trace::{SpanKind, SpanStatus, keys};
use trace_support::*;

use crate::trace_support;

struct Fixed;

#[async_trait]
impl Retriever for Fixed {
    fn name(&self) -> &str {
        "wiki"
    }
    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, RetrieveError> {
        if query == "broken" {
            return Err(RetrieveError::Index("index wiki is damaged".into()));
        }
        Ok((0..k)
            .map(|i| Passage {
                id: format!("p{i}"),
                text: format!("{query} fact {i}"),
                score: 1.0 / (i as f32 + 1.0),
                metadata: Default::default(),
            })
            .collect())
    }
}

struct Rag {
    retrieve: Retrieve,
    answer: Predict,
}

#[async_trait]
impl Module for Rag {
    sigil::submodules!(answer);
    fn name(&self) -> &str {
        "Rag"
    }
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let q = inputs.get_str("question").unwrap_or_default();
        let passages = self
            .retrieve
            .search(ctx, &q)
            .await
            .map_err(|e| ModuleError::Other(e.to_string()))?;
        let context: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
        self.answer
            .call(
                ctx,
                Example::new()
                    .input("context", json!(context))
                    .input("question", q),
            )
            .await
    }
}

fn program() -> Rag {
    Rag {
        retrieve: Retrieve::new(Arc::new(Fixed), 2),
        answer: Predict::parse("context: list[str], question -> answer").unwrap(),
    }
}

#[tokio::test]
async fn a_search_is_a_retrieval_span_and_its_passages_reach_the_prompt() {
    let (collector, sink) = memory_collector();
    let lm = Arc::new(sigil_testkit::ScriptedLm::new([chat(&[("answer", "x")])]));
    let ctx = Ctx::from_arc(lm.clone()).with_hook(collector.clone());
    let rag = program();
    rag.call(&ctx, Example::new().input("question", "lighthouse"))
        .await
        .unwrap();
    collector.flush();
    let spans = sink.spans();
    assert_well_formed(&spans);
    let top = children(&spans, root(&spans));
    assert_eq!(
        top.iter()
            .map(|s| (s.kind, s.name.as_str()))
            .collect::<Vec<_>>(),
        [(SpanKind::Retrieval, "wiki"), (SpanKind::Module, "answer")]
    );
    let hop = top[0];
    assert_eq!(hop.attr_str(keys::RETRIEVAL_QUERY), Some("lighthouse"));
    assert_eq!(hop.attr_i64(keys::RETRIEVAL_K), Some(2));
    assert_eq!(
        hop.attr_str(keys::RETRIEVAL_PASSAGES),
        Some(r#"["lighthouse fact 0","lighthouse fact 1"]"#)
    );
    let prompt = &lm.requests()[0].messages[1].content;
    assert!(prompt.contains("lighthouse fact 1"), "{prompt}");
}

#[tokio::test]
async fn a_failed_search_is_an_error_span_and_the_program_fails() {
    let (collector, sink) = memory_collector();
    let ctx =
        Ctx::new(sigil_testkit::ScriptedLm::new(Vec::<String>::new())).with_hook(collector.clone());
    let rag = program();
    let err = rag
        .call(&ctx, Example::new().input("question", "broken"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("index wiki is damaged"), "{err}");
    collector.flush();
    let spans = sink.spans();
    assert_well_formed(&spans);
    let hop = spans
        .iter()
        .find(|s| s.kind == SpanKind::Retrieval)
        .unwrap();
    assert!(
        matches!(&hop.status, SpanStatus::Error(m) if m.contains("damaged")),
        "{:?}",
        hop.status
    );
}

#[tokio::test]
async fn as_a_module_call_it_adds_no_extra_module_span() {
    let (collector, sink) = memory_collector();
    let ctx =
        Ctx::new(sigil_testkit::ScriptedLm::new(Vec::<String>::new())).with_hook(collector.clone());
    Retrieve::new(Arc::new(Fixed), 1)
        .call(&ctx, Example::new().input("query", "bridge"))
        .await
        .unwrap();
    collector.flush();
    let spans = sink.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].kind, SpanKind::Retrieval);
}
