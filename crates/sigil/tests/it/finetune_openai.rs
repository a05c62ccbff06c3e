//! BootstrapFinetune through OpenAI's fine-tuning API, against a local server speaking
//! its endpoints (the one stand-in the issue allows): the accepted runs' JSONL is
//! uploaded, a job is created with the training settings and polled to its end, and
//! the program's predictors then call the fine-tuned model. Failed, unauthorized and
//! slow jobs, overlapping data and runs the metric never accepts are clear errors.

use std::sync::Arc;
use std::time::Duration;

use sigil::lm::{Lm, OpenAiFinetuner};
use sigil::module::{ChainOfThought, Ctx};
use sigil::optimize::{
    BootstrapFinetune, FinetuneError, FinetuneOutcome, OptimizeError, TrainSettings,
};
use sigil::prelude::*;
use sigil_testkit::{FinetuneApiServer, ScriptedLm, chat};

fn ex(q: &str, a: &str) -> Example {
    Example::new().input("question", q).set("answer", a)
}

fn exact(example: &Example, prediction: &Prediction) -> f64 {
    f64::from(u8::from(
        example.get_str("answer") == prediction.get_str("answer"),
    ))
}

fn teacher() -> Ctx {
    Ctx::new(Arc::new(ScriptedLm::new([
        chat(&[("reasoning", "Two and two."), ("answer", "4")]),
        chat(&[("reasoning", "Three and three."), ("answer", "7")]),
        chat(&[("reasoning", "It is Paris."), ("answer", "Paris")]),
    ])))
}

fn finetuner(server: &FinetuneApiServer) -> OpenAiFinetuner {
    OpenAiFinetuner::new(server.url())
        .api_key("sk-test".to_string())
        .poll_interval(Duration::from_millis(5), Duration::from_millis(20))
}

async fn run(
    server: &FinetuneApiServer,
    f: OpenAiFinetuner,
    train: &[Example],
    val: &[Example],
) -> Result<FinetuneOutcome, OptimizeError> {
    let program = ChainOfThought::parse("question -> answer").unwrap();
    let _ = server;
    BootstrapFinetune::new(exact, Arc::new(f), "gpt-4o-mini-2024-07-18")
        .train_settings(TrainSettings {
            epochs: Some(3),
            batch_size: Some(1),
            learning_rate: Some(0.5),
            seed: Some(7),
            suffix: Some("qa".into()),
        })
        .compile(&program, train, val, &teacher())
        .await
}

#[tokio::test]
async fn accepted_runs_are_uploaded_trained_and_the_program_calls_the_new_model() {
    let server = FinetuneApiServer::start(Some("sk-test")).await;
    let train = [
        ex("2+2?", "4"),
        ex("3+3?", "6"),
        ex("Capital of France?", "Paris"),
    ];
    let outcome = run(&server, finetuner(&server), &train, &[ex("1+1?", "2")])
        .await
        .unwrap();
    assert_eq!(outcome.data.kept, 2);
    assert_eq!(outcome.models.len(), 1, "multitask: one model");
    let (paths, model) = &outcome.models[0];
    assert_eq!(
        model.model_id,
        "ft:gpt-4o-mini-2024-07-18:sigil-test:qa:ftjob-1"
    );
    assert_eq!(model.job_id.as_deref(), Some("ftjob-1"));
    assert_eq!(model.examples, 2);
    assert!(model.trained_tokens.is_some_and(|t| t > 0));
    // What was uploaded is the data's JSONL, line for line.
    let files = server.files();
    assert_eq!(files.len(), 1);
    let lines: Vec<String> = outcome
        .data
        .examples
        .iter()
        .map(|e| e.jsonl_line())
        .collect();
    assert_eq!(files[0].lines().collect::<Vec<_>>(), lines);
    let body = &server.job_bodies()[0];
    assert_eq!(body["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(body["training_file"], "file-1");
    assert_eq!(body["hyperparameters"]["n_epochs"], 3);
    assert_eq!(body["hyperparameters"]["batch_size"], 1);
    assert_eq!(body["hyperparameters"]["learning_rate_multiplier"], 0.5);
    assert_eq!(
        (body["seed"].as_u64(), body["suffix"].as_str()),
        (Some(7), Some("qa"))
    );
    assert!(server.polls() >= 3, "polled until the job succeeded");

    // The fine-tuned program: every predictor path now calls the fine-tuned model.
    let student = Arc::new(ScriptedLm::new([chat(&[
        ("reasoning", "r"),
        ("answer", "2"),
    ])]));
    let base = Arc::new(ScriptedLm::new(Vec::<String>::new()));
    let ctx = outcome.ctx(&Ctx::new(base.clone()), |m| {
        assert!(m.model_id.starts_with("ft:"));
        student.clone() as Arc<dyn Lm>
    });
    assert!(!paths.is_empty());
    let program = ChainOfThought::parse("question -> answer").unwrap();
    let out = program
        .call(&ctx, Example::new().input("question", "1+1?"))
        .await
        .unwrap();
    assert_eq!(out.get_str("answer").as_deref(), Some("2"));
    assert_eq!((student.requests().len(), base.requests().len()), (1, 0));
}

#[tokio::test]
async fn failed_unauthorized_and_slow_jobs_and_bad_data_are_clear_errors() {
    let train = [ex("2+2?", "4"), ex("3+3?", "6")];
    let failing = FinetuneApiServer::failing_jobs("the file has too few examples").await;
    let err = run(&failing, finetuner(&failing), &train, &[])
        .await
        .unwrap_err();
    match err {
        OptimizeError::Finetune(FinetuneError::JobFailed {
            job,
            status,
            message,
        }) => {
            assert_eq!((job.as_str(), status.as_str()), ("ftjob-1", "failed"));
            assert!(message.contains("too few examples"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let server = FinetuneApiServer::start(Some("sk-right")).await;
    let err = run(&server, finetuner(&server), &train, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            OptimizeError::Finetune(FinetuneError::Http {
                status: 401,
                what: "file upload",
                ..
            })
        ),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains("sk-test"),
        "the key is never shown: {err}"
    );

    let slow = FinetuneApiServer::start(None).await;
    let f = OpenAiFinetuner::new(slow.url())
        .poll_interval(Duration::from_millis(30), Duration::from_millis(30))
        .timeout(Duration::from_millis(40));
    let err = run(&slow, f, &train, &[]).await.unwrap_err();
    assert!(
        matches!(
            &err,
            OptimizeError::Finetune(FinetuneError::TimedOut { .. })
        ),
        "{err:?}"
    );

    let nowhere = OpenAiFinetuner::new("http://127.0.0.1:9/v1");
    let err = run(&slow, nowhere, &train, &[]).await.unwrap_err();
    assert!(
        matches!(
            &err,
            OptimizeError::Finetune(FinetuneError::Transport { .. })
        ),
        "{err:?}"
    );

    let err = run(&server, finetuner(&server), &train, &[ex("2+2?", "4")])
        .await
        .unwrap_err();
    assert!(matches!(err, OptimizeError::Overlap { .. }), "{err:?}");

    // The teacher answers 4 and 7: nothing passes for these.
    let none = [ex("2+2?", "5"), ex("3+3?", "8")];
    let err = run(&server, finetuner(&server), &none, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, OptimizeError::Finetune(FinetuneError::NoData)),
        "{err:?}"
    );
}
