//! A two-module program yields one trace: program -> two predictors -> format, lm,
//! parse each, with LM contents and token roll-ups.

use std::sync::Arc;

use sigil::prelude::*;
use sigil::trace::{ProgramInfo, SpanKind, keys};
use sigil_testkit::expect;
use trace_support::*;

use crate::trace_support;

#[tokio::test]
async fn two_module_program_is_one_trace_with_nested_spans() {
    let (collector, sink) = memory_collector();
    let program = TwoStep::new();
    let ctx = Ctx::from_arc(Arc::new(two_step_lm()))
        .with_params(LmParams {
            temperature: Some(0.0),
            max_tokens: Some(64),
            ..Default::default()
        })
        .with_hook(collector.clone());
    let ctx = ctx.with_program(ProgramInfo::uncompiled("two-step").describe(&program, &ctx));
    let out = program
        .call(
            &ctx,
            Example::new().input("question", "What is the capital of France?"),
        )
        .await
        .unwrap();
    assert_eq!(out.get_str("answer").as_deref(), Some("Paris"));
    collector.flush();
    let spans = sink.spans();
    assert_eq!(spans.len(), 9, "program + 2 x (predict, format, lm, parse)");
    assert_well_formed(&spans);

    // Each predictor: format, lm, parse, with the LM call's request and response.
    let step = |name: &str| {
        expect::span(name)
            .kind(SpanKind::Module)
            .with_attr(keys::USAGE_LM_CALLS, 1i64)
            .child(expect::kind(SpanKind::Format))
            .child(
                expect::kind(SpanKind::Lm)
                    .with_attr(keys::GEN_AI_REQUEST_MODEL, "fake/fn")
                    .with_attr(keys::GEN_AI_PROVIDER, "fake")
                    .with_attr(keys::GEN_AI_TEMPERATURE, 0.0)
                    .with_attr(keys::GEN_AI_MAX_TOKENS, 64i64)
                    .with_attr_containing(keys::GEN_AI_INPUT_MESSAGES, r#""role":"system""#)
                    .with_attr(keys::GEN_AI_FINISH_REASONS, r#"["stop"]"#)
                    .with_attr(keys::GEN_AI_CACHED_TOKENS, 0i64)
                    .with_attr(keys::LM_CACHE_HIT, false)
                    .with_attr(keys::LM_RETRIES, 0i64)
                    .with_attr_present(keys::LM_LATENCY_MS)
                    .with_attr_present(keys::LM_COST_USD)
                    .with_attr_containing(keys::LM_OUTPUT, "[[ ## "),
            )
            .child(
                expect::kind(SpanKind::Parse)
                    .with_attr(keys::ADAPTER, "chat")
                    .with_attr(keys::PARSE_FALLBACK, false)
                    .with_attr_containing(keys::PARSE_COMPLETION, "[[ ## completed ## ]]")
                    .with_attr_present(keys::PARSE_FIELDS),
            )
    };
    expect::span("TwoStep")
        .kind(SpanKind::Module)
        .ok()
        .with_attr(keys::PROGRAM_NAME, "two-step")
        .with_attr(keys::PROGRAM_COMPILED, false)
        .with_attr(keys::PROGRAM_DEMOS, r#"{"answer":0,"query":0}"#)
        .with_attr(keys::PROGRAM_MODEL, "fake/fn")
        .with_attr_containing(keys::INPUTS, "capital of France")
        .with_attr_containing(keys::OUTPUTS, "Paris")
        .child(step("query"))
        .child(step("answer"))
        .assert_tree(&spans);

    let root = root(&spans);
    let mut lm_tokens = (0, 0);
    for step in &children(&spans, root) {
        let inner = children(&spans, step);
        let lm = inner[1];
        assert!(lm.attr_i64(keys::GEN_AI_INPUT_TOKENS).unwrap() > 0);
        assert!(lm.attr_i64(keys::GEN_AI_OUTPUT_TOKENS).unwrap() > 0);
        // The predictor rolls up its one LM call.
        assert_eq!(
            step.attr_i64(keys::USAGE_INPUT_TOKENS),
            lm.attr_i64(keys::GEN_AI_INPUT_TOKENS)
        );
        lm_tokens.0 += lm.attr_i64(keys::GEN_AI_INPUT_TOKENS).unwrap();
        lm_tokens.1 += lm.attr_i64(keys::GEN_AI_OUTPUT_TOKENS).unwrap();
    }
    // The program rolls up both.
    assert_eq!(root.attr_i64(keys::USAGE_INPUT_TOKENS), Some(lm_tokens.0));
    assert_eq!(root.attr_i64(keys::USAGE_OUTPUT_TOKENS), Some(lm_tokens.1));
    assert_eq!(root.attr_i64(keys::USAGE_LM_CALLS), Some(2));
    assert_eq!(lm_tokens.0 as u64, out.usage.input_tokens);
}
