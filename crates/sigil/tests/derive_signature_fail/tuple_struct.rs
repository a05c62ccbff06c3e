#[derive(sigil::Signature)]
struct QA(String, String);

fn main() {}
