#[derive(sigil::Signature)]
struct QA {
    #[input]
    question: String,
    answer: String,
}

fn main() {}
