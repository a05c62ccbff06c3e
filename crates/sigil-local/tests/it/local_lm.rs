//! `LocalLm` through Sigil's `Lm` trait on the real model (SIGIL_TEST_MODEL): usage,
//! max tokens, stop sequences, seeded sampling, prefix-cache reuse, context overflow,
//! and constrained output that always parses with the ChatAdapter and JsonAdapter.

use std::sync::{Arc, OnceLock};

use sigil::adapter::{Adapter, ChatAdapter, JsonAdapter};
use sigil::data::Example;
use sigil::lm::{Lm, LmRequest, Message, OutputConstraint};
use sigil::signature::Signature;
use sigil_local::{LocalConfig, LocalLm};

use crate::common;

fn lm() -> Arc<LocalLm> {
    static LM: OnceLock<Arc<LocalLm>> = OnceLock::new();
    LM.get_or_init(|| {
        Arc::new(LocalLm::load(&common::model_path(), LocalConfig::default()).expect("model loads"))
    })
    .clone()
}

fn req(user: &str, max_tokens: u32) -> LmRequest {
    let mut r = LmRequest::new(vec![
        Message::system("You are a concise assistant."),
        Message::user(user),
    ]);
    r.params.max_tokens = Some(max_tokens);
    r
}

#[tokio::test]
async fn greedy_call_reports_usage_and_respects_max_tokens() {
    let r = lm()
        .call(req("Write a long story about a dragon.", 6))
        .await
        .unwrap();
    assert_eq!(r.usage.output_tokens, 6, "{r:?}");
    assert!(r.usage.input_tokens > 10);
    assert_eq!(r.finish_reason.as_deref(), Some("length"));
    assert!(!r.text.is_empty());
    assert!(lm().model_id().starts_with("local/"));
    // Greedy is deterministic.
    let again = lm()
        .call(req("Write a long story about a dragon.", 6))
        .await
        .unwrap();
    assert_eq!(again.text, r.text);
}

#[tokio::test]
async fn stop_sequences_cut_the_answer() {
    let mut r = req("Count from 1 to 20, separated by commas.", 40);
    r.params.stop = vec!["5".into()];
    let out = lm().call(r).await.unwrap();
    assert!(!out.text.contains('5'), "{:?}", out.text);
    assert_eq!(out.finish_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn seeded_sampling_is_reproducible() {
    let mut r = req("Name a random animal.", 8);
    r.params.temperature = Some(1.0);
    r.params.top_p = Some(0.95);
    r.params.seed = Some(1234);
    let a = lm().call(r.clone()).await.unwrap();
    let b = lm().call(r).await.unwrap();
    assert_eq!(a.text, b.text);
}

#[tokio::test]
async fn shared_prefix_is_reused_and_gives_the_same_answer() {
    let system = "You classify banking questions. ".repeat(8);
    let mk = |q: &str| {
        let mut r = LmRequest::new(vec![Message::system(system.clone()), Message::user(q)]);
        r.params.max_tokens = Some(5);
        r
    };
    let first = lm().call(mk("How do I activate my card?")).await.unwrap();
    let second = lm()
        .call(mk("Why was my transfer declined?"))
        .await
        .unwrap();
    assert!(
        second.usage.cached_tokens >= 40,
        "cached {} of {}",
        second.usage.cached_tokens,
        second.usage.input_tokens
    );
    assert!(second.usage.cached_tokens < second.usage.input_tokens);
    let _ = first;
    // Same answer as without the cache.
    let cold = LocalLm::load(
        &common::model_path(),
        LocalConfig {
            prefix_cache_bytes: 0,
            ..LocalConfig::default()
        },
    )
    .unwrap();
    let fresh = cold
        .call(mk("Why was my transfer declined?"))
        .await
        .unwrap();
    assert_eq!(fresh.usage.cached_tokens, 0);
    assert_eq!(fresh.text, second.text);
}

#[tokio::test]
async fn prompt_longer_than_the_context_is_an_error() {
    let small = LocalLm::load(
        &common::model_path(),
        LocalConfig {
            n_ctx: 64,
            ..LocalConfig::default()
        },
    )
    .unwrap();
    let e = small.call(req(&"word ".repeat(200), 4)).await.unwrap_err();
    assert!(e.to_string().contains("does not fit the context"), "{e}");
}

#[tokio::test]
async fn impossible_constraint_is_an_error() {
    let mut r = req("Pick one.", 4);
    r.constraint = Some(OutputConstraint::Choice { choices: vec![] });
    assert!(!lm().supports_constraint(r.constraint.as_ref().unwrap()));
    let e = lm().call(r).await.unwrap_err();
    assert!(e.to_string().contains("impossible constraint"), "{e}");
}

#[tokio::test]
async fn choice_constraint_gives_one_of_the_choices() {
    let choices: Vec<String> = ["card_arrival", "card_linking", "exchange_rate"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut r = req("Which label fits 'When will my new card arrive?'", 16);
    r.constraint = Some(OutputConstraint::Choice {
        choices: choices.clone(),
    });
    let out = lm().call(r).await.unwrap();
    assert!(choices.contains(&out.text), "{:?}", out.text);
}

async fn chat_round_trip(sig: &str, inputs: Example, max_tokens: u32) {
    let signature = Signature::parse(sig).unwrap();
    let lm = lm();
    let adapter = ChatAdapter;
    let constraint = adapter
        .constraint(&signature, &*lm)
        .expect("LocalLm supports ChatFields");
    let mut r = LmRequest::new(adapter.format(&signature, &[], &inputs).unwrap());
    r.params.max_tokens = Some(max_tokens);
    r.constraint = Some(constraint);
    let out = lm.call(r).await.unwrap();
    let parsed = adapter.parse(&signature, &out.text);
    assert!(
        parsed.is_ok(),
        "{sig}: {:?} does not parse: {parsed:?}",
        out.text
    );
}

#[tokio::test]
async fn chat_fields_output_parses_with_the_chat_adapter() {
    let q = Example::new().input(
        "question",
        "What is the capital of France, and how many people live there?",
    );
    chat_round_trip(
        "question -> answer, population: int, sure: bool, kind: enum[city, country]",
        q.clone(),
        80,
    )
    .await;
    chat_round_trip(
        "question -> facts: list[str], score: float, extra: dict[str, int]",
        q.clone(),
        80,
    )
    .await;
    // A budget too small to finish: the engine completes the structure itself.
    chat_round_trip("question -> answer, population: int, tags: list[str]", q, 6).await;
}

#[tokio::test]
async fn json_schema_output_parses_with_the_json_adapter() {
    let signature =
        Signature::parse("question -> answer, year: int, tags: list[str], ok: bool").unwrap();
    let lm = lm();
    let adapter = JsonAdapter;
    let constraint = adapter
        .constraint(&signature, &*lm)
        .expect("LocalLm supports JSON schema");
    let inputs = Example::new().input("question", "When did the Industrial Revolution begin?");
    for max_tokens in [60, 5] {
        let mut r = LmRequest::new(adapter.format(&signature, &[], &inputs).unwrap());
        r.params.max_tokens = Some(max_tokens);
        r.constraint = Some(constraint.clone());
        let out = lm.call(r).await.unwrap();
        let parsed = adapter.parse(&signature, &out.text);
        assert!(parsed.is_ok(), "{:?} does not parse: {parsed:?}", out.text);
    }
}

#[tokio::test]
async fn concurrent_calls_are_all_served() {
    let lm = lm();
    let calls = (0..4).map(|i| {
        let lm = lm.clone();
        tokio::spawn(async move { lm.call(req(&format!("Say the number {i}."), 4)).await })
    });
    for c in calls {
        let r = c.await.unwrap().unwrap();
        assert!(r.usage.output_tokens > 0);
    }
}
