use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::testing::{ScriptedLm, chat};

fn step(thought: &str, tool: &str, args: Value) -> String {
    chat(&[
        ("next_thought", thought),
        ("next_tool_name", tool),
        ("next_tool_args", &args.to_string()),
    ])
}

fn answer(a: &str) -> String {
    chat(&[("reasoning", "From the trajectory."), ("answer", a)])
}

fn add() -> Tool {
    Tool::new(
        "add",
        "Add two integers.",
        json!({"a": {"type": "integer"}, "b": {"type": "integer"}}),
        |a| async move {
            let (x, y) = (a["a"].as_i64().unwrap_or(0), a["b"].as_i64().unwrap_or(0));
            Ok::<_, String>(x + y)
        },
    )
}

fn question(q: &str) -> Example {
    Example::new().input("question", q)
}

async fn run(react: &ReAct, lm: &Arc<ScriptedLm>) -> Prediction {
    react
        .call(&Ctx::new(lm.clone()), question("2 + 40?"))
        .await
        .expect("run")
}

fn observation(p: &Prediction, i: usize) -> Value {
    p.get("trajectory").unwrap()[format!("observation_{i}")].clone()
}

#[tokio::test]
async fn a_tool_call_then_finish_then_the_extracted_answer() {
    let lm = Arc::new(ScriptedLm::new([
        step("Add them.", "add", json!({"a": 2, "b": 40})),
        step("Done.", "finish", json!({})),
        answer("42"),
    ]));
    let react = ReAct::parse("question -> answer", vec![add()]).unwrap();
    let out = run(&react, &lm).await;
    assert_eq!(observation(&out, 0), json!(42));
    assert_eq!(observation(&out, 1), json!("Completed."));
    assert_eq!(out.get_str("answer").as_deref(), Some("42"));
    assert_eq!(out.lm_calls, 3);
    // The second step's prompt carries the first step and its observation.
    let second = &lm.requests()[1].messages[1].content;
    assert!(second.contains("[[ ## observation_0 ## ]]\n42"), "{second}");
}

#[tokio::test]
async fn bad_arguments_a_failing_tool_and_a_hanging_one_are_observations() {
    let hangs = Tool::new("wait", "Waits forever.", json!({}), |_| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, String>("never")
    })
    .with_timeout(Duration::from_millis(10));
    let fails = Tool::new("fail", "Fails.", json!({}), |_| async {
        Err::<Value, _>("the disk is full")
    });
    let lm = Arc::new(ScriptedLm::new([
        step("Add.", "add", json!({"a": "two", "b": 40})),
        step("Add.", "add", json!({"a": 1, "c": 2})),
        step("Wait.", "wait", json!({})),
        step("Fail.", "fail", json!({})),
        step("Done.", "finish", json!({})),
        answer("unknown"),
    ]));
    let react = ReAct::parse("question -> answer", vec![add(), hangs, fails]).unwrap();
    let out = run(&react, &lm).await;
    let obs = |i| {
        observation(&out, i)
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        obs(0).starts_with("Execution error in add: Arg a is invalid"),
        "{}",
        obs(0)
    );
    assert_eq!(
        obs(1),
        "Execution error in add: Arg c is not in the tool's args."
    );
    assert_eq!(
        obs(2),
        "Execution error in wait: the tool did not answer within 10ms"
    );
    assert_eq!(obs(3), "Execution error in fail: the disk is full");
    assert_eq!(out.get_str("answer").as_deref(), Some("unknown"));
}

#[tokio::test]
async fn an_agent_that_never_finishes_stops_at_max_iters_with_its_trajectory() {
    let lm = Arc::new(ScriptedLm::new([
        step("Again.", "add", json!({"a": 1, "b": 1})),
        step("Again.", "add", json!({"a": 1, "b": 2})),
        answer("3"),
    ]));
    let react = ReAct::parse("question -> answer", vec![add()])
        .unwrap()
        .with_max_iters(2);
    let out = run(&react, &lm).await;
    assert_eq!(out.get("trajectory").unwrap().as_object().unwrap().len(), 8);
    assert_eq!(observation(&out, 1), json!(3));
    assert_eq!(lm.calls(), 3);
}

#[tokio::test]
async fn an_unknown_tool_ends_the_trajectory_and_the_answer_is_still_extracted() {
    // The step does not parse (`search` is no tool), nor does the JSON fallback's retry.
    let lm = Arc::new(ScriptedLm::new([
        step("Search.", "search", json!({"q": "x"})),
        r#"{"next_thought": "Search.", "next_tool_name": "search", "next_tool_args": {}}"#
            .to_string(),
        answer("no idea"),
    ]));
    let react = ReAct::parse("question -> answer", vec![add()]).unwrap();
    let out = run(&react, &lm).await;
    assert_eq!(out.get("trajectory"), Some(&json!({})));
    assert_eq!(out.get_str("answer").as_deref(), Some("no idea"));
}

#[tokio::test]
async fn a_context_overflow_drops_the_oldest_step_and_retries() {
    // The third step's first attempt overflows the context.
    let lm = Arc::new(ScriptedLm::from_results([
        Ok(step("One.", "add", json!({"a": 1, "b": 1}))),
        Ok(step("Two.", "add", json!({"a": 2, "b": 2}))),
        Err(LmError::ContextWindowExceeded {
            provider: "fake".into(),
            message: "too long".into(),
        }),
        Ok(step("Done.", "finish", json!({}))),
        Ok(answer("4")),
    ]));
    let react = ReAct::parse("question -> answer", vec![add()]).unwrap();
    let ctx = Ctx::new(lm.clone());
    let out = react.call(&ctx, question("2 + 2?")).await.expect("run");
    let t = out.get("trajectory").unwrap().as_object().unwrap().clone();
    // Step 0 was dropped; steps 1 and 2 remain.
    assert!(!t.contains_key("thought_0"), "{t:?}");
    assert_eq!(t["thought_1"], json!("Two."));
    assert_eq!(t["tool_name_2"], json!("finish"));
    let retried = &lm.requests()[3].messages[1].content;
    assert!(!retried.contains("thought_0"), "{retried}");
    assert!(retried.contains("[[ ## thought_1 ## ]]"), "{retried}");
}

#[test]
fn tool_names_must_be_unique_and_finish_is_reserved() {
    assert!(matches!(
        ReAct::parse("question -> answer", vec![add(), add()]),
        Err(ReActError::DuplicateTool(n)) if n == "add"
    ));
    let finish = Tool::new("finish", "mine", json!({}), |_| async {
        Ok::<_, String>(1)
    });
    assert!(matches!(
        ReAct::parse("question -> answer", vec![finish]),
        Err(ReActError::FinishTool)
    ));
    assert!(matches!(
        ReAct::parse("trajectory -> answer", vec![]),
        Err(ReActError::Signature(_))
    ));
}

#[test]
fn both_predictors_have_paths() {
    let react = ReAct::parse("question -> answer", vec![add()]).unwrap();
    let paths: Vec<String> = react
        .named_predictors()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(paths, ["react", "extract"]);
}
