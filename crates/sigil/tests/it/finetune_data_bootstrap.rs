//! BootstrapFinetune's data: a teacher run per train example, the runs the metric
//! accepts turned into chat fine-tuning examples (one per predictor call), written as
//! OpenAI's JSONL. Calls without every output, adapters without a fine-tuning format
//! and an empty trainset are clear errors.

use std::sync::Arc;

use sigil::adapter::{Adapter, ChatAdapter, Fields};
use sigil::lm::Role;
use sigil::module::{ChainOfThought, Ctx, Predict};
use sigil::optimize::{
    FinetuneDataError, FinetuneDataSettings, FinetuneExample, OptimizeError,
    bootstrap_finetune_data, finetune_messages, write_jsonl,
};
use sigil::prelude::*;
use sigil_testkit::{ScriptedLm, chat};

fn ex(q: &str, a: &str) -> Example {
    Example::new().input("question", q).set("answer", a)
}

fn exact(example: &Example, prediction: &Prediction) -> f64 {
    f64::from(u8::from(
        example.get_str("answer") == prediction.get_str("answer"),
    ))
}

#[tokio::test]
async fn accepted_runs_become_one_example_per_predictor_call() {
    let train = vec![
        ex("2+2?", "4"),
        ex("3+3?", "6"),
        ex("Capital of France?", "Paris"),
    ];
    // The teacher answers the first and third right.
    let lm = Arc::new(ScriptedLm::new([
        chat(&[("reasoning", "Two and two."), ("answer", "4")]),
        chat(&[("reasoning", "Three and three."), ("answer", "7")]),
        chat(&[("reasoning", "It is Paris."), ("answer", "Paris")]),
    ]));
    let program = ChainOfThought::parse("question -> answer").unwrap();
    let ctx = Ctx::new(lm);
    let settings = FinetuneDataSettings {
        concurrency: 1,
        ..Default::default()
    };
    let data = bootstrap_finetune_data(&program, &train, &exact, &ctx, &settings)
        .await
        .unwrap();
    assert_eq!((data.runs, data.kept, data.failed), (3, 2, 0));
    assert_eq!(data.examples.len(), 2);
    let answers: Vec<&str> = data
        .examples
        .iter()
        .map(|e| e.messages.last().unwrap().content.as_str())
        .collect();
    for want in ["[[ ## answer ## ]]\n4\n", "[[ ## answer ## ]]\nParis\n"] {
        assert!(answers.iter().any(|a| a.contains(want)), "{answers:?}");
    }
    assert!(
        !answers.iter().any(|a| a.contains("7")),
        "the rejected run is left out"
    );
    for e in &data.examples {
        let roles: Vec<_> = e.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::System, Role::User, Role::Assistant]);
        // The prompt is exactly what the program sends at inference.
        assert_eq!(
            e.messages[..2],
            ChatAdapter
                .format(
                    program.predict().signature(),
                    &[],
                    &Example::new().input(
                        "question",
                        if e.messages[1].content.contains("2+2") {
                            "2+2?"
                        } else {
                            "Capital of France?"
                        }
                    )
                )
                .unwrap()[..]
        );
    }
    assert_eq!(data.for_path("").count(), 2);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.jsonl");
    write_jsonl(&path, &data.examples).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    for (line, e) in lines.iter().zip(&data.examples) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["messages"].as_array().unwrap().len(), 3);
        assert_eq!(v["messages"][2]["role"], "assistant");
        assert_eq!(*line, e.jsonl_line());
    }
    // No file is left half-written where a directory cannot be written.
    let bad = dir.path().join("missing").join("train.jsonl");
    assert!(matches!(
        write_jsonl(&bad, &data.examples),
        Err(FinetuneDataError::Io { .. })
    ));
}

#[tokio::test]
async fn demos_are_in_the_prompt_unless_excluded_and_bad_input_is_an_error() {
    let demo = ex("1+1?", "2");
    let program = Predict::parse("question -> answer")
        .unwrap()
        .with_demos(vec![demo]);
    let train = vec![ex("2+2?", "4")];
    let run = |exclude_demos| {
        let program = program.clone();
        let train = train.clone();
        async move {
            let ctx = Ctx::new(Arc::new(ScriptedLm::new([chat(&[("answer", "4")])])));
            let settings = FinetuneDataSettings {
                exclude_demos,
                ..Default::default()
            };
            bootstrap_finetune_data(&program, &train, &exact, &ctx, &settings)
                .await
                .unwrap()
        }
    };
    assert_eq!(run(false).await.examples[0].messages.len(), 5);
    assert_eq!(run(true).await.examples[0].messages.len(), 3);

    let ctx = Ctx::new(Arc::new(ScriptedLm::new(Vec::<String>::new())));
    let empty = bootstrap_finetune_data(&program, &[], &exact, &ctx, &Default::default()).await;
    assert!(matches!(empty, Err(OptimizeError::EmptyTrainset)));

    let signature = program.signature();
    let missing = finetune_messages(
        &ChatAdapter,
        signature,
        &[],
        &Example::new().input("question", "q"),
        &Fields::new(),
    );
    assert_eq!(
        missing,
        Err(FinetuneDataError::MissingOutput {
            field: "answer".into()
        })
    );
    let bad_input = finetune_messages(
        &ChatAdapter,
        signature,
        &[],
        &Example::new(),
        &[("answer".to_string(), serde_json::json!("4"))]
            .into_iter()
            .collect(),
    );
    assert!(matches!(bad_input, Err(FinetuneDataError::Format(_))));
    let _ = FinetuneExample {
        path: String::new(),
        messages: Vec::new(),
    };
}
