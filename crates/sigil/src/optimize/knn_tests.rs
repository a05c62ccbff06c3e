use std::sync::Arc;

use async_trait::async_trait;

use super::*;
use crate::evaluate::ExactMatch;
use crate::retrieve::RetrieveError;
use crate::testing::{ScriptedLm, chat};

/// One dimension per topic word; a text's vector counts the topic words it contains.
struct TopicEmbedder {
    fail: bool,
}

const TOPICS: [&str; 3] = ["unlock", "charge", "lost"];

#[async_trait]
impl Embedder for TopicEmbedder {
    fn model_id(&self) -> &str {
        "topics"
    }
    fn dim(&self) -> usize {
        TOPICS.len()
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RetrieveError> {
        if self.fail {
            return Err(RetrieveError::Model("encoder offline".into()));
        }
        Ok(texts
            .iter()
            .map(|t| {
                TOPICS
                    .iter()
                    .map(|w| t.matches(w).count() as f32 + 0.01)
                    .collect()
            })
            .collect())
    }
}

fn ex(text: &str, intent: &str) -> Example {
    Example::new()
        .set("text", text)
        .set("intent", intent)
        .with_inputs(&["text"])
}

fn trainset() -> Vec<Example> {
    vec![
        ex("the bike will not unlock", "unlock_problem"),
        ex("a double charge on my card", "billing"),
        ex("lost my phone on a bike", "lost_item"),
        ex("unlock button does nothing", "unlock_problem"),
    ]
}

fn answer(intent: &str) -> String {
    chat(&[("intent", intent)])
}

fn program() -> Arc<dyn Module> {
    Arc::new(Predict::parse("text -> intent").unwrap())
}

#[tokio::test]
async fn each_call_gets_the_nearest_training_examples_as_demos() {
    let knn = KnnFewShot::new(2, Arc::new(TopicEmbedder { fail: false }));
    let lm = Arc::new(ScriptedLm::from_fn(|_| Ok(answer("unlock_problem"))));
    let ctx = Ctx::from_arc(lm.clone());
    let compiled = knn.compile(program(), &trainset(), &ctx).await.unwrap();
    assert_eq!(lm.calls(), 0, "labeled demos need no LM call");
    assert_eq!(compiled.bootstrapped(), 0);

    let input = Example::new().input("text", "cannot unlock it");
    assert_eq!(compiled.neighbours(&input).await.unwrap(), [0, 3]);
    compiled.call(&ctx, input).await.unwrap();
    let prompt: String = lm.requests()[0]
        .messages
        .iter()
        .map(|m| m.content.clone())
        .collect();
    assert!(prompt.contains("the bike will not unlock"), "{prompt}");
    assert!(prompt.contains("unlock button does nothing"), "{prompt}");
    assert!(!prompt.contains("double charge"), "{prompt}");

    let input = Example::new().input("text", "wrong charge, charge twice");
    compiled.call(&ctx, input).await.unwrap();
    let prompt: String = lm.requests()[1]
        .messages
        .iter()
        .map(|m| m.content.clone())
        .collect();
    assert!(prompt.contains("double charge"), "{prompt}");
}

#[tokio::test]
async fn bootstrap_keeps_the_teachers_passing_traces() {
    // The teacher answers "unlock_problem" to everything: right for two of four.
    let lm = Arc::new(ScriptedLm::from_fn(|_| Ok(answer("unlock_problem"))));
    let ctx = Ctx::from_arc(lm.clone());
    let knn = KnnFewShot::new(1, Arc::new(TopicEmbedder { fail: false }))
        .bootstrap(ExactMatch::new("intent"));
    let compiled = knn.compile(program(), &trainset(), &ctx).await.unwrap();
    assert_eq!(lm.calls(), 4, "one teacher run per training example");
    assert_eq!(compiled.bootstrapped(), 2);
    // The named predictors are the wrapped program's.
    assert_eq!(compiled.named_predictors().len(), 1);
}

#[tokio::test]
async fn bad_settings_and_embedder_failures_are_errors() {
    let ctx = Ctx::new(ScriptedLm::new(Vec::<String>::new()));
    let ok = Arc::new(TopicEmbedder { fail: false });
    let err = KnnFewShot::new(2, ok.clone())
        .compile(program(), &[], &ctx)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, OptimizeError::EmptyTrainset));
    let err = KnnFewShot::new(0, ok.clone())
        .compile(program(), &trainset(), &ctx)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, OptimizeError::Config(_)));
    let unlabeled = vec![Example::new().input("text", "hi")];
    let err = KnnFewShot::new(1, ok)
        .compile(program(), &unlabeled, &ctx)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, OptimizeError::BadExample { .. }), "{err:?}");
    let err = KnnFewShot::new(1, Arc::new(TopicEmbedder { fail: true }))
        .compile(program(), &trainset(), &ctx)
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "embedding the trainset: embedding model: encoder offline"
    );
}
