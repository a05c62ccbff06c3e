//! ChainOfThought traces as one module span over its format, LM and parse spans.

use std::sync::Arc;

use sigil::prelude::*;
use sigil::trace::{MemorySink, SpanCollector, SpanKind};
use sigil_testkit::{ScriptedLm, chat};

#[tokio::test]
async fn chain_of_thought_has_a_single_module_span() {
    let sink = Arc::new(MemorySink::default());
    let collector = SpanCollector::builder().sink(sink.clone()).build();
    let lm = ScriptedLm::new([chat(&[("reasoning", "Two and two."), ("answer", "4")])]);
    let ctx = Ctx::new(lm).with_hook(collector.clone());
    let cot = ChainOfThought::parse("question -> answer").unwrap();
    cot.call(&ctx, Example::new().input("question", "2+2?"))
        .await
        .unwrap();
    collector.flush();
    let spans = sink.spans();
    let modules = spans.iter().filter(|s| s.kind == SpanKind::Module).count();
    assert_eq!(modules, 1, "{spans:#?}");
    assert_eq!(spans.len(), 4);
}
