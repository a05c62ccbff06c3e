//! How a `Predict` call reaches the trace: the spans and events of one call.

use std::sync::Mutex;

use std::sync::Arc;

use crate::data::Example;
use crate::module::{Ctx, Module};
use crate::trace::{
    Hook, HookError, MemorySink, SpanCollector, SpanEnd, SpanKind, SpanStart, StartData,
};

/// Keeps owned copies of what the LM and parse events carry.
#[derive(Default)]
struct Keeps(Mutex<Vec<String>>);
impl Hook for Keeps {
    fn on_start(&self, s: &SpanStart<'_>) -> Result<(), HookError> {
        if let StartData::Lm { model_id, input } = &*s.data() {
            let roles: Vec<_> = input.messages().map(|m| format!("{:?}", m.role)).collect();
            self.0
                .lock()
                .unwrap()
                .push(format!("lm {model_id} {}: {}", s.name(), roles.join(",")));
        }
        Ok(())
    }
    fn on_end(&self, s: &SpanStart<'_>, e: &SpanEnd<'_>) -> Result<(), HookError> {
        if s.kind() == SpanKind::Parse {
            let fields = e.fields().map(|f| serde_json::to_string(f).unwrap());
            self.0.lock().unwrap().push(format!(
                "parse {} -> {}",
                s.completion().unwrap_or_default().len(),
                fields.unwrap_or_default()
            ));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_call_dropped_by_a_full_queue_leaves_nothing_in_the_next_calls_record() {
    let sink = Arc::new(MemorySink::default());
    // Room for one call's 4 spans until the collector delivers (at a flush).
    let collector = SpanCollector::builder()
        .sink(sink.clone())
        .max_queue(4)
        .interval(std::time::Duration::from_secs(3600))
        .build();
    let answer = |a: &str| format!("[[ ## answer ## ]]\n{a}\n\n[[ ## completed ## ]]");
    let lm = crate::testing::ScriptedLm::new([answer("1"), answer("2"), answer("3")]);
    let ctx = Ctx::new(lm).with_hook(collector.clone());
    let qa = crate::module::Predict::parse("question -> answer").unwrap();
    for q in ["one?", "two?"] {
        qa.call(&ctx, Example::new().input("question", q))
            .await
            .unwrap();
    }
    collector.flush();
    qa.call(&ctx, Example::new().input("question", "three?"))
        .await
        .unwrap();
    collector.flush();
    assert_eq!(collector.stats().dropped, 4);
    let spans = sink.spans();
    assert_eq!(spans.len(), 8);
    let seen: Vec<String> = spans
        .iter()
        .filter_map(|s| match s.kind {
            SpanKind::Module => s.attr_str(crate::trace::keys::INPUTS).map(String::from),
            SpanKind::Parse => s
                .attr_str(crate::trace::keys::PARSE_FIELDS)
                .map(String::from),
            _ => None,
        })
        .collect();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        seen[0].contains("1") && seen[1].contains("one?"),
        "{seen:?}"
    );
    assert!(
        seen[2].contains("3") && seen[3].contains("three?"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn hooks_build_owned_data_on_demand_and_the_collector_gets_the_same_spans() {
    let keeps = Arc::new(Keeps::default());
    let sink = Arc::new(MemorySink::default());
    let collector = SpanCollector::builder().sink(sink.clone()).build();
    let lm = crate::testing::ScriptedLm::new(["[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]"]);
    let ctx = Ctx::new(lm)
        .with_hook(keeps.clone())
        .with_hook(collector.clone());
    let qa = crate::module::Predict::parse("question -> answer").unwrap();
    qa.call(&ctx, Example::new().input("question", "2+2?"))
        .await
        .unwrap();
    collector.flush();
    let kept = keeps.0.lock().unwrap().clone();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept[0].ends_with(": System,User"), "{kept:?}");
    assert_eq!(kept[1], r#"parse 43 -> {"answer":"4"}"#);
    let spans = sink.spans();
    assert_eq!(spans.len(), 4);
    let lm_span = spans.iter().find(|s| s.kind == SpanKind::Lm).unwrap();
    let messages = lm_span
        .attr_str(crate::trace::keys::GEN_AI_INPUT_MESSAGES)
        .unwrap();
    assert!(
        messages.contains("2+2?"),
        "the user turn is carried: {messages}"
    );
    let parse = spans.iter().find(|s| s.kind == SpanKind::Parse).unwrap();
    assert_eq!(
        parse.attr_str(crate::trace::keys::PARSE_FIELDS),
        Some(r#"{"answer":"4"}"#)
    );
}

/// The chat adapter, counting how often it formats and parses.
#[derive(Default)]
struct Counting {
    formats: std::sync::atomic::AtomicUsize,
    prefixes: std::sync::atomic::AtomicUsize,
    parses: std::sync::atomic::AtomicUsize,
}

impl crate::adapter::Adapter for Arc<Counting> {
    fn name(&self) -> &'static str {
        "chat"
    }
    fn format_prefix(
        &self,
        signature: &crate::signature::Signature,
        demos: &[Example],
    ) -> Vec<crate::lm::Message> {
        self.prefixes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::adapter::ChatAdapter.format_prefix(signature, demos)
    }
    fn format_user(
        &self,
        signature: &crate::signature::Signature,
        inputs: &Example,
    ) -> Result<Option<crate::lm::Message>, crate::adapter::FormatError> {
        self.formats
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::adapter::ChatAdapter.format_user(signature, inputs)
    }
    fn parse(
        &self,
        signature: &crate::signature::Signature,
        completion: &str,
    ) -> Result<crate::adapter::Fields, crate::adapter::ParseError> {
        self.parses
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::adapter::ChatAdapter.parse(signature, completion)
    }
}

#[tokio::test]
async fn a_traced_call_formats_once_and_parses_once() {
    use std::sync::atomic::Ordering::Relaxed;
    let counting = Arc::new(Counting::default());
    let keeps = Arc::new(Keeps::default());
    let sink = Arc::new(MemorySink::default());
    let collector = SpanCollector::builder().sink(sink.clone()).build();
    let answer = "[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]";
    let lm = crate::testing::ScriptedLm::new([answer, answer]);
    // A hook that builds owned copies of every event, and a collector to a sink.
    let ctx = Ctx::new(lm)
        .with_adapter(counting.clone())
        .with_hook(keeps.clone())
        .with_hook(collector.clone());
    let qa = crate::module::Predict::parse("question -> answer").unwrap();
    for q in ["2+2?", "3+1?"] {
        qa.call(&ctx, Example::new().input("question", q))
            .await
            .unwrap();
    }
    collector.flush();
    assert_eq!(sink.spans().len(), 8);
    assert_eq!(counting.formats.load(Relaxed), 2, "one user turn per call");
    assert_eq!(counting.parses.load(Relaxed), 2, "one parse per call");
    assert_eq!(counting.prefixes.load(Relaxed), 1, "the prefix is cached");
    let lm_span = sink
        .spans()
        .into_iter()
        .find(|s| s.kind == SpanKind::Lm)
        .unwrap();
    assert!(
        lm_span
            .attr_str(crate::trace::keys::GEN_AI_INPUT_MESSAGES)
            .unwrap()
            .contains("2+2?")
    );
}

#[tokio::test]
async fn demo_capture_sees_every_call_even_when_traces_are_sampled_out() {
    let sink = Arc::new(MemorySink::default());
    let collector = SpanCollector::builder().sink(sink.clone()).build();
    let capture = crate::optimize::DemoCapture::new();
    let answer = "[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]";
    let lm = crate::testing::ScriptedLm::new([answer]);
    let ctx = Ctx::new(lm)
        .with_hook(collector.clone())
        .with_trace_sampling(0.0)
        .with_hook(capture.clone());
    let qa = crate::module::Predict::parse("question -> answer").unwrap();
    qa.call(&ctx, Example::new().input("question", "2+2?"))
        .await
        .unwrap();
    collector.flush();
    assert!(sink.spans().is_empty(), "the trace is not recorded");
    let calls = capture.take();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].outputs["answer"], "4");
    assert_eq!(calls[0].inputs.get_str("question").unwrap(), "2+2?");
}
