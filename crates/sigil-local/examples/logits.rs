//! Prints the last-token logits for a token list (JSON on stdin): debugging aid.
fn main() {
    let path = std::env::args().nth(1).expect("model path");
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).expect("stdin");
    let toks: Vec<u32> = serde_json::from_str(&s).expect("json tokens");
    let m = sigil_local::Model::load(std::path::Path::new(&path)).expect("load");
    let mut c = m.new_cache();
    let t = std::time::Instant::now();
    let l = m.llama.forward(&toks, &mut c).expect("forward");
    eprintln!("prefill {} tokens in {:?}", toks.len(), t.elapsed());
    println!("{}", serde_json::to_string(&l).expect("json"));
}
