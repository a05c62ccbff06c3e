//! A DSPy-shaped run on the embedded model: `Predict` with the ChatAdapter, a label
//! field constrained to the labels, demos, and `Evaluate` with concurrent calls. Under
//! the constraint no answer fails to parse, and the shared prompt prefix is reused.

use std::sync::Arc;

use sigil::evaluate::{Evaluate, ExactMatch};
use sigil::prelude::*;
use sigil_local::{LocalConfig, LocalLm};

use crate::common;

const SIGNATURE: &str = "text -> label: enum[card_arrival, exchange_rate, lost_or_stolen_card, top_up_failed, refund_not_showing_up]";

fn ex(text: &str, label: &str) -> Example {
    Example::new().input("text", text).set("label", label)
}

#[tokio::test]
async fn constrained_predict_never_fails_to_parse() {
    let lm: Arc<dyn Lm> = Arc::new(
        LocalLm::load(&common::model_path(), LocalConfig::default()).expect("model loads"),
    );
    let ctx = Ctx::from_arc(lm).with_params(LmParams {
        temperature: Some(0.0),
        max_tokens: Some(40),
        ..Default::default()
    });
    let demos = vec![
        ex(
            "My card still hasn't arrived, when will it come?",
            "card_arrival",
        ),
        ex("What exchange rate do you use for euros?", "exchange_rate"),
        ex(
            "Someone stole my wallet with my card in it.",
            "lost_or_stolen_card",
        ),
        ex("My top-up did not go through.", "top_up_failed"),
        ex(
            "I asked for a refund but I don't see it.",
            "refund_not_showing_up",
        ),
    ];
    let test = vec![
        ex("How long does card delivery take?", "card_arrival"),
        ex(
            "Is the exchange rate fixed when I pay abroad?",
            "exchange_rate",
        ),
        ex(
            "I lost my card yesterday, please block it.",
            "lost_or_stolen_card",
        ),
        ex("Why was my top up declined?", "top_up_failed"),
        ex(
            "The refund from the shop is still missing.",
            "refund_not_showing_up",
        ),
        ex("Has my new card been sent yet?", "card_arrival"),
    ];
    let predict = Predict::parse(SIGNATURE)
        .unwrap()
        .with_instructions("Classify the banking question.")
        .with_demos(demos);
    let report = Evaluate::new(&test)
        .metric(ExactMatch::new("label"))
        .concurrency(3)
        .max_errors(None)
        .run(&predict, &ctx)
        .await
        .unwrap();
    assert_eq!(
        report.errors,
        0,
        "{:?}",
        report
            .results
            .iter()
            .filter_map(|r| r.error.as_ref())
            .collect::<Vec<_>>()
    );
    assert_eq!(report.fallbacks, 0);
    assert!(
        report.usage.cached_tokens > 0,
        "the shared system prompt and demos are reused: {:?}",
        report.usage
    );
    eprintln!(
        "accuracy {:.0}% on {} examples, usage {:?}",
        report.mean * 100.0,
        test.len(),
        report.usage
    );
}
