//! Intent classification on the bike-support dataset: a Predict whose output is one
//! of six intents, evaluated zero-shot and with four labelled demos.
//!
//! cargo run -p sigil-examples --bin classify   (with SIGIL_OPENAI_BASE_URL pointing at a server)

use sigil::evaluate::{Evaluate, ExactMatch, paired_bootstrap};
use sigil::prelude::*;
use sigil_examples::{data_path, lm_from_env};

const SIGNATURE: &str = "text -> intent: enum[unlock_problem, billing_question, lost_item, report_damage, account_access, pricing_info]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Greedy and short: an intent label needs few tokens.
    let params = LmParams {
        temperature: Some(0.0),
        max_tokens: Some(48),
        ..Default::default()
    };
    let ctx = Ctx::from_arc(lm_from_env()?).with_params(params);
    let data = sigil::data::load_jsonl(data_path("bike_support_intents.jsonl"), &["text"])?;
    let (train, _, test) = data.split3(12, 0, 30, 7)?;

    let zero_shot = Predict::parse(SIGNATURE)?
        .with_instructions("Classify the customer's support message into one intent.");
    let few_shot = zero_shot
        .clone()
        .with_demos(train.examples.iter().take(6).cloned().collect());

    let eval = Evaluate::new(&test)
        .metric(ExactMatch::new("intent"))
        .concurrency(4)
        .max_errors(None);
    let base = eval.clone().run(&zero_shot, &ctx).await?;
    println!(
        "zero-shot accuracy: {:.1}% (95% CI {:.1}-{:.1}), {} parse fallbacks, {} errors",
        base.mean * 100.0,
        base.ci95.0 * 100.0,
        base.ci95.1 * 100.0,
        base.fallbacks,
        base.errors
    );
    let demo = eval.run(&few_shot, &ctx).await?;
    println!(
        "6-demo accuracy:    {:.1}% (95% CI {:.1}-{:.1}), {} parse fallbacks, {} errors",
        demo.mean * 100.0,
        demo.ci95.0 * 100.0,
        demo.ci95.1 * 100.0,
        demo.fallbacks,
        demo.errors
    );
    let cmp = paired_bootstrap(&demo, &base, 1000, 0)?;
    println!(
        "6-demo minus zero-shot: {:+.1} points (95% CI {:+.1} to {:+.1})",
        cmp.diff * 100.0,
        cmp.ci95.0 * 100.0,
        cmp.ci95.1 * 100.0
    );
    Ok(())
}
