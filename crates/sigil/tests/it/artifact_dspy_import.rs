//! Programs saved by real Python DSPy 3.4.1 (`program.save`) import into the matching
//! Sigil program, and the imported prompts are exactly what DSPy renders for them.

use artifact_dspy_common::*;
use serde_json::Value;
use sigil::artifact::dspy::import_dspy_file;
use sigil::lm::Role;
use sigil::prelude::*;

use crate::artifact_dspy_common;

fn dspy_messages(name: &str) -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(fixture(&format!("{name}.messages.json"))).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(m) => m,
        other => panic!("{other}"),
    }
}

fn check_fixture(name: &str) -> sigil::artifact::Artifact {
    let program = program(name);
    let artifact = import_dspy_file(fixture(&format!("{name}.json")), &program, &ChatAdapter)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    artifact.check_against(&program).unwrap();
    let expected = dspy_messages(name);
    assert_eq!(expected.len(), artifact.predictors.len());
    for (dspy_name, messages) in &expected {
        let path = sigil_path(dspy_name);
        let entry = artifact
            .predictor(&path)
            .unwrap_or_else(|| panic!("{name}: no predictor at `{path}`"));
        let Value::Array(messages) = messages else {
            panic!()
        };
        assert_eq!(messages.len(), entry.rendered.len(), "{name}/{path}");
        for (want, got) in messages.iter().zip(&entry.rendered) {
            let role = match got.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            assert_eq!(want["role"], role, "{name}/{path}");
            assert_eq!(
                want["content"].as_str().unwrap(),
                got.content,
                "{name}/{path}"
            );
        }
    }
    artifact
}

#[test]
fn bare_predict_with_prefix_and_description() {
    let a = check_fixture("predict");
    let p = a.predictor("").unwrap();
    assert_eq!(p.instructions, "Answer the trivia question in a few words.");
    let answer = p.fields.iter().find(|f| f.name == "answer").unwrap();
    assert_eq!(answer.prefix.as_deref(), Some("Short Answer:"));
    assert_eq!(answer.desc.as_deref(), Some("often between 1 and 5 words"));
    // The default prefix and description of `question` stay implicit.
    let question = p.fields.iter().find(|f| f.name == "question").unwrap();
    assert_eq!(
        (question.prefix.as_ref(), question.desc.as_ref()),
        (None, None)
    );
    assert_eq!(p.demos.len(), 2);
    assert_eq!(
        a.imported_from.as_ref().unwrap().version.as_deref(),
        Some("3.4.1")
    );
}

#[test]
fn chain_of_thought_maps_predict_to_the_module_path() {
    let a = check_fixture("cot");
    let p = a.predictor("").unwrap();
    assert_eq!(
        p.instructions,
        "Think step by step,\nthen give the final number only."
    );
    assert_eq!(p.demos.len(), 2);
    assert!(p.demos[0].augmented && !p.demos[1].augmented);
    // The overlay carries the instructions and the demos without the `augmented` mark.
    let overlay = a.overlay();
    let demos = overlay.get("").unwrap().demos.as_ref().unwrap();
    assert!(demos[0].get("augmented").is_none());
    assert_eq!(demos[0].input_keys(), ["question"]);
}

#[test]
fn two_predictor_program() {
    let a = check_fixture("two_step");
    let paths: Vec<&str> = a.predictors.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["write_query", "answer"]);
    let answer = a.predictor("answer").unwrap();
    let context = answer.fields.iter().find(|f| f.name == "context").unwrap();
    assert_eq!(context.ty, "list[str]");
    assert_eq!(
        context.desc.as_deref(),
        Some("passages that may contain the answer")
    );
    // The program has the default description, so its own prompt would differ: reported.
    assert_eq!(a.prompt_drift(&two_step()).unwrap(), ["answer"]);
    // Through the artifact's saved file the import survives a round trip.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two_step.sigil.toml");
    a.save(&path).unwrap();
    assert_eq!(sigil::artifact::Artifact::load(&path).unwrap(), a);
}

/// A DSPy 3.4.1 ReAct saved with demos on both predictors (`react`, `extract.predict`)
/// imports into Sigil's ReAct, and renders both prompts as DSPy does.
#[test]
fn react_program() {
    let a = check_fixture("react");
    let paths: Vec<&str> = a.predictors.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["react", "extract"]);
    let react = a.predictor("react").unwrap();
    assert!(
        react
            .instructions
            .contains("(1) search, whose description is")
    );
    assert_eq!(react.demos.len(), 1);
    let extract = a.predictor("extract").unwrap();
    assert_eq!(
        extract.instructions,
        "Answer in a few words, from the trajectory."
    );
    assert_eq!(
        extract.demos[0].values["answer"].as_str(),
        Some("Frank Herbert")
    );
}
