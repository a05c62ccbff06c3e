//! OTLP export to a real Arize Phoenix: a two-module program's spans arrive with the
//! right OpenInference kinds, parent links and token counts, read back through
//! Phoenix's REST API.
//!
//! Run with `cargo test -p sigil-store --features phoenix-tests --test phoenix_export`
//! and `SIGIL_TEST_PHOENIX_URL` pointing at `phoenix serve` (scripts/phoenix-env.sh
//! starts one).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use sigil::lm::{Lm, LmError, LmRequest, LmResponse, Usage};
use sigil::prelude::*;
use sigil::trace::otlp::{OtlpConfig, OtlpExporter};
use sigil::trace::{ProgramInfo, SpanCollector};

use crate::program_support::TwoStep;

fn phoenix_url() -> String {
    match std::env::var("SIGIL_TEST_PHOENIX_URL") {
        Ok(u) if !u.trim().is_empty() => u.trim().trim_end_matches('/').to_string(),
        _ => panic!(
            "SIGIL_TEST_PHOENIX_URL is not set: this test needs a running Arize Phoenix. Start one with \
             `source scripts/dev-env.sh; source scripts/phoenix-env.sh; ensure_phoenix_venv; start_phoenix` \
             (it exports SIGIL_TEST_PHOENIX_URL), or run scripts/test."
        ),
    }
}

/// Answers each step with fixed token counts so they can be checked in Phoenix.
struct CountingLm;

#[async_trait]
impl Lm for CountingLm {
    fn model_id(&self) -> String {
        "openai/gpt-4o-mini".into()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let answer = request.messages[0].content.contains("`answer`");
        let text = if answer {
            "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"
        } else {
            "[[ ## query ## ]]\ncapital of France\n\n[[ ## completed ## ]]"
        };
        let usage = if answer {
            Usage {
                input_tokens: 120,
                output_tokens: 7,
                cached_tokens: 100,
                cost_usd: 0.0002,
            }
        } else {
            Usage {
                input_tokens: 80,
                output_tokens: 5,
                cached_tokens: 0,
                cost_usd: 0.0001,
            }
        };
        Ok(LmResponse {
            text: text.into(),
            finish_reason: Some("stop".into()),
            usage,
            model: "gpt-4o-mini-2024-07-18".into(),
            latency_ms: 12.0,
            ..Default::default()
        })
    }
}

async fn phoenix_spans(url: &str, project: &str) -> Vec<Value> {
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{url}/v1/projects/{project}/spans?limit=100"))
        .send()
        .await;
    match resp {
        Ok(r) if r.status().is_success() => {
            let body: Value = r.json().await.unwrap_or_default();
            body["data"].as_array().cloned().unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn two_module_program_spans_arrive_in_phoenix() {
    let url = phoenix_url();
    let project = format!("sigil-test-{}", sigil::trace::TraceId::new().to_hex());
    let exporter = OtlpExporter::new(
        OtlpConfig::new(format!("{url}/v1/traces"))
            .resource_attribute("openinference.project.name", &project),
    )
    .unwrap();
    let exporter = Arc::new(exporter);
    let collector = SpanCollector::builder().sink(exporter.clone()).build();
    let program = TwoStep::new();
    let ctx = Ctx::new(CountingLm)
        .with_hook(collector.clone())
        .with_program(ProgramInfo::uncompiled("two-step"));
    let out = program
        .call(
            &ctx,
            Example::new().input("question", "What is the capital of France?"),
        )
        .await
        .unwrap();
    assert_eq!(out.get_str("answer").as_deref(), Some("Paris"));
    collector.flush();
    assert_eq!(
        exporter.failed_batches(),
        0,
        "Phoenix refused the export (see stderr)"
    );
    assert!(exporter.sent_batches() >= 1);

    // Phoenix ingests asynchronously: poll its REST API.
    let deadline = Instant::now() + Duration::from_secs(30);
    let spans = loop {
        let spans = phoenix_spans(&url, &project).await;
        if spans.len() >= 9 || Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        spans.len(),
        9,
        "program + 2 x (predictor, format, lm, parse): {spans:#?}"
    );

    let id = |s: &Value| {
        s["context"]["span_id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let by_name: HashMap<String, &Value> = spans
        .iter()
        .map(|s| (s["name"].as_str().unwrap_or_default().to_string(), s))
        .collect();
    let root = by_name["TwoStep"];
    assert!(
        root["parent_id"].is_null(),
        "the program span is the root: {root:#}"
    );
    assert_eq!(root["span_kind"], "CHAIN");
    let trace_id = root["context"]["trace_id"].as_str().unwrap();
    assert!(
        spans.iter().all(|s| s["context"]["trace_id"] == trace_id),
        "one trace"
    );
    for step in ["query", "answer"] {
        let s = by_name[step];
        assert_eq!(
            s["parent_id"].as_str(),
            Some(id(root).as_str()),
            "{step} is a child of the program"
        );
        assert_eq!(s["span_kind"], "CHAIN");
    }
    let llms: Vec<&Value> = spans.iter().filter(|s| s["span_kind"] == "LLM").collect();
    assert_eq!(llms.len(), 2);
    let mut prompt_tokens = Vec::new();
    for l in &llms {
        let parent = l["parent_id"].as_str().unwrap();
        assert!(
            parent == id(by_name["query"]) || parent == id(by_name["answer"]),
            "LLM spans hang off a predictor"
        );
        let a = &l["attributes"];
        prompt_tokens.push(a["llm.token_count.prompt"].as_i64().unwrap());
        assert_eq!(a["llm.model_name"], "openai/gpt-4o-mini");
        assert_eq!(a["gen_ai.request.model"], "openai/gpt-4o-mini");
        assert_eq!(a["langfuse.observation.type"], "generation");
        let total = a["llm.token_count.total"].as_i64().unwrap();
        assert_eq!(
            total,
            a["llm.token_count.prompt"].as_i64().unwrap()
                + a["llm.token_count.completion"].as_i64().unwrap()
        );
    }
    prompt_tokens.sort();
    assert_eq!(prompt_tokens, [80, 120]);
    assert_eq!(
        spans.iter().filter(|s| s["name"] == "chat.format").count(),
        2,
        "a format span per predictor"
    );
    assert_eq!(
        spans.iter().filter(|s| s["name"] == "chat.parse").count(),
        2,
        "a parse span per predictor"
    );
    assert!(
        llms.iter().all(|l| l["name"] == "chat openai/gpt-4o-mini"),
        "GenAI span names"
    );
    assert_eq!(
        root["attributes"]["sigil.usage.input_tokens"].as_i64(),
        Some(200),
        "the program rolls up its tokens"
    );
}
