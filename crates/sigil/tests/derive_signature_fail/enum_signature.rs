#[derive(sigil::Signature)]
enum QA {
    Question,
    Answer,
}

fn main() {}
