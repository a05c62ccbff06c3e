//! ReAct on the embedded model: each step's decoding is constrained so the tool named
//! is one of the tools and its arguments match that tool's schema. Every step parses
//! and every tool call's arguments pass the tool's own check, even on a 135M model.

use std::collections::HashMap;
use std::sync::Arc;

use sigil::module::{Ctx, Module, ReAct};
use sigil::prelude::*;
use sigil::tool::Tool;
use sigil::trace::{MemorySink, SpanCollector, SpanKind, SpanStatus};
use sigil_local::{LocalConfig, LocalLm};

use crate::common;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Add {
    a: i64,
    b: i64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Country {
    country: String,
}

fn tools() -> Vec<Tool> {
    let capitals: Arc<HashMap<&str, &str>> = Arc::new(
        [("france", "Paris"), ("japan", "Tokyo"), ("peru", "Lima")]
            .into_iter()
            .collect(),
    );
    vec![
        Tool::from_fn("add", "Adds two integers.", |x: Add| async move {
            Ok::<_, std::convert::Infallible>(x.a.saturating_add(x.b))
        }),
        Tool::from_fn(
            "capital",
            "The capital city of a country.",
            move |x: Country| {
                let capitals = capitals.clone();
                async move {
                    let key = x.country.trim().to_lowercase();
                    Ok::<_, std::convert::Infallible>(
                        capitals
                            .get(key.as_str())
                            .copied()
                            .unwrap_or("unknown")
                            .to_string(),
                    )
                }
            },
        ),
        Tool::new(
            "today",
            "Today's date.",
            serde_json::Value::Object(Default::default()),
            |_| async { Ok::<_, std::convert::Infallible>("2026-12-07") },
        ),
    ]
}

#[tokio::test]
async fn every_step_on_the_local_model_parses_and_names_a_tool_with_valid_arguments() {
    let lm: Arc<dyn Lm> = Arc::new(
        LocalLm::load(&common::model_path(), LocalConfig::default()).expect("model loads"),
    );
    let sink = Arc::new(MemorySink::default());
    let collector = SpanCollector::builder().sink(sink.clone()).build();
    let ctx = Ctx::from_arc(lm)
        .with_params(LmParams {
            temperature: Some(0.0),
            max_tokens: Some(80),
            ..Default::default()
        })
        .with_hook(collector.clone());
    let react = ReAct::parse("question -> answer", tools())
        .unwrap()
        .with_max_iters(3);
    let questions = [
        "What is 17 plus 25?",
        "What is the capital of Japan?",
        "What is today's date?",
        "Add 3 and 4, then tell me the capital of Peru.",
    ];
    let names = ["add", "capital", "today", "finish"];
    let mut steps = 0;
    for q in questions {
        let out = react
            .call(&ctx, Example::new().input("question", q))
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(out.fallbacks, 0, "{q}: no step needed the JSON fallback");
        let trajectory = out.get("trajectory").unwrap().as_object().unwrap();
        let n = trajectory
            .keys()
            .filter(|k| k.starts_with("tool_name_"))
            .count();
        let finished = trajectory
            .get(&format!("tool_name_{}", n.saturating_sub(1)))
            .and_then(|v| v.as_str())
            == Some("finish");
        // A step that did not parse would end the trajectory early, unfinished.
        assert!(n == 3 || finished, "{q}: {trajectory:?}");
        for i in 0..n {
            let name = trajectory[&format!("tool_name_{i}")].as_str().unwrap();
            assert!(names.contains(&name), "{q}: step {i} named {name:?}");
            let obs = trajectory[&format!("observation_{i}")].to_string();
            assert!(
                !obs.contains("Execution error"),
                "{q}: step {i} ({name}, {}) failed: {obs}",
                trajectory[&format!("tool_args_{i}")]
            );
        }
        steps += n;
    }
    assert!(steps >= questions.len());
    collector.flush();
    let spans = sink.spans();
    let parses: Vec<_> = spans.iter().filter(|s| s.kind == SpanKind::Parse).collect();
    assert!(
        parses.len() > steps,
        "a parse span per step and per extract"
    );
    for s in &parses {
        assert_eq!(s.status, SpanStatus::Ok, "{}: {:?}", s.name, s.status);
    }
    let lm_spans: Vec<_> = spans.iter().filter(|s| s.kind == SpanKind::Lm).collect();
    assert!(
        lm_spans
            .iter()
            .any(|s| s.attr_str("sigil.lm.constraint") == Some("chat_fields_by_choice")),
        "the steps were decoded under the by-choice constraint"
    );
}
