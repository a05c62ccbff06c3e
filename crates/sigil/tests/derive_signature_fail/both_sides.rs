#[derive(sigil::Signature)]
struct QA {
    #[input]
    question: String,
    #[input]
    #[output]
    answer: String,
}

fn main() {}
