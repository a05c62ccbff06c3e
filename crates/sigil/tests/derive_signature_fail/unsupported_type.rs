struct Opaque;

#[derive(sigil::Signature)]
struct QA {
    #[input]
    question: String,
    #[output]
    answer: Opaque,
}

fn main() {}
