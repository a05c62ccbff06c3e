//! Checking an artifact against a program it was not compiled for lists every
//! difference: missing and extra predictors, fields, roles and types.

use sigil::artifact::{Artifact, ArtifactError, Difference};
use sigil::prelude::*;
use sigil::signature::FieldKind;

use crate::artifact_dspy_common;

struct Other {
    write_query: Predict,
    answer: ChainOfThought,
    rerank: Predict,
}

#[async_trait::async_trait]
impl Module for Other {
    sigil::submodules!(write_query, answer, rerank);
    async fn forward(&self, _: &CallCtx<'_>, _: Example) -> Result<Prediction, ModuleError> {
        Err(ModuleError::Other("not run".into()))
    }
}

#[test]
fn different_program() {
    let artifact = Artifact::from_toml_str(
        include_str!("../golden/artifact/two_step.sigil.toml"),
        "golden",
    )
    .unwrap();
    // The golden program itself fits.
    artifact
        .check_against(&artifact_dspy_common::TwoStep {
            write_query: Predict::parse("question -> search_query").unwrap(),
            answer: ChainOfThought::parse(
                "context: list[str], question -> answer, confidence: float",
            )
            .unwrap(),
        })
        .unwrap();

    let other = Other {
        // `query` instead of `search_query`.
        write_query: Predict::parse("question -> query").unwrap(),
        // `context` is a str, `confidence` is an input, `answer` is gone, `notes` is new.
        answer: ChainOfThought::parse("context, question, confidence: float -> notes").unwrap(),
        rerank: Predict::parse("passages: list[str] -> best: int").unwrap(),
    };
    let e = artifact.check_against(&other).unwrap_err();
    let ArtifactError::Mismatch { differences, .. } = &e else {
        panic!("{e:?}")
    };
    let expected = [
        Difference::MissingPredictor {
            path: "rerank".into(),
        },
        Difference::MissingField {
            path: "write_query".into(),
            field: "query".into(),
        },
        Difference::ExtraField {
            path: "write_query".into(),
            field: "search_query".into(),
        },
        Difference::Type {
            path: "answer".into(),
            field: "context".into(),
            artifact: "list[str]".into(),
            program: "str".into(),
        },
        Difference::Role {
            path: "answer".into(),
            field: "confidence".into(),
            artifact: FieldKind::Output,
            program: FieldKind::Input,
        },
        Difference::MissingField {
            path: "answer".into(),
            field: "notes".into(),
        },
        Difference::ExtraField {
            path: "answer".into(),
            field: "answer".into(),
        },
    ];
    for d in &expected {
        assert!(differences.contains(d), "missing {d:?} in {differences:#?}");
    }
    assert_eq!(differences.len(), expected.len(), "{differences:#?}");
    let msg = e.to_string();
    assert!(msg.contains("7 differences"), "{msg}");
    assert!(
        msg.contains("predictor `rerank` is in the program but not in the artifact"),
        "{msg}"
    );

    // A program without the artifact's predictors: each is listed as extra.
    let e = artifact
        .check_against(&Predict::parse("question -> answer").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("predictor `write_query` is in the artifact but not in the program"),
        "{e}"
    );
    assert!(
        e.contains("the top-level predictor is in the program but not in the artifact"),
        "{e}"
    );
}
