#[doc = concat!("Built ", "by a macro.")]
#[derive(sigil::Signature)]
struct QA {
    #[input]
    question: String,
    #[output]
    answer: String,
}

fn main() {}
