//! The artifact file for a two-predictor program is exactly the reviewed golden file
//! (tests/golden/artifact/two_step.sigil.toml), and loading it gives the artifact back.
//! Regenerate with `SIGIL_UPDATE_GOLDEN=1 cargo test -p sigil --test artifact_golden`.

use artifact_dspy_common::TwoStep;
use sigil::artifact::{Artifact, Provenance};
use sigil::module::Overlay;
use sigil::optimize::{Compiled, Spend};
use sigil::prelude::*;

use crate::artifact_dspy_common;

pub fn golden_artifact() -> Artifact {
    let program = TwoStep {
        write_query: Predict::parse("question -> search_query").unwrap(),
        answer: ChainOfThought::new(
            Signature::parse("context: list[str], question -> answer, confidence: float")
                .unwrap()
                .with_field_desc("context", "retrieved passages")
                .unwrap(),
        )
        .unwrap(),
    };
    let mut overlay = Overlay::default();
    overlay.set_instructions(
        "answer",
        "Answer from the passages only.\nIf they do not say, answer \"unknown\".",
    );
    overlay.set_demos(
        "answer",
        vec![
            Example::new()
                .input("context", vec!["Rome is the capital of Italy."])
                .input("question", "What is the capital of Italy?")
                .set("reasoning", "The passage says Rome.")
                .set("answer", "Rome")
                .set("confidence", 0.9),
        ],
    );
    let compiled = Compiled {
        optimizer: "BootstrapFewShot".into(),
        seed: 7,
        overlay,
        score: Some(0.8),
        baseline_score: Some(0.55),
        trials: Vec::new(),
        spend: Spend {
            lm_calls: 40,
            input_tokens: 1000,
            output_tokens: 200,
            cost_usd: 0.0,
            cache_hits: 2,
        },
        stopped: None,
        seen_examples: Vec::new(),
    };
    let train: Vec<Example> = (0..3)
        .map(|i| {
            Example::new()
                .input("question", format!("q{i}"))
                .set("answer", format!("a{i}"))
        })
        .collect();
    let provenance = Provenance::new("openai/gpt-4o-mini")
        .lm_params(sigil::lm::LmParams {
            temperature: Some(0.0),
            max_tokens: Some(512),
            ..Default::default()
        })
        .setting("max_bootstrapped_demos", 4)
        .setting("max_labeled_demos", 16)
        .setting("metric_threshold", 1.0)
        .trainset(&train)
        .metric("exact_match(answer)");
    Artifact::build(&program, &compiled, &ChatAdapter, provenance).unwrap()
}

#[test]
fn two_step_artifact_matches_the_golden_file() {
    let text = golden_artifact().to_toml_string().unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/artifact/two_step.sigil.toml");
    if std::env::var_os("SIGIL_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text, golden,
        "artifact text changed; review and regenerate the golden"
    );
    let loaded = Artifact::from_toml_str(&golden, "golden").unwrap();
    assert_eq!(loaded, golden_artifact());
    assert_eq!(loaded.stale_renders(), Some(Vec::new()));
}
