//! Alert rules over the store: each kind fires on bad data and stays quiet on good
//! data; malformed rules files are clear errors; firing alerts POST to a webhook.

use std::io::{Read, Write};

use sigil::trace::{Attributes, Span, SpanId, SpanKind, SpanStatus, TraceId, keys, now_ns};
use sigil_alerts::{AlertError, AlertStatus, RuleSet, evaluate, post_webhook};
use sigil_store::Store;

struct Root {
    kind: SpanKind,
    program: &'static str,
    ms: u64,
    error: bool,
    cost: f64,
    artifact: Option<&'static str>,
    score: Option<f64>,
    question: Option<&'static str>,
}

fn root(r: Root, ago_s: u64) -> Span {
    let mut a = Attributes::new();
    a.insert(keys::PROGRAM_NAME.into(), r.program.into());
    a.insert(keys::PROGRAM_COMPILED.into(), r.artifact.is_some().into());
    if let Some(h) = r.artifact {
        a.insert(keys::PROGRAM_ARTIFACT_HASH.into(), h.into());
    }
    a.insert(keys::USAGE_COST_USD.into(), r.cost.into());
    if let Some(s) = r.score {
        a.insert(keys::EVAL_SCORE.into(), s.into());
    }
    if let Some(q) = r.question {
        a.insert(
            keys::INPUTS.into(),
            serde_json::json!({"question": q}).to_string().into(),
        );
    }
    let start = now_ns() - ago_s * 1_000_000_000;
    Span {
        trace_id: TraceId::new(),
        span_id: SpanId::new(),
        parent_id: None,
        kind: r.kind,
        name: r.program.into(),
        start_ns: start,
        end_ns: start + r.ms * 1_000_000,
        status: if r.error {
            SpanStatus::Error("boom".into())
        } else {
            SpanStatus::Ok
        },
        attributes: a,
        events: Vec::new(),
    }
}

fn call(ms: u64, error: bool, cost: f64, question: &'static str) -> Root {
    Root {
        kind: SpanKind::Module,
        program: "qa",
        ms,
        error,
        cost,
        artifact: None,
        score: None,
        question: Some(question),
    }
}

fn eval(artifact: Option<&'static str>, score: f64) -> Root {
    Root {
        kind: SpanKind::Evaluate,
        program: "qa",
        ms: 1000,
        error: false,
        cost: 0.0,
        artifact,
        score: Some(score),
        question: None,
    }
}

fn store_with(spans: Vec<Span>) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("a.db")).unwrap();
    store.write_spans(&spans).unwrap();
    (dir, store)
}

const RULES: &str = r#"
[[rule]]
name = "errors"
kind = "error_rate"
program = "qa"
max = 0.2

[[rule]]
kind = "p95_latency"
program = "qa"
max_ms = 500

[[rule]]
kind = "cost_per_hour"
max_usd = 1.0

[[rule]]
kind = "score_regression"
program = "qa"
baseline = "v1"
candidate = "latest"
max_drop = 0.05
window = "1d"

[[rule]]
kind = "input_drift"
program = "qa"
trainset = "train.jsonl"
fields = ["question"]
min_similarity = 0.3
max_share = 0.25
"#;

fn rules_in(dir: &std::path::Path, text: &str) -> RuleSet {
    std::fs::write(dir.join("train.jsonl"), "{\"question\": \"what is the capital of france\", \"answer\": \"Paris\"}\n{\"question\": \"who wrote hamlet\", \"answer\": \"Shakespeare\"}\n").unwrap();
    let path = dir.join("rules.toml");
    std::fs::write(&path, text).unwrap();
    RuleSet::load(&path).unwrap()
}

#[test]
fn healthy_traffic_fires_nothing() {
    let mut spans: Vec<Span> = (0..20)
        .map(|i| {
            root(
                call(100 + i, i == 0, 0.001, "what is the capital of france"),
                60,
            )
        })
        .collect();
    spans.push(root(eval(Some("v1"), 0.80), 3600));
    spans.push(root(eval(Some("v2"), 0.82), 600));
    let (dir, store) = store_with(spans);
    let rules = rules_in(dir.path(), RULES);
    let report = evaluate(&store, &rules, now_ns()).unwrap();
    for r in &report.results {
        assert_eq!(r.status, AlertStatus::Ok, "{r:?}");
    }
    assert!(!report.any_firing());
}

#[test]
fn every_kind_fires_on_bad_traffic() {
    let far = "explain quantum chromodynamics on a lattice";
    let mut spans: Vec<Span> = (0..10)
        .map(|i| {
            root(
                call(
                    if i < 2 { 3000 } else { 100 },
                    i < 4,
                    0.5,
                    if i < 5 { far } else { "who wrote hamlet" },
                ),
                60,
            )
        })
        .collect();
    spans.push(root(eval(Some("v1"), 0.80), 3600));
    spans.push(root(eval(Some("v2"), 0.60), 600));
    let (dir, store) = store_with(spans);
    let rules = rules_in(dir.path(), RULES);
    let report = evaluate(&store, &rules, now_ns()).unwrap();
    let by_kind = |k: &str| report.results.iter().find(|r| r.kind == k).unwrap();
    for k in [
        "error_rate",
        "p95_latency",
        "cost_per_hour",
        "score_regression",
        "input_drift",
    ] {
        assert_eq!(by_kind(k).status, AlertStatus::Firing, "{:?}", by_kind(k));
    }
    assert_eq!(by_kind("error_rate").value, Some(0.4));
    assert!(
        by_kind("error_rate")
            .message
            .contains("4 of 10 traces failed"),
        "{}",
        by_kind("error_rate").message
    );
    assert_eq!(by_kind("p95_latency").value, Some(3000.0));
    assert!((by_kind("score_regression").value.unwrap() - 0.2).abs() < 1e-9);
    assert!(by_kind("score_regression").message.contains("v2"));
    assert_eq!(by_kind("input_drift").value, Some(0.5));
    assert_eq!(report.firing().count(), 5);
}

#[test]
fn no_traces_is_no_data_not_a_false_alarm() {
    let (dir, store) = store_with(vec![root(call(100, true, 0.0, "x"), 7200)]);
    let rules = rules_in(dir.path(), RULES);
    let report = evaluate(&store, &rules, now_ns()).unwrap();
    let s: Vec<_> = report
        .results
        .iter()
        .map(|r| (r.kind.as_str(), r.status))
        .collect();
    assert_eq!(
        s,
        [
            ("error_rate", AlertStatus::NoData),
            ("p95_latency", AlertStatus::NoData),
            ("cost_per_hour", AlertStatus::Ok),
            ("score_regression", AlertStatus::NoData),
            ("input_drift", AlertStatus::NoData),
        ]
    );
}

#[test]
fn malformed_rules_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let e =
        RuleSet::load(write("a.toml", "[[rule]]\nkind = \"error_rate\"\nmax = \n")).unwrap_err();
    assert!(
        matches!(e, AlertError::Malformed { .. }) && e.to_string().contains("line 3"),
        "{e}"
    );
    let e = RuleSet::load(write(
        "b.toml",
        "[[rule]]\nkind = \"error_rte\"\nmax = 0.1\n",
    ))
    .unwrap_err();
    assert!(
        matches!(e, AlertError::Malformed { .. }) && e.to_string().contains("error_rte"),
        "{e}"
    );
    let e = RuleSet::load(write(
        "c.toml",
        "[[rule]]\nkind = \"error_rate\"\nmax = 5\n",
    ))
    .unwrap_err();
    assert!(
        matches!(e, AlertError::BadRule { .. }) && e.to_string().contains("between 0 and 1"),
        "{e}"
    );
    let e = RuleSet::load(write(
        "d.toml",
        "[[rule]]\nkind = \"p95_latency\"\nmax_ms = 10\nwindow = \"soon\"\n",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("window `soon`"), "{e}");
    let e = RuleSet::load(write(
        "g.toml",
        "[[rule]]\nkind = \"p95_latency\"\nmax_ms = 10\nmaxx = 1\n",
    ))
    .unwrap_err();
    assert!(
        matches!(e, AlertError::Malformed { .. }) && e.to_string().contains("maxx"),
        "{e}"
    );
    let e = RuleSet::load(write("e.toml", "")).unwrap_err();
    assert!(e.to_string().contains("no [[rule]]"), "{e}");
    let e = RuleSet::load(dir.path().join("missing.toml")).unwrap_err();
    assert!(matches!(e, AlertError::Read { .. }), "{e}");
    let ok = RuleSet::load(write(
        "f.json",
        r#"{"rule": [{"kind": "cost_per_hour", "max_usd": 2}]}"#,
    ))
    .unwrap();
    assert_eq!(ok.rules.len(), 1);
}

#[tokio::test]
async fn firing_alerts_are_posted_to_the_webhook() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = conn.read(&mut buf).unwrap();
            data.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&data).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if data.len() >= end + 4 + len {
                    conn.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
                    return text[end + 4..].to_string();
                }
            }
        }
    });
    let (dir, store) = store_with(
        (0..4)
            .map(|_| root(call(100, true, 0.0, "q"), 10))
            .collect(),
    );
    let rules = rules_in(dir.path(), "[[rule]]\nkind = \"error_rate\"\nmax = 0.1\n");
    let report = evaluate(&store, &rules, now_ns()).unwrap();
    assert!(report.any_firing());
    post_webhook(&url, &report).await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&server.join().unwrap()).unwrap();
    assert_eq!(body["source"], "sigil");
    assert_eq!(body["alerts"][0]["kind"], "error_rate");
    assert_eq!(body["alerts"][0]["status"], "firing");
}
