//! A two-module program yields one trace: program -> two predictors -> format, lm,
//! parse each, with LM contents and token roll-ups.

use crate::trace_support;

use std::sync::Arc;

use sigil::prelude::*;
use sigil::trace::{ProgramInfo, SpanKind, SpanStatus, keys};
use trace_support::*;

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

    let root = root(&spans);
    assert_eq!(root.kind, SpanKind::Module);
    assert_eq!(root.name, "TwoStep");
    assert_eq!(root.status, SpanStatus::Ok);
    assert_eq!(root.attr_str(keys::PROGRAM_NAME), Some("two-step"));
    assert_eq!(
        root.attr(keys::PROGRAM_COMPILED).and_then(|v| v.as_bool()),
        Some(false)
    );
    assert_eq!(
        root.attr_str(keys::PROGRAM_DEMOS),
        Some(r#"{"answer":0,"query":0}"#)
    );
    assert_eq!(root.attr_str(keys::PROGRAM_MODEL), Some("fake/fn"));
    assert!(
        root.attr_str(keys::INPUTS)
            .unwrap()
            .contains("capital of France")
    );
    assert!(root.attr_str(keys::OUTPUTS).unwrap().contains("Paris"));

    let steps = children(&spans, root);
    assert_eq!(
        steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["query", "answer"]
    );
    let mut lm_tokens = (0, 0);
    for step in &steps {
        assert_eq!(step.kind, SpanKind::Module);
        let inner = children(&spans, step);
        assert_eq!(
            kinds(&inner),
            [SpanKind::Format, SpanKind::Lm, SpanKind::Parse]
        );
        let lm = inner[1];
        assert_eq!(lm.attr_str(keys::GEN_AI_REQUEST_MODEL), Some("fake/fn"));
        assert_eq!(lm.attr_str(keys::GEN_AI_PROVIDER), Some("fake"));
        assert_eq!(lm.attr_f64(keys::GEN_AI_TEMPERATURE), Some(0.0));
        assert_eq!(lm.attr_i64(keys::GEN_AI_MAX_TOKENS), Some(64));
        assert!(
            lm.attr_str(keys::GEN_AI_INPUT_MESSAGES)
                .unwrap()
                .contains(r#""role":"system""#)
        );
        assert_eq!(
            lm.attr_str(keys::GEN_AI_FINISH_REASONS),
            Some(r#"["stop"]"#)
        );
        assert!(lm.attr_i64(keys::GEN_AI_INPUT_TOKENS).unwrap() > 0);
        assert!(lm.attr_i64(keys::GEN_AI_OUTPUT_TOKENS).unwrap() > 0);
        assert_eq!(lm.attr_i64(keys::GEN_AI_CACHED_TOKENS), Some(0));
        assert_eq!(
            lm.attr(keys::LM_CACHE_HIT).and_then(|v| v.as_bool()),
            Some(false)
        );
        assert_eq!(lm.attr_i64(keys::LM_RETRIES), Some(0));
        assert!(lm.attr(keys::LM_LATENCY_MS).is_some());
        assert!(lm.attr(keys::LM_COST_USD).is_some());
        assert!(lm.attr_str(keys::LM_OUTPUT).unwrap().contains("[[ ## "));
        let parse = inner[2];
        assert_eq!(parse.attr_str(keys::ADAPTER), Some("chat"));
        assert_eq!(
            parse.attr(keys::PARSE_FALLBACK).and_then(|v| v.as_bool()),
            Some(false)
        );
        assert!(
            parse
                .attr_str(keys::PARSE_COMPLETION)
                .unwrap()
                .contains("[[ ## completed ## ]]")
        );
        assert!(parse.attr_str(keys::PARSE_FIELDS).is_some());
        // The predictor rolls up its one LM call.
        assert_eq!(
            step.attr_i64(keys::USAGE_INPUT_TOKENS),
            lm.attr_i64(keys::GEN_AI_INPUT_TOKENS)
        );
        assert_eq!(step.attr_i64(keys::USAGE_LM_CALLS), Some(1));
        lm_tokens.0 += lm.attr_i64(keys::GEN_AI_INPUT_TOKENS).unwrap();
        lm_tokens.1 += lm.attr_i64(keys::GEN_AI_OUTPUT_TOKENS).unwrap();
    }
    // The program rolls up both.
    assert_eq!(root.attr_i64(keys::USAGE_INPUT_TOKENS), Some(lm_tokens.0));
    assert_eq!(root.attr_i64(keys::USAGE_OUTPUT_TOKENS), Some(lm_tokens.1));
    assert_eq!(root.attr_i64(keys::USAGE_LM_CALLS), Some(2));
    assert_eq!(lm_tokens.0 as u64, out.usage.input_tokens);
}
