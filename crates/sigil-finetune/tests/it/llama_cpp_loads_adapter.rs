//! llama.cpp (through llama-cpp-python's `lora_path`) loads an exported adapter, and an
//! adapter trained to answer a fixed word makes llama.cpp's greedy reply that word, as
//! it does the candle forward with the adapter on.

use std::process::Command;

use sigil_finetune::{ChatExample, LoraConfig, Target, TrainOptions, train, write_adapter};

use crate::common::{base, encode, llama_python, local, model_path, prompt_tokens};

/// Runs llama.cpp greedily on `prompt` (token ids) with the adapter at `lora`; returns
/// the generated token ids.
fn llama_cpp_greedy(lora: &std::path::Path, prompt: &[u32], n: usize) -> Vec<u32> {
    let script = r#"
import json, sys
from llama_cpp import Llama
model, lora, prompt, n = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
llm = Llama(model_path=model, lora_path=lora, n_ctx=512, verbose=False, seed=0)
out = []
for tok in llm.generate(prompt, temp=0.0, top_k=1, repeat_penalty=1.0):
    out.append(tok)
    if tok == llm.token_eos() or len(out) >= n:
        break
print(json.dumps(out))
"#;
    let py = llama_python();
    let out = Command::new(&py)
        .arg("-c")
        .arg(script)
        .arg(model_path())
        .arg(lora)
        .arg(serde_json::to_string(prompt).expect("json"))
        .arg(n.to_string())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", py.display()));
    assert!(
        out.status.success(),
        "llama.cpp failed on the adapter:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("token list")
}

#[test]
fn trained_adapter_steers_llama_cpp() {
    let word = "Pineapple.";
    let questions = [
        "What is your favourite word?",
        "Tell me a word.",
        "Say something.",
        "What should I say?",
    ];
    let examples: Vec<ChatExample> = questions
        .iter()
        .map(|q| ChatExample::user(q, word))
        .collect();
    let cfg = LoraConfig {
        rank: 4,
        alpha: 8.0,
        targets: vec![Target::AttnQ, Target::AttnV, Target::AttnOutput],
        learning_rate: 3e-3,
        epochs: 6,
        batch_size: 4,
        seed: 1,
        max_seq_len: 64,
    };
    let data = encode(&examples, cfg.max_seq_len);
    let mut losses = Vec::new();
    let adapter = train(
        &base(),
        &cfg,
        &data,
        TrainOptions {
            on_progress: Box::new(|p| {
                eprintln!(
                    "step {} loss {:.4} {:.0} tok/s",
                    p.step, p.loss, p.tokens_per_s
                );
                losses.push(p.loss)
            }),
            ..TrainOptions::default()
        },
    )
    .expect("trains");
    assert!(
        losses.last() < losses.first(),
        "loss did not fall: {losses:?}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("adapter.gguf");
    write_adapter(&path, &adapter, "llama").expect("writes");

    let local = local();
    let prompt = prompt_tokens(questions[1]);
    let text = |t: &[u32]| local.tokenizer.decode(t);
    let before = base()
        .greedy(&prompt, 6, &local.tokenizer.stop_tokens, None)
        .expect("candle greedy");
    assert!(
        !text(&before).starts_with(word),
        "the base already says {word}"
    );
    let ours = base()
        .greedy(&prompt, 6, &local.tokenizer.stop_tokens, Some(&adapter))
        .expect("candle greedy");
    let theirs = llama_cpp_greedy(&path, &prompt, 6);
    eprintln!(
        "candle+lora: {:?}  llama.cpp+lora: {:?}",
        text(&ours),
        text(&theirs)
    );
    assert!(text(&ours).starts_with(word), "candle: {:?}", text(&ours));
    assert!(
        text(&theirs).starts_with(word),
        "llama.cpp: {:?}",
        text(&theirs)
    );
}
