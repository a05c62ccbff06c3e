//! Bad DSPy files are clear errors naming the place: truncated JSON, a wrong-typed
//! value, a file for a different program (every difference listed).

use artifact_dspy_common::*;
use sigil::artifact::ArtifactError;
use sigil::artifact::dspy::import_dspy;
use sigil::prelude::*;

use crate::artifact_dspy_common;

fn two_step_json() -> String {
    std::fs::read_to_string(fixture("two_step.json")).unwrap()
}

#[test]
fn truncated_json() {
    let text = two_step_json();
    let e = import_dspy(
        &text[..text.len() / 2],
        "cut.json",
        &two_step(),
        &ChatAdapter,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("cut.json: not valid JSON at line "), "{e}");
}

#[test]
fn wrong_typed_value_names_its_place() {
    let mut v: serde_json::Value = serde_json::from_str(&two_step_json()).unwrap();
    v["answer.predict"]["signature"]["fields"][1]["prefix"] = serde_json::json!(7);
    let e = import_dspy(&v.to_string(), "x.json", &two_step(), &ChatAdapter)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "x.json: answer.predict.signature.fields[1].prefix should be a string, got a number"
    );
    let mut v: serde_json::Value = serde_json::from_str(&two_step_json()).unwrap();
    v["write_query"]["demos"] = serde_json::json!({"question": "q"});
    let e = import_dspy(&v.to_string(), "x.json", &two_step(), &ChatAdapter)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "x.json: write_query.demos should be a list, got an object"
    );
}

#[test]
fn file_for_a_different_program_lists_every_difference() {
    // The two-step file against a bare ChainOfThought with three fields.
    let program = ChainOfThought::parse("question, context -> answer").unwrap();
    let e = import_dspy(&two_step_json(), "two_step.json", &program, &ChatAdapter).unwrap_err();
    let ArtifactError::Mismatch { differences, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(differences.len(), 3, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("the DSPy file's predictor `write_query` matches no predictor of the program"),
        "{msg}"
    );
    assert!(
        msg.contains("the DSPy file's predictor `answer.predict` matches no predictor"),
        "{msg}"
    );
    assert!(
        msg.contains("the top-level predictor is in the program but not in the artifact"),
        "{msg}"
    );

    // The cot file (3 fields) against a program whose signature has 4.
    let cot = std::fs::read_to_string(fixture("cot.json")).unwrap();
    let program = ChainOfThought::parse("question, hint -> answer").unwrap();
    let msg = import_dspy(&cot, "cot.json", &program, &ChatAdapter)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("the file has 3 field(s), the program's signature has 4 (question, hint, reasoning, answer)"),
        "{msg}"
    );
}
