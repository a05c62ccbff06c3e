//! Golden tests: Sigil's ReAct sends what DSPy 3.4.1's `dspy.ReAct` sends, byte for
//! byte, for both predictors (`react`, `extract`), with the ChatAdapter and the
//! JSONAdapter, with no trajectory and with one and two steps.
//!
//! Fixtures live in `crates/sigil/tests/golden/react/*.json`; regenerate them with
//! `.dev/venv-dspy/bin/python scripts/gen_react_goldens.py`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{Map, Value};
use sigil::adapter::{Adapter, ChatAdapter, JsonAdapter};
use sigil::data::Example;
use sigil::lm::Message;
use sigil::module::{Ctx, Module, ReAct};
use sigil::signature::Signature;
use sigil::tool::Tool;
use sigil_testkit::{ScriptedLm, chat};

use crate::golden_support::{GoldenMessage, load_fixtures};

#[derive(Debug, Deserialize)]
struct ToolSpec {
    name: String,
    desc: Option<String>,
    args: Map<String, Value>,
}

#[derive(Debug, Deserialize, Clone)]
struct Step {
    thought: Value,
    tool_name: String,
    tool_args: Value,
    observation: Value,
}

#[derive(Debug, Deserialize)]
struct Variant {
    steps: usize,
    trajectory_chat: String,
    trajectory_json: String,
    react_chat: Vec<GoldenMessage>,
    react_json: Vec<GoldenMessage>,
    extract_chat: Vec<GoldenMessage>,
    extract_json: Vec<GoldenMessage>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    signature: String,
    instructions: Option<String>,
    descs: Map<String, Value>,
    tools: Vec<ToolSpec>,
    tool_lines: Vec<String>,
    react_instructions: String,
    extract_instructions: String,
    react_fields: Vec<String>,
    extract_fields: Vec<String>,
    inputs: Map<String, Value>,
    trajectory_steps: Vec<Step>,
    variants: Vec<Variant>,
}

fn load_cases() -> Vec<Case> {
    let cases: Vec<Case> = load_fixtures("react");
    assert!(cases.len() >= 2, "only {} ReAct fixtures", cases.len());
    cases
}

fn signature(case: &Case) -> Signature {
    let mut sig = Signature::parse(&case.signature).expect("signature");
    if let Some(i) = &case.instructions {
        sig = sig.with_instructions(i.clone());
    }
    for (name, desc) in &case.descs {
        sig = sig
            .with_field_desc(name, desc.as_str().expect("desc"))
            .expect("field");
    }
    sig
}

/// The case's tools; each call answers with the next recorded observation.
fn tools(case: &Case) -> Vec<Tool> {
    let observations: Arc<Mutex<VecDeque<Value>>> = Arc::new(Mutex::new(
        case.trajectory_steps
            .iter()
            .filter(|s| s.tool_name != "finish")
            .map(|s| s.observation.clone())
            .collect(),
    ));
    case.tools
        .iter()
        .map(|t| {
            let obs = observations.clone();
            Tool::new(
                t.name.clone(),
                t.desc.clone().unwrap_or_default(),
                Value::Object(t.args.clone()),
                move |_| {
                    let next = obs.lock().unwrap().pop_front();
                    async move { next.ok_or("no observation left") }
                },
            )
        })
        .collect()
}

fn entries(steps: &[Step]) -> Example {
    let mut e = Example::new();
    for (i, s) in steps.iter().enumerate() {
        e.insert(format!("thought_{i}"), s.thought.clone());
        e.insert(format!("tool_name_{i}"), Value::String(s.tool_name.clone()));
        e.insert(format!("tool_args_{i}"), s.tool_args.clone());
        e.insert(format!("observation_{i}"), s.observation.clone());
    }
    e
}

fn inputs_with(case: &Case, trajectory: String) -> Example {
    case.inputs
        .iter()
        .fold(Example::new(), |ex, (k, v)| ex.input(k.clone(), v.clone()))
        .input("trajectory", trajectory)
}

fn same(case: &str, what: &str, want: &[GoldenMessage], got: &[Message]) {
    assert_eq!(want.len(), got.len(), "{case}: {what}: message count");
    for (w, g) in want.iter().zip(got) {
        assert_eq!(w.role, g.role, "{case}: {what}: role");
        assert!(
            w.content == g.content,
            "{case}: {what}: content differs\n--- want\n{}\n--- got\n{}",
            w.content,
            g.content
        );
    }
}

#[test]
fn react_prompts_are_dspys_byte_for_byte() {
    for case in load_cases() {
        let name = case.name.as_str();
        let react = ReAct::new(signature(&case), tools(&case)).expect("react");
        let lines: Vec<String> = react.tools().iter().map(|t| t.to_string()).collect();
        assert_eq!(lines, case.tool_lines, "{name}: tool lines");
        let rsig = react.react().signature();
        let esig = react.extract().predict().signature();
        assert_eq!(rsig.instructions(), case.react_instructions, "{name}");
        assert_eq!(esig.instructions(), case.extract_instructions, "{name}");
        let names = |s: &Signature| s.fields().map(|(_, f)| f.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(rsig), case.react_fields, "{name}");
        assert_eq!(names(esig), case.extract_fields, "{name}");
        for v in &case.variants {
            let text = ReAct::format_trajectory(&entries(&case.trajectory_steps[..v.steps]));
            assert_eq!(
                text, v.trajectory_chat,
                "{name}: trajectory of {} steps",
                v.steps
            );
            assert_eq!(text, v.trajectory_json, "{name}");
            let inputs = inputs_with(&case, text);
            let what = |p: &str, a: &str| format!("{p} with {a}, {} steps", v.steps);
            same(
                name,
                &what("react", "chat"),
                &v.react_chat,
                &ChatAdapter.format(rsig, &[], &inputs).unwrap(),
            );
            same(
                name,
                &what("react", "json"),
                &v.react_json,
                &JsonAdapter.format(rsig, &[], &inputs).unwrap(),
            );
            same(
                name,
                &what("extract", "chat"),
                &v.extract_chat,
                &ChatAdapter.format(esig, &[], &inputs).unwrap(),
            );
            same(
                name,
                &what("extract", "json"),
                &v.extract_json,
                &JsonAdapter.format(esig, &[], &inputs).unwrap(),
            );
        }
    }
}

/// A run whose LM answers with the recorded steps sends exactly the golden requests:
/// the react step at each trajectory length, then the extract call over all of it.
#[tokio::test]
async fn a_react_run_sends_the_golden_requests_in_order() {
    for case in load_cases() {
        let name = case.name.as_str();
        let steps = &case.trajectory_steps;
        let mut script: Vec<String> = steps
            .iter()
            .map(|s| {
                chat(&[
                    ("next_thought", s.thought.as_str().unwrap()),
                    ("next_tool_name", &s.tool_name),
                    ("next_tool_args", &s.tool_args.to_string()),
                ])
            })
            .collect();
        let sig = signature(&case);
        let outputs: Vec<(String, String)> =
            std::iter::once(("reasoning".to_string(), "Done.".to_string()))
                .chain(
                    sig.outputs()
                        .iter()
                        .map(|f| (f.name.clone(), "7".to_string())),
                )
                .collect();
        let pairs: Vec<(&str, &str)> = outputs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        script.push(chat(&pairs));
        let lm = Arc::new(ScriptedLm::new(script));
        let react = ReAct::new(sig, tools(&case))
            .expect("react")
            .with_max_iters(steps.len());
        let ctx = Ctx::new(lm.clone());
        let inputs = case
            .inputs
            .iter()
            .fold(Example::new(), |ex, (k, v)| ex.input(k.clone(), v.clone()));
        let out = react.call(&ctx, inputs).await.expect("run");
        let requests = lm.requests();
        assert_eq!(requests.len(), steps.len() + 1, "{name}: LM calls");
        for (i, r) in requests[..steps.len()].iter().enumerate() {
            same(
                name,
                &format!("react request {i}"),
                &case.variants[i].react_chat,
                &r.messages,
            );
        }
        let last = &case.variants[steps.len()];
        same(
            name,
            "extract request",
            &last.extract_chat,
            &requests[steps.len()].messages,
        );
        let trajectory = out.get("trajectory").expect("trajectory");
        let want = entries(steps);
        assert_eq!(trajectory.as_object().unwrap().len(), want.len(), "{name}");
        for (k, v) in want.values() {
            assert_eq!(&trajectory[k], v, "{name}: {k}");
        }
        assert_eq!(out.get_str("reasoning").as_deref(), Some("Done."), "{name}");
        assert_eq!(out.lm_calls as usize, steps.len() + 1, "{name}");
    }
}
