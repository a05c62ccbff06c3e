#[derive(sigil::Signature)]
struct QA {
    #[input(description = "the question")]
    question: String,
    #[output(desc = "one", desc = "two")]
    answer: String,
    #[output(rename = "not a name")]
    other: String,
}

fn main() {}
