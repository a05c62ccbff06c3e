//! Training throughput on Banking77-shaped ChatAdapter examples (the benchmark's
//! Sigil side; `bench/python/peft_throughput.py` is its PyTorch + PEFT peer).
//! `cargo run --release -p sigil-finetune --example speed_probe -- MODEL [BATCH] [STEPS]
//! [--no-share] [--dump TOKENS.json]`: `--no-share` runs each example whole instead of
//! its batch's shared prompt prefix once; `--dump` writes the token ids and reply
//! lengths so the peer trains on the same sequences.
use sigil::prelude::*;
fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let no_share = all.iter().any(|a| a == "--no-share");
    let dump = all
        .iter()
        .position(|a| a == "--dump")
        .and_then(|i| all.get(i + 1).cloned());
    let mut args = all
        .iter()
        .filter(|a| !a.starts_with("--") && Some(*a) != dump.as_ref())
        .cloned();
    let path = std::path::PathBuf::from(args.next().expect("model path"));
    let batch: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(4);
    let steps: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(3);
    let labels = "activate_my_card, age_limit, apple_pay_or_google_pay, atm_support, automatic_top_up, balance_not_updated_after_bank_transfer, balance_not_updated_after_cheque_or_cash_deposit, beneficiary_not_allowed, cancel_transfer, card_about_to_expire";
    let sig = sigil::signature::Signature::parse(&format!("text -> category: enum[{labels}]"))
        .unwrap()
        .with_instructions(
            "Classify the online-banking customer's message into one intent category.",
        );
    let g = sigil_local::gguf::Gguf::open(&path).unwrap();
    let (tok, tpl) = sigil_local::engine::text_side(&g).unwrap();
    let base = sigil_finetune::BaseModel::from_gguf(&g).unwrap();
    let texts = [
        "How do I activate my new card?",
        "Is there an age limit to open an account?",
        "Can I top up with Apple Pay?",
        "The ATM swallowed my card, what now?",
    ];
    let data: Vec<_> = (0..batch * steps)
        .map(|i| {
            let inputs = Example::new().input("text", texts[i % 4]);
            let mut out = sigil::adapter::Fields::new();
            out.insert("category".into(), serde_json::json!("activate_my_card"));
            let msgs = sigil::optimize::finetune_messages(
                &sigil::adapter::ChatAdapter,
                &sig,
                &[],
                &inputs,
                &out,
            )
            .unwrap();
            let (last, before) = msgs.split_last().unwrap();
            let ex = sigil_finetune::ChatExample {
                messages: before.to_vec(),
                completion: last.content.clone(),
            };
            sigil_finetune::EncodedExample::new(&ex, &tok, &tpl, 1024).unwrap()
        })
        .collect();
    println!(
        "tokens per example: {} (targets {})",
        data[0].tokens.len(),
        data[0].n_targets()
    );
    if let Some(file) = &dump {
        let rows: Vec<_> = data
            .iter()
            .map(|d| serde_json::json!({"tokens": d.tokens, "targets": d.n_targets()}))
            .collect();
        std::fs::write(file, serde_json::to_string(&rows).unwrap()).unwrap();
    }
    let cfg = sigil_finetune::LoraConfig {
        rank: 8,
        targets: sigil_finetune::Target::ALL.to_vec(),
        batch_size: batch,
        epochs: 1,
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let opts = sigil_finetune::TrainOptions {
        on_progress: Box::new(|p: &sigil_finetune::Progress| {
            println!(
                "step {} loss {:.3} {:.1} tok/s",
                p.step, p.loss, p.tokens_per_s
            )
        }),
        share_prefix: !no_share,
        ..Default::default()
    };
    sigil_finetune::train(&base, &cfg, &data, opts).unwrap();
    let n: usize = data.iter().map(|d| d.tokens.len()).sum();
    let secs = t0.elapsed().as_secs_f64();
    println!("total {:.1} tok/s", n as f64 / secs);
    println!(
        "{}",
        serde_json::json!({"framework": "sigil", "share_prefix": !no_share, "batch": batch,
            "steps": steps, "tokens": n, "seconds": secs, "tokens_per_s": n as f64 / secs})
    );
}
