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
        // Every projection, the FFN's gate and up included: llama.cpp and the embedded
        // engine must apply each the same way.
        targets: Target::ALL.to_vec(),
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

    // sigil-local applies the adapter at inference: with it, it says the word too.
    let mut tuned = sigil_local::Model::load(&model_path()).expect("model loads");
    tuned.llama = tuned.llama.with_lora(&path).expect("adapter loads");
    assert!(tuned.llama.has_lora());
    let with = tuned.greedy(&prompt, 6).expect("greedy");
    assert!(
        text(&with).starts_with(word),
        "sigil-local: {:?}",
        text(&with)
    );

    // A light adapter (one step) leaves answers varied: sigil-local and llama.cpp must
    // then agree token for token under it, and it must change some answer.
    let light_cfg = LoraConfig {
        epochs: 1,
        learning_rate: 1e-3,
        ..cfg
    };
    let light = train(&base(), &light_cfg, &data, TrainOptions::default()).expect("trains");
    let light_path = dir.path().join("light.gguf");
    write_adapter(&light_path, &light, "llama").expect("writes");
    let mut lightly = sigil_local::Model::load(&model_path()).expect("model loads");
    lightly.llama = lightly.llama.with_lora(&light_path).expect("adapter loads");
    let prompts = [
        "What is your favourite word?",
        "Tell me a word.",
        "Name a fruit.",
        "What is the capital of France?",
        "Count to three.",
        "Give me a colour.",
        "Who are you?",
        "Write one word.",
        "What is 2 + 2?",
        "Describe the sea.",
    ];
    let (mut agree, mut changed) = (0, 0);
    for p in prompts {
        let toks = prompt_tokens(p);
        let ours = lightly.greedy(&toks, 8).expect("sigil-local greedy");
        let theirs = llama_cpp_greedy(&light_path, &toks, 8);
        let plain = local.greedy(&toks, 8).expect("sigil-local greedy");
        eprintln!(
            "{p:?}: sigil-local {:?} / llama.cpp {:?} / no adapter {:?}",
            text(&ours),
            text(&theirs),
            text(&plain)
        );
        agree += usize::from(ours == theirs);
        changed += usize::from(ours != plain);
    }
    assert!(
        agree >= 9,
        "sigil-local and llama.cpp agree on {agree} of 10 prompts"
    );
    assert!(changed >= 1, "the light adapter changed no answer");
}
