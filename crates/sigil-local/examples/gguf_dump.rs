//! Prints a GGUF file's metadata (arrays abbreviated) and tensor table.
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: gguf_dump FILE.gguf");
        std::process::exit(2);
    };
    match sigil_local::gguf::Gguf::open(std::path::Path::new(&path)) {
        Ok(g) => {
            for (k, v) in &g.metadata {
                match v.as_array() {
                    Some(a) => println!("{k}: array[{}]", a.len()),
                    None => println!("{k}: {v:?}"),
                }
            }
            for t in &g.tensors {
                println!("{} {:?} {}", t.name, t.dims, t.ty.name());
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
