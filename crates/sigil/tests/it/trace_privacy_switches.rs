//! Privacy switches leave inputs, outputs or messages out of spans; secrets in
//! prompts and completions are redacted.

use std::sync::Arc;

use sigil::prelude::*;
use sigil::trace::{MemorySink, Privacy, SpanCollector, keys};
use sigil_testkit::ScriptedLm;
use trace_support::*;

use crate::trace_support;

async fn spans_with(privacy: Privacy, question: &str) -> Vec<sigil::trace::Span> {
    let sink = Arc::new(MemorySink::default());
    let collector = SpanCollector::builder()
        .sink(sink.clone())
        .privacy(privacy)
        .build();
    let lm = ScriptedLm::from_fn(|_| {
        Ok(chat(&[(
            "answer",
            "the key is sk-proj-ABCDEFGHIJKLMNOPQRSTUV",
        )]))
    });
    let ctx = Ctx::new(lm).with_hook(collector.clone());
    let p = Predict::parse("question -> answer").unwrap();
    p.call(&ctx, Example::new().input("question", question))
        .await
        .unwrap();
    collector.flush();
    sink.spans()
}

fn all_text(spans: &[sigil::trace::Span]) -> String {
    serde_json::to_string(spans).unwrap()
}

#[tokio::test]
async fn metadata_only_records_no_content() {
    let spans = spans_with(Privacy::metadata_only(), "my secret question").await;
    assert_eq!(spans.len(), 4);
    let text = all_text(&spans);
    assert!(!text.contains("my secret question"), "{text}");
    assert!(!text.contains("the key is"), "{text}");
    let lm = spans
        .iter()
        .find(|s| s.kind == sigil::trace::SpanKind::Lm)
        .unwrap();
    assert!(lm.attr(keys::GEN_AI_INPUT_MESSAGES).is_none());
    assert!(
        lm.attr_i64(keys::GEN_AI_INPUT_TOKENS).is_some(),
        "tokens are still recorded"
    );
}

#[tokio::test]
async fn messages_off_keeps_inputs_and_outputs() {
    let spans = spans_with(Privacy::default().messages(false), "plain question").await;
    let predict = root(&spans);
    assert!(
        predict
            .attr_str(keys::INPUTS)
            .unwrap()
            .contains("plain question")
    );
    assert!(predict.attr(keys::OUTPUTS).is_some());
    let lm = spans
        .iter()
        .find(|s| s.kind == sigil::trace::SpanKind::Lm)
        .unwrap();
    assert!(lm.attr(keys::GEN_AI_INPUT_MESSAGES).is_none());
    let parse = spans
        .iter()
        .find(|s| s.kind == sigil::trace::SpanKind::Parse)
        .unwrap();
    assert!(parse.attr(keys::PARSE_COMPLETION).is_none());
}

#[tokio::test]
async fn secrets_are_redacted_everywhere() {
    let spans = spans_with(
        Privacy::default().redact_value("hunter2-local"),
        "use api_key=abcdef0123456789 and hunter2-local",
    )
    .await;
    let text = all_text(&spans);
    assert!(!text.contains("sk-proj-ABCDEFGHIJKLMNOPQRSTUV"), "{text}");
    assert!(!text.contains("abcdef0123456789"), "{text}");
    assert!(!text.contains("hunter2-local"), "{text}");
    assert!(text.contains("[REDACTED]"));
}
