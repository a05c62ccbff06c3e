//! Golden tests: a predictor call as a fine-tuning example must be byte for byte what
//! DSPy 3.4.1's `ChatAdapter.format_finetune_data` makes of it (the messages, and the
//! JSONL line DSPy writes for a fine-tuning job).
//!
//! Fixtures live in `crates/sigil/tests/golden/finetune/*.json`; regenerate them with
//! `.dev/venv-dspy/bin/python scripts/gen_finetune_goldens.py`.

use serde::Deserialize;
use serde_json::{Map, Value};
use sigil::adapter::{ChatAdapter, Fields};
use sigil::data::Example;
use sigil::optimize::{FinetuneExample, finetune_messages};
use sigil::signature::{Field, Signature};

use crate::golden_support::{GoldenMessage, example_of, load_fixtures};

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    instructions: Option<String>,
    dspy_instructions: String,
    input_fields: Vec<Field>,
    output_fields: Vec<Field>,
    demos: Vec<Map<String, Value>>,
    inputs: Map<String, Value>,
    outputs: Map<String, Value>,
    messages: Vec<GoldenMessage>,
    jsonl_line: String,
}

#[test]
fn finetune_examples_match_dspy_byte_for_byte() {
    let cases: Vec<Case> = load_fixtures("finetune");
    assert!(cases.len() >= 4, "fixtures missing");
    for case in cases {
        let name = &case.name;
        let signature = Signature::new(case.input_fields.clone(), case.output_fields.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .with_instructions(
                case.instructions
                    .clone()
                    .unwrap_or_else(|| case.dspy_instructions.clone()),
            );
        let demos: Vec<Example> = case.demos.iter().map(example_of).collect();
        let outputs: Fields = case.outputs.clone().into_iter().collect();
        let messages = finetune_messages(
            &ChatAdapter,
            &signature,
            &demos,
            &example_of(&case.inputs),
            &outputs,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(messages.len(), case.messages.len(), "{name}: message count");
        for (i, (got, want)) in messages.iter().zip(&case.messages).enumerate() {
            assert_eq!(got.role, want.role, "{name}: role of message {i}");
            assert_eq!(got.content, want.content, "{name}: message {i}");
        }
        let line = FinetuneExample {
            path: String::new(),
            messages,
        }
        .jsonl_line();
        assert_eq!(line, case.jsonl_line, "{name}: JSONL line");
    }
}
