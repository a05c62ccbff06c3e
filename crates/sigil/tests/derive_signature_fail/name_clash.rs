#[derive(sigil::Signature)]
struct QA {
    #[input]
    question: String,
    #[output(rename = "question")]
    answer: String,
}

#[derive(sigil::Signature)]
#[signature(instruction = "typo")]
struct Other {
    #[input]
    #[input]
    question: String,
}

fn main() {}
