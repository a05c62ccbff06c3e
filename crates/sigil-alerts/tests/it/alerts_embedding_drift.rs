//! The `embedding_drift` rule, measured with the real all-MiniLM-L6-v2 encoder: a
//! paraphrase of the trainset is near (the lexical rule calls it far), an unrelated
//! topic is far; `evaluate` alone reports the rule as no-data.
//! Needs the model: `$SIGIL_MINILM_DIR` (scripts/test exports it) or the cache.

use std::path::PathBuf;
use std::sync::Arc;

use sigil::retrieve::Embedder;
use sigil::trace::{Attributes, Span, SpanId, SpanKind, SpanStatus, TraceId, keys, now_ns};
use sigil_alerts::drift::{EmbeddingDrift, evaluate_with_embedder};
use sigil_alerts::{AlertStatus, RuleSet, evaluate};
use sigil_local::embed::{MINILM_DIR_NAME, MiniLm};
use sigil_store::Store;

fn minilm() -> Arc<dyn Embedder> {
    let dir = std::env::var_os("SIGIL_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            sigil_local::resolve::cache_dir()
                .join("models")
                .join(MINILM_DIR_NAME)
        });
    let model = MiniLm::load(&dir).unwrap_or_else(|e| {
        panic!(
            "all-MiniLM-L6-v2 is needed at {} (run scripts/test, which fetches it): {e}",
            dir.display()
        )
    });
    Arc::new(model)
}

fn question_trace(q: &str) -> Span {
    let mut a = Attributes::new();
    a.insert(keys::PROGRAM_NAME.into(), "qa".into());
    a.insert(keys::PROGRAM_COMPILED.into(), false.into());
    a.insert(
        keys::INPUTS.into(),
        serde_json::json!({"question": q}).to_string().into(),
    );
    let start = now_ns() - 60_000_000_000;
    Span {
        trace_id: TraceId::new(),
        span_id: SpanId::new(),
        parent_id: None,
        kind: SpanKind::Module,
        name: "qa".into(),
        start_ns: start,
        end_ns: start + 1_000_000,
        status: SpanStatus::Ok,
        attributes: a,
        events: Vec::new(),
    }
}

const TRAIN: &str = "{\"question\": \"My bike will not unlock at the station\", \"answer\": \"unlock_problem\"}\n{\"question\": \"I was charged twice for one ride\", \"answer\": \"billing\"}\n";

const RULES: &str = r#"
[[rule]]
kind = "input_drift"
program = "qa"
trainset = "train.jsonl"
fields = ["question"]
min_similarity = 0.3
max_share = 0.4

[[rule]]
kind = "embedding_drift"
program = "qa"
trainset = "train.jsonl"
fields = ["question"]
min_similarity = 0.35
max_share = 0.4
"#;

fn setup(questions: &[&str]) -> (tempfile::TempDir, Store, RuleSet) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train.jsonl"), TRAIN).unwrap();
    std::fs::write(dir.path().join("rules.toml"), RULES).unwrap();
    let store = Store::open(dir.path().join("t.db")).unwrap();
    let spans: Vec<Span> = questions.iter().map(|q| question_trace(q)).collect();
    store.write_spans(&spans).unwrap();
    let rules = RuleSet::load(dir.path().join("rules.toml")).unwrap();
    (dir, store, rules)
}

#[tokio::test]
async fn paraphrases_are_near_and_a_new_topic_is_far() {
    let embedder = minilm();
    // Reworded versions of the trainset: few shared words, same meaning.
    let paraphrases = [
        "The cycle refuses to release from the dock",
        "Why did you bill my card two times for a single trip?",
    ];
    let (_dir, store, rules) = setup(&paraphrases);
    let report = evaluate_with_embedder(&store, &rules, now_ns(), embedder.clone())
        .await
        .unwrap();
    let lexical = &report.results[0];
    let semantic = &report.results[1];
    assert_eq!(lexical.status, AlertStatus::Firing, "{lexical:?}");
    assert_eq!(semantic.kind, "embedding_drift");
    assert_eq!(semantic.status, AlertStatus::Ok, "{semantic:?}");
    assert_eq!(semantic.value, Some(0.0));
    assert!(
        semantic.message.contains("all-MiniLM-L6-v2"),
        "{}",
        semantic.message
    );

    let off_topic = [
        "What is a good recipe for lemon cake?",
        "Explain the rules of cricket",
    ];
    let (_dir, store, rules) = setup(&off_topic);
    let report = evaluate_with_embedder(&store, &rules, now_ns(), embedder.clone())
        .await
        .unwrap();
    assert_eq!(
        report.results[1].status,
        AlertStatus::Firing,
        "{:?}",
        report.results[1]
    );
    assert_eq!(report.results[1].value, Some(1.0));

    // Without an embedder the rule is reported, as no-data, never as a false OK.
    let plain = evaluate(&store, &rules, now_ns()).unwrap();
    assert_eq!(plain.results[1].status, AlertStatus::NoData);
    assert!(plain.results[1].message.contains("evaluate_with_embedder"));
}

#[tokio::test]
async fn measure_reports_share_and_mean_similarity() {
    let drift = EmbeddingDrift::new(minilm(), &["a flat tyre on my bike".to_string()])
        .await
        .unwrap();
    let m = drift
        .measure(
            &[
                "my bicycle has a puncture".to_string(),
                "tax law in Peru".to_string(),
            ],
            0.35,
        )
        .await
        .unwrap();
    assert_eq!((m.far, m.total), (1, 2));
    assert_eq!(m.share, 0.5);
    assert!(m.mean_best_similarity > 0.0 && m.mean_best_similarity < 1.0);
}

#[tokio::test]
async fn a_missing_trainset_is_a_rule_error() {
    let (dir, store, _) = setup(&["x"]);
    std::fs::remove_file(dir.path().join("train.jsonl")).unwrap();
    let rules = RuleSet::from_toml(
        RULES
            .split("[[rule]]")
            .nth(2)
            .map(|r| format!("[[rule]]{r}"))
            .unwrap()
            .as_str(),
    )
    .unwrap();
    let mut rules = rules;
    rules.base_dir = dir.path().to_path_buf();
    let err = evaluate_with_embedder(&store, &rules, now_ns(), minilm())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot load trainset"), "{err}");
}
