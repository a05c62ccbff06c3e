//! Decode/prefill timing loop for profiling the forward pass (`perf record` on it).
//!
//! `cargo run --release -p sigil-local --example decode_loop -- MODEL [DECODE_TOKENS] [PREFILL_TOKENS]`
//! Prints prefill and decode tokens/s (best of the repeats given by `SIGIL_REPEAT`, default 3).
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: decode_loop MODEL [DECODE_TOKENS] [PREFILL_TOKENS]");
        std::process::exit(2);
    };
    let n_dec: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(128);
    let n_pre: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    let reps: usize = std::env::var("SIGIL_REPEAT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let m = sigil_local::Model::load(std::path::Path::new(path)).expect("model");
    let prompt = m.tokenizer.encode(
        "<|im_start|>user\nWrite a long essay about the history of banking.<|im_end|>\n<|im_start|>assistant\n",
        true,
    );
    if n_pre > 0 {
        let toks: Vec<u32> = (0..n_pre)
            .map(|i| (i * 7919 % 40000) as u32 + 100)
            .collect();
        let mut best = f64::MAX;
        for _ in 0..reps {
            let mut c = m.new_cache();
            let t = Instant::now();
            m.llama.forward(&toks, &mut c).expect("prefill");
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("prefill {n_pre} tokens: {:.1} tok/s", n_pre as f64 / best);
    }
    let mut best = f64::MAX;
    let mut out = Vec::new();
    let mut per_tok = Vec::new();
    for _ in 0..reps {
        let mut c = m.new_cache();
        let mut logits = m.llama.forward(&prompt, &mut c).expect("prompt");
        out.clear();
        let t = Instant::now();
        for _ in 0..n_dec {
            let tok = sigil_local::sampler::argmax(&logits);
            out.push(tok);
            let t1 = Instant::now();
            logits = m.llama.forward(&[tok], &mut c).expect("decode");
            per_tok.push(t1.elapsed().as_secs_f64());
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    per_tok.sort_by(f64::total_cmp);
    let q = |f: f64| per_tok[((per_tok.len() - 1) as f64 * f) as usize] * 1e3;
    println!(
        "decode {n_dec} tokens: {:.1} tok/s; per token min {:.3} ms, p10 {:.3}, median {:.3}",
        n_dec as f64 / best,
        q(0.0),
        q(0.1),
        q(0.5)
    );
    println!("tokens: {:?}", &out[..out.len().min(16)]);
}
