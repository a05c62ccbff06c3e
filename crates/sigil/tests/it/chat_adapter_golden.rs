//! Golden tests: Sigil's ChatAdapter and JsonAdapter must format prompts byte for byte
//! like Python DSPy 3.4.1, and parse what they ask for.
//!
//! Fixtures live in `crates/sigil/tests/golden/adapters/*.json`; regenerate them
//! with `.dev/venv-dspy/bin/python scripts/gen_adapter_goldens.py`.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sigil::adapter::{Adapter, ChatAdapter, JsonAdapter, ParseFailure};
use sigil::data::Example;
use sigil::lm::{Message, Role};
use sigil::module::ChainOfThought;
use sigil::signature::{Field, FieldType, Signature};

use crate::golden_support::{GoldenMessage, example_of, golden_dir, load_fixtures};

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    signature: String,
    module: String,
    instructions: Option<String>,
    dspy_instructions: String,
    input_fields: Vec<Field>,
    output_fields: Vec<Field>,
    demos: Vec<Map<String, Value>>,
    inputs: Map<String, Value>,
    chat: Vec<GoldenMessage>,
    json: Vec<GoldenMessage>,
}

fn fixture_dir() -> PathBuf {
    golden_dir("adapters")
}

fn load_cases() -> Vec<Case> {
    load_fixtures("adapters")
}

/// The case's signature built from its recorded fields. DSPy's ChainOfThought keeps the
/// base signature's default instructions, so those cases use DSPy's text explicitly.
fn build_signature(case: &Case) -> Signature {
    let sig = Signature::new(case.input_fields.clone(), case.output_fields.clone())
        .unwrap_or_else(|e| panic!("{}: bad fields: {e}", case.name));
    let sig = match (&case.instructions, case.module.as_str()) {
        (Some(i), _) => sig.with_instructions(i.clone()),
        (None, "chain_of_thought") => sig.with_instructions(case.dspy_instructions.clone()),
        (None, _) => sig,
    };
    if case.instructions.is_none() {
        assert_eq!(
            sig.instructions(),
            case.dspy_instructions,
            "{}: default instructions differ from DSPy's",
            case.name
        );
    }
    sig
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// A readable line diff around the first difference.
fn diff(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.split('\n').collect();
    let g: Vec<&str> = got.split('\n').collect();
    let first = w
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    let mut out = format!(
        "first difference at line {} (want {} lines, got {}):\n",
        first + 1,
        w.len(),
        g.len()
    );
    let lo = first.saturating_sub(3);
    for i in lo..(first + 4).min(w.len().max(g.len())) {
        let (a, b) = (w.get(i), g.get(i));
        if a == b {
            out.push_str(&format!("    {:?}\n", a.copied().unwrap_or("")));
        } else {
            if let Some(a) = a {
                out.push_str(&format!("  - {a:?}\n"));
            }
            if let Some(b) = b {
                out.push_str(&format!("  + {b:?}\n"));
            }
        }
    }
    out
}

/// Compares every message; returns a report of the mismatches.
fn compare(case: &str, adapter: &str, want: &[GoldenMessage], got: &[Message]) -> Vec<String> {
    let mut problems = Vec::new();
    if want.len() != got.len() {
        problems.push(format!(
            "{case} [{adapter}]: {} messages expected, got {}: {:?}",
            want.len(),
            got.len(),
            got.iter().map(|m| role_name(m.role)).collect::<Vec<_>>()
        ));
    }
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        if w.role != g.role {
            problems.push(format!(
                "{case} [{adapter}] message {i}: role {:?}, got {:?}",
                w.role, g.role
            ));
        }
        if w.content != g.content {
            problems.push(format!(
                "{case} [{adapter}] message {i} ({}) differs:\n{}",
                role_name(w.role),
                diff(&w.content, &g.content)
            ));
        }
    }
    problems
}

#[test]
fn fixtures_cover_the_required_cases() {
    let cases = load_cases();
    assert!(cases.len() >= 12, "only {} fixtures", cases.len());
    let mut kinds = std::collections::BTreeSet::new();
    fn walk(t: &FieldType, kinds: &mut std::collections::BTreeSet<&'static str>) {
        let kind = match t {
            FieldType::Str => "str",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
            FieldType::List { item } => {
                walk(item, kinds);
                "list"
            }
            FieldType::Dict { value } => {
                walk(value, kinds);
                "dict"
            }
            FieldType::Optional { inner } => {
                walk(inner, kinds);
                "optional"
            }
            FieldType::Literal { .. } => "literal",
            FieldType::Object { .. } => "object",
            FieldType::Any => "any",
            // Tool types have their own fixtures (tests/golden/tools).
            FieldType::Tool => "tool",
            FieldType::ToolCalls => "tool_calls",
        };
        kinds.insert(kind);
    }
    for c in &cases {
        for f in c.input_fields.iter().chain(&c.output_fields) {
            walk(&f.ty, &mut kinds);
        }
    }
    let all = [
        "bool", "dict", "float", "int", "list", "literal", "object", "optional", "str",
    ];
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), all);
    assert!(cases.iter().any(|c| c.module == "chain_of_thought"));
    assert!(
        cases.iter().any(|c| c.instructions.is_some())
            && cases.iter().any(|c| c.instructions.is_none())
    );
    assert!(cases.iter().any(|c| c.demos.is_empty()) && cases.iter().any(|c| !c.demos.is_empty()));
}

#[test]
fn adapters_format_like_dspy() {
    let mut problems = Vec::new();
    for case in load_cases() {
        let sig = build_signature(&case);
        // Plain string signatures must also parse to the same fields.
        let parsed = Signature::parse(&case.signature)
            .ok()
            .filter(|_| case.module == "predict");
        if let Some(parsed) = parsed {
            let names = |fs: &[Field]| {
                fs.iter()
                    .map(|f| (f.name.clone(), f.ty.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                names(parsed.inputs()),
                names(sig.inputs()),
                "{}: signature string inputs",
                case.name
            );
            assert_eq!(
                names(parsed.outputs()),
                names(sig.outputs()),
                "{}: signature string outputs",
                case.name
            );
        }
        let demos: Vec<Example> = case.demos.iter().map(example_of).collect();
        let inputs = example_of(&case.inputs);
        for (adapter, want) in [
            (&ChatAdapter as &dyn Adapter, &case.chat),
            (&JsonAdapter as &dyn Adapter, &case.json),
        ] {
            match adapter.format(&sig, &demos, &inputs) {
                Ok(got) => problems.extend(compare(&case.name, adapter.name(), want, &got)),
                Err(e) => problems.push(format!(
                    "{} [{}]: format failed: {e}",
                    case.name,
                    adapter.name()
                )),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} mismatches:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// Sigil's own ChainOfThought builds a signature that renders like DSPy's when the
/// instructions are explicit.
#[test]
fn chain_of_thought_module_renders_like_dspy() {
    let case = load_cases()
        .into_iter()
        .find(|c| c.name == "chain_of_thought_instructions")
        .expect("fixture");
    let base = Signature::parse(&case.signature).expect("signature");
    let instructions = case.instructions.clone().expect("instructions");
    let cot = ChainOfThought::new(base)
        .expect("cot")
        .with_instructions(instructions);
    let sig = cot.predict().signature().clone();
    let demos: Vec<Example> = case.demos.iter().map(example_of).collect();
    let inputs = example_of(&case.inputs);
    let mut problems = compare(
        &case.name,
        "chat",
        &case.chat,
        &ChatAdapter.format(&sig, &demos, &inputs).expect("format"),
    );
    problems.extend(compare(
        &case.name,
        "json",
        &case.json,
        &JsonAdapter.format(&sig, &demos, &inputs).expect("format"),
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// DSPy's ChainOfThought keeps the base signature's default instructions ("produce the
/// fields `answer`"), not one naming `reasoning` too.
#[test]
fn chain_of_thought_default_instructions_match_dspy() {
    let case = load_cases()
        .into_iter()
        .find(|c| c.name == "chain_of_thought")
        .expect("fixture");
    let cot = ChainOfThought::parse(&case.signature).expect("cot");
    assert_eq!(
        cot.predict().signature().instructions(),
        case.dspy_instructions
    );
}

/// An assistant demo turn is what the adapter asks the LM to write, so parsing it must
/// give back the demo's outputs.
#[test]
fn adapters_parse_their_own_demo_answers() {
    for case in load_cases() {
        let sig = build_signature(&case);
        let demos: Vec<Example> = case.demos.iter().map(example_of).collect();
        let complete: Vec<&Example> = demos
            .iter()
            .filter(|d| {
                sig.fields()
                    .all(|(_, f)| d.get(&f.name).is_some_and(|v| !v.is_null()))
            })
            .collect();
        for adapter in [&ChatAdapter as &dyn Adapter, &JsonAdapter] {
            let msgs = adapter
                .format(&sig, &demos, &example_of(&case.inputs))
                .expect("format");
            let answers: Vec<&Message> =
                msgs.iter().filter(|m| m.role == Role::Assistant).collect();
            // Complete demos come last.
            let tail = &answers[answers.len() - complete.len()..];
            for (demo, msg) in complete.iter().zip(tail) {
                let parsed = adapter.parse(&sig, &msg.content).unwrap_or_else(|e| {
                    panic!("{} [{}]: {e}\n{}", case.name, adapter.name(), msg.content)
                });
                for f in sig.outputs() {
                    let want = demo.get(&f.name).expect("demo value");
                    let got = &parsed[&f.name];
                    // Whitespace around a str value is not kept by the chat format.
                    let same = match (want, got, adapter.name()) {
                        (Value::String(w), Value::String(g), "chat") => w.trim() == g,
                        (Value::Number(w), Value::Number(g), _) => w.as_f64() == g.as_f64(),
                        _ => want == got,
                    };
                    assert!(
                        same,
                        "{} [{}] field {}: want {want}, got {got}",
                        case.name,
                        adapter.name(),
                        f.name
                    );
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct ParseCase {
    name: String,
    adapter: String,
    input_fields: Vec<Field>,
    output_fields: Vec<Field>,
    completion: String,
    sigil_tolerates: bool,
    dspy_result: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ParseCases {
    cases: Vec<ParseCase>,
}

/// Completions DSPy parsed (or rejected) parse the same way in Sigil. Where Sigil is
/// deliberately more tolerant (`sigil_tolerates`), it must succeed.
#[test]
fn adapters_parse_like_dspy() {
    let path = fixture_dir().join("parse/cases.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: ParseCases = serde_json::from_str(&text).expect("parse fixture");
    assert!(doc.cases.len() >= 20);
    let mut problems = Vec::new();
    for case in &doc.cases {
        let sig =
            Signature::new(case.input_fields.clone(), case.output_fields.clone()).expect("fields");
        let adapter: &dyn Adapter = if case.adapter == "chat" {
            &ChatAdapter
        } else {
            &JsonAdapter
        };
        let got = adapter.parse(&sig, &case.completion);
        match (&case.dspy_result, got) {
            (Some(want), Ok(fields)) => {
                let got = Value::Object(fields.into_iter().collect());
                if &got != want {
                    problems.push(format!("{}: DSPy parsed {want}, Sigil {got}", case.name));
                }
            }
            (Some(want), Err(e)) => problems.push(format!(
                "{}: DSPy parsed {want}, Sigil failed: {e}",
                case.name
            )),
            (None, Ok(fields)) if !case.sigil_tolerates => problems.push(format!(
                "{}: DSPy failed, Sigil parsed {fields:?}",
                case.name
            )),
            (None, Err(e)) if case.sigil_tolerates => problems.push(format!(
                "{}: Sigil should tolerate this completion: {e}",
                case.name
            )),
            (None, _) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn chat_parse_handles_typical_and_bad_completions() {
    let sig = Signature::parse(
        "question -> reasoning, answer: int, tags: list[str], verdict: enum[yes, no]",
    )
    .unwrap();
    let good = "[[ ## reasoning ## ]]\nSix times seven.\n\n[[ ## answer ## ]]\n42\n\n[[ ## tags ## ]]\n['math', \"easy\"]\n\n[[ ## verdict ## ]]\nYes\n\n[[ ## completed ## ]]";
    let out = ChatAdapter.parse(&sig, good).expect("parse");
    assert_eq!(
        Value::Object(out.into_iter().collect()),
        json!({"reasoning": "Six times seven.", "answer": 42, "tags": ["math", "easy"], "verdict": "yes"})
    );

    let missing = "[[ ## reasoning ## ]]\nhmm\n[[ ## answer ## ]]\n1\n[[ ## completed ## ]]";
    let e = ChatAdapter.parse(&sig, missing).unwrap_err();
    assert_eq!(e.failure, ParseFailure::MissingField("tags".into()));
    assert_eq!(e.raw, missing);

    let wrong = "[[ ## reasoning ## ]]\nhmm\n[[ ## answer ## ]]\nmany\n[[ ## tags ## ]]\n[]\n[[ ## verdict ## ]]\nno";
    assert!(
        matches!(ChatAdapter.parse(&sig, wrong).unwrap_err().failure, ParseFailure::BadValue { field, .. } if field == "answer")
    );
    assert_eq!(
        ChatAdapter.parse(&sig, "").unwrap_err().failure,
        ParseFailure::Empty
    );
}

#[test]
fn json_parse_handles_typical_and_bad_completions() {
    let sig =
        Signature::parse("question -> answer: float, ok: bool, extra: optional[int]").unwrap();
    let out = JsonAdapter
        .parse(
            &sig,
            "```json\n{\"answer\": \"2.5\", \"ok\": \"True\"}\n```",
        )
        .expect("parse");
    assert_eq!(
        Value::Object(out.into_iter().collect()),
        json!({"answer": 2.5, "ok": true, "extra": null})
    );
    let out = JsonAdapter
        .parse(
            &sig,
            "Here it is:\n{'answer': 1, 'ok': False, 'extra': None}\nDone.",
        )
        .expect("parse");
    assert_eq!(
        Value::Object(out.into_iter().collect()),
        json!({"answer": 1.0, "ok": false, "extra": null})
    );
    assert!(matches!(
        JsonAdapter
            .parse(&sig, "I cannot answer")
            .unwrap_err()
            .failure,
        ParseFailure::NotJson(_)
    ));
    assert!(matches!(
        JsonAdapter.parse(&sig, "{\"answer\": 1}").unwrap_err().failure,
        ParseFailure::MissingField(f) if f == "ok"
    ));
    assert!(matches!(
        JsonAdapter.parse(&sig, "{\"answer\": [1], \"ok\": true}").unwrap_err().failure,
        ParseFailure::BadValue { field, .. } if field == "answer"
    ));
}

/// Formatting is on every call's path; keep it cheap.
#[test]
fn formatting_is_fast() {
    let case = load_cases()
        .into_iter()
        .find(|c| c.name == "mixed_inputs_multi_output")
        .expect("fixture");
    let sig = build_signature(&case);
    let demos: Vec<Example> = case.demos.iter().map(example_of).collect();
    let inputs = example_of(&case.inputs);
    let n = 200;
    let start = std::time::Instant::now();
    for _ in 0..n {
        let _ = ChatAdapter.format(&sig, &demos, &inputs).expect("format");
    }
    let per_call = start.elapsed() / n;
    eprintln!("ChatAdapter::format: {per_call:?} per call (2 demos, 6 inputs, 4 outputs)");
    // Generous bound for debug builds on a loaded machine; release is far below this.
    assert!(
        per_call < std::time::Duration::from_millis(5),
        "format took {per_call:?} per call"
    );
}
