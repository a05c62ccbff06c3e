//! `Retrieve` as a module: reads `query`, outputs passage texts, ids and scores best
//! first, has no predictors, and turns bad input and retriever failures into errors
//! naming the retriever.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use sigil::prelude::*;
use sigil::retrieve::{Passage, Retrieve, RetrieveError, Retriever};
use sigil_testkit::ScriptedLm;

/// Scores passages by the number of query words they contain.
struct WordOverlap(Vec<(&'static str, &'static str)>);

#[async_trait]
impl Retriever for WordOverlap {
    fn name(&self) -> &str {
        "overlap"
    }
    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, RetrieveError> {
        if query.contains("FAIL") {
            return Err(RetrieveError::Remote {
                url: "http://search".into(),
                reason: "unreachable".into(),
            });
        }
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        let mut scored: Vec<Passage> = self
            .0
            .iter()
            .map(|(id, text)| Passage {
                id: id.to_string(),
                text: text.to_string(),
                score: words
                    .iter()
                    .filter(|w| text.to_lowercase().contains(w.as_str()))
                    .count() as f32,
                metadata: Default::default(),
            })
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score));
        scored.truncate(k);
        Ok(scored)
    }
}

fn index() -> Arc<dyn Retriever> {
    Arc::new(WordOverlap(vec![
        ("a", "The lighthouse is red and white."),
        ("b", "The bridge has seven arches."),
        ("c", "The red lighthouse was built in 1861."),
    ]))
}

#[tokio::test]
async fn outputs_texts_ids_and_scores_best_first() {
    let ctx = Ctx::new(ScriptedLm::new(Vec::<String>::new()));
    let retrieve = Retrieve::new(index(), 2);
    assert!(retrieve.named_predictors().is_empty());
    let out = retrieve
        .call(&ctx, Example::new().input("query", "red lighthouse built"))
        .await
        .unwrap();
    assert_eq!(
        out.get("passages"),
        Some(&json!([
            "The red lighthouse was built in 1861.",
            "The lighthouse is red and white."
        ]))
    );
    assert_eq!(out.get("passage_ids"), Some(&json!(["c", "a"])));
    assert_eq!(out.get("scores"), Some(&json!([3.0, 2.0])));

    let passages = retrieve.search_k(&ctx, "arches", 1).await.unwrap();
    assert_eq!(passages[0].id, "b");
}

#[tokio::test]
async fn query_field_is_configurable_and_missing_field_is_an_error() {
    let ctx = Ctx::new(ScriptedLm::new(Vec::<String>::new()));
    let retrieve = Retrieve::new(index(), 1).query_field("question");
    let out = retrieve
        .call(&ctx, Example::new().input("question", "arches"))
        .await
        .unwrap();
    assert_eq!(out.get("passage_ids"), Some(&json!(["b"])));
    let err = retrieve
        .call(&ctx, Example::new().input("query", "arches"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "retrieve `overlap`: the input has no `question` field"
    );
}

#[tokio::test]
async fn retriever_failures_and_empty_queries_are_errors() {
    let ctx = Ctx::new(ScriptedLm::new(Vec::<String>::new()));
    let retrieve = Retrieve::new(index(), 2);
    let err = retrieve
        .call(&ctx, Example::new().input("query", "FAIL"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "retrieve `overlap`: remote retriever http://search: unreachable"
    );
    let err = retrieve.search(&ctx, "   ").await.unwrap_err();
    assert!(matches!(err, RetrieveError::Query(_)), "{err:?}");
}
