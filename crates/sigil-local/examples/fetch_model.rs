//! Resolves (and if needed fetches) the default model, printing where it is.
//! `cargo run -p sigil-local --example fetch_model [PATH]`
#[tokio::main]
async fn main() {
    let explicit = std::env::args().nth(1).map(std::path::PathBuf::from);
    match sigil_local::resolve::resolve(
        explicit.as_deref(),
        &sigil_local::resolve::ModelSpec::default(),
        None,
    )
    .await
    {
        Ok(p) => println!("{}", p.display()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
