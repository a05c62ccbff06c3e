//! Greedy output matches llama.cpp token for token (first 32 tokens) on at least 9 of
//! the 10 fixed prompts in `golden/llama_cpp_reference.json`
//! (regenerate with `scripts/gen_local_reference.py`). Needs SIGIL_TEST_MODEL.

use crate::common;

#[test]
fn greedy_matches_llama_cpp() {
    let model = common::model();
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../golden/llama_cpp_reference.json"))
            .expect("fixture parses");
    let cases = fixture["cases"].as_array().expect("cases");
    let mut matched = 0;
    let mut tokenizer_matched = 0;
    for (i, case) in cases.iter().enumerate() {
        let prompt = case["prompt"].as_str().unwrap();
        let ref_prompt: Vec<u32> = serde_json::from_value(case["prompt_tokens"].clone()).unwrap();
        let ref_out: Vec<u32> = serde_json::from_value(case["greedy_tokens"].clone()).unwrap();
        let messages: Vec<sigil::lm::Message> =
            serde_json::from_value(case["messages"].clone()).unwrap();
        assert_eq!(
            model.template.render(&messages).unwrap(),
            prompt,
            "case {i}: chat template"
        );
        let ours = model.tokenizer.encode(prompt, true);
        if ours == ref_prompt {
            tokenizer_matched += 1;
        } else {
            eprintln!("case {i}: tokenization differs:\n ours {ours:?}\n ref  {ref_prompt:?}");
        }
        let out = model.greedy(&ref_prompt, ref_out.len()).unwrap();
        if out == ref_out {
            matched += 1;
        } else {
            let at = out
                .iter()
                .zip(&ref_out)
                .position(|(a, b)| a != b)
                .unwrap_or(out.len().min(ref_out.len()));
            eprintln!(
                "case {i}: diverges at token {at}\n ours {:?}\n ref  {:?}",
                model.tokenizer.decode(&out),
                model.tokenizer.decode(&ref_out)
            );
        }
    }
    eprintln!(
        "greedy parity: {matched}/{} prompts; tokenizer parity {tokenizer_matched}/{}",
        cases.len(),
        cases.len()
    );
    assert_eq!(
        tokenizer_matched,
        cases.len(),
        "tokenizer must match llama.cpp on every prompt"
    );
    assert!(
        matched >= 9,
        "only {matched} of {} prompts match llama.cpp for 32 greedy tokens",
        cases.len()
    );
}
