#[derive(sigil::SigilEnum)]
enum Choice {
    Yes,
    No(String),
}

#[derive(sigil::SigilEnum)]
#[sigil(rename_all = "Title Case")]
enum Other {
    A,
}

fn main() {}
