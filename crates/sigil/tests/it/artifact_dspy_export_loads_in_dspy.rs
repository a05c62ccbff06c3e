//! A Sigil artifact exported to DSPy JSON loads in real Python DSPy 3.4.1
//! (`program.load()`), and DSPy then renders exactly the prompts the artifact shows.
//!
//! Needs `SIGIL_TEST_DSPY_PYTHON`, the python of a venv with dspy==3.4.1 (scripts/test
//! sets it up); fails loudly without it.

use std::process::Command;

use artifact_dspy_common::*;
use serde_json::Value;
use sigil::artifact::Artifact;
use sigil::artifact::dspy::export_dspy;
use sigil::lm::Role;
use sigil::module::Overlay;
use sigil::optimize::{Compiled, Spend};
use sigil::prelude::*;
use sigil::signature::{Field, FieldType};

use crate::artifact_dspy_common;

/// The artifact of `program` under `overlay`, as if an optimizer had found it.
fn artifact_of(program: &dyn Module, overlay: Overlay) -> Artifact {
    Artifact::build(
        program,
        &compiled(overlay),
        &ChatAdapter,
        sigil::artifact::Provenance::new("x"),
    )
    .unwrap()
}

fn compiled(overlay: Overlay) -> Compiled {
    Compiled {
        optimizer: "hand".into(),
        seed: 0,
        overlay,
        score: None,
        baseline_score: None,
        trials: Vec::new(),
        spend: Spend::default(),
        stopped: None,
        seen_examples: Vec::new(),
    }
}

fn python() -> String {
    std::env::var("SIGIL_TEST_DSPY_PYTHON").expect(
        "SIGIL_TEST_DSPY_PYTHON is not set: run scripts/test, or point it at .dev/venv-dspy/bin/python",
    )
}

/// Exports `artifact`, loads it into DSPy program `name` and checks what DSPy holds.
fn loads_in_dspy(name: &str, artifact: &Artifact) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.json"));
    let json = export_dspy(artifact).unwrap();
    std::fs::write(&file, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/gen_dspy_fixtures.py"
    );
    let out = Command::new(python())
        .arg(script)
        .arg("load")
        .arg(name)
        .arg(&file)
        .output()
        .expect("cannot run the DSPy python");
    assert!(
        out.status.success(),
        "DSPy could not load the export:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let described: Value = serde_json::from_slice(&out.stdout).unwrap();
    let described = described.as_object().unwrap();
    assert_eq!(described.len(), artifact.predictors.len());
    for (dspy_name, d) in described {
        let path = sigil_path(dspy_name);
        let entry = artifact.predictor(&path).unwrap();
        assert_eq!(d["instructions"].as_str().unwrap(), entry.instructions);
        assert_eq!(d["demos"].as_array().unwrap().len(), entry.demos.len());
        let messages = d["messages"].as_array().unwrap();
        assert_eq!(messages.len(), entry.rendered.len(), "{name}/{path}");
        for (want, got) in messages.iter().zip(&entry.rendered) {
            let role = match got.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            assert_eq!(want["role"], role);
            assert_eq!(
                want["content"].as_str().unwrap(),
                got.content,
                "{name}/{path}"
            );
        }
    }
}

#[test]
fn two_predictor_program_with_demos_and_a_description() {
    let program = TwoStep {
        write_query: Predict::parse("question -> search_query").unwrap(),
        answer: ChainOfThought::new(
            Signature::parse("context: list[str], question -> answer")
                .unwrap()
                .with_field_desc("context", "retrieved passages")
                .unwrap(),
        )
        .unwrap(),
    };
    let mut overlay = Overlay::default();
    overlay.set_instructions("write_query", "Turn the question into a web search.");
    overlay.set_demos(
        "write_query",
        vec![
            Example::new()
                .input("question", "Who built the Eiffel Tower?")
                .set("search_query", "Eiffel Tower architect"),
        ],
    );
    overlay.set_instructions("answer", "Answer from the passages.\nBe brief.");
    overlay.set_demos(
        "answer",
        vec![
            Example::new()
                .input("context", vec!["Gustave Eiffel's company built it."])
                .input("question", "Who built the Eiffel Tower?")
                .set("reasoning", "The passage names Eiffel's company.")
                .set("answer", "Gustave Eiffel's company"),
            Example::new()
                .input("context", vec!["Rome is in Italy."])
                .input("question", "Where is Rome?")
                .set("answer", "Italy"),
        ],
    );
    let artifact = artifact_of(&program, overlay);
    loads_in_dspy("two_step", &artifact);
}

#[test]
fn bare_predict_with_a_prefix() {
    let mut answer = Field::new("answer", FieldType::Str).with_desc("one word");
    answer.prefix = Some("Final Answer:".into());
    let program = Predict::new(
        Signature::new(vec![Field::new("question", FieldType::Str)], vec![answer]).unwrap(),
    )
    .with_instructions("Answer in one word.")
    .with_demos(vec![
        Example::new()
            .input("question", "Capital of Peru?")
            .set("answer", "Lima"),
    ]);
    let artifact = artifact_of(&program, Overlay::default());
    let json = export_dspy(&artifact).unwrap();
    // A bare Predict is saved flat, as DSPy does.
    assert_eq!(json["signature"]["fields"][1]["prefix"], "Final Answer:");
    loads_in_dspy("predict", &artifact);
}

#[test]
fn bare_chain_of_thought() {
    let program = ChainOfThought::parse("question -> answer")
        .unwrap()
        .with_instructions("Reason, then answer.");
    let artifact = artifact_of(&program, Overlay::default());
    assert!(export_dspy(&artifact).unwrap().get("predict").is_some());
    loads_in_dspy("cot", &artifact);
}

/// A ReAct compiled in Sigil (demos on both predictors, new extract instructions)
/// exports to a file real DSPy's `ReAct.load()` reads, with the same prompts.
#[test]
fn react_program_with_demos() {
    let program = react();
    let mut overlay = Overlay::default();
    overlay.set_demos(
        "react",
        vec![
            Example::new()
                .input("question", "Who wrote Dune?")
                .input("trajectory", "")
                .set("next_thought", "Search for it.")
                .set("next_tool_name", "search")
                .set(
                    "next_tool_args",
                    serde_json::json!({"query": "Dune author"}),
                ),
        ],
    );
    overlay.set_instructions("extract", "Answer from the trajectory only.");
    overlay.set_demos(
        "extract",
        vec![
            Example::new()
                .input("question", "Who wrote Dune?")
                .input("trajectory", "[[ ## observation_0 ## ]]\nFrank Herbert")
                .set("reasoning", "The search found it.")
                .set("answer", "Frank Herbert"),
        ],
    );
    let artifact = artifact_of(&program, overlay);
    let json = export_dspy(&artifact).unwrap();
    assert!(
        json.get("react").is_some() && json.get("extract.predict").is_some(),
        "{json}"
    );
    loads_in_dspy("react", &artifact);
}
