//! Debug aid: compares the candle forward with sigil-local's on the golden prompts.
fn main() {
    let path = std::path::PathBuf::from(std::env::args().nth(1).expect("model path"));
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::env::args().nth(2).expect("fixture")).expect("read"),
    )
    .expect("json");
    let base = sigil_finetune::BaseModel::load(&path).expect("base");
    let local = sigil_local::Model::load(&path).expect("local");
    for case in fixture["cases"].as_array().expect("cases") {
        let toks: Vec<u32> = serde_json::from_value(case["prompt_tokens"].clone()).expect("t");
        for n in [4, toks.len()] {
            let a = base.last_logits(&toks[..n], None).expect("a");
            let b = local
                .llama
                .forward(&toks[..n], &mut local.new_cache())
                .expect("b");
            let d = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            let (ia, ib) = (sigil_finetune::argmax(&a), sigil_finetune::argmax(&b));
            let mut s = b.clone();
            s.sort_by(|x, y| y.total_cmp(x));
            println!(
                "n={n:3} maxdiff {d:.3} argmax {ia} vs {ib} local top2 margin {:.3} ours[ib]-ours[ia] {:.3}",
                s[0] - s[1],
                a[ib as usize] - a[ia as usize]
            );
        }
    }
}
