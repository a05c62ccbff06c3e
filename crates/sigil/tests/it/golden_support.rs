//! Shared by the golden tests: reading a folder of JSON fixtures, and the recorded
//! messages they hold.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use sigil::lm::Role;

/// One message DSPy sent, as a fixture records it.
#[derive(Debug, Deserialize)]
pub struct GoldenMessage {
    pub role: Role,
    pub content: String,
}

/// `crates/sigil/tests/golden/<folder>`.
pub fn golden_dir(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(folder)
}

/// Every `*.json` file of `tests/golden/<folder>`, in name order, parsed.
pub fn load_fixtures<T: DeserializeOwned>(folder: &str) -> Vec<T> {
    let dir = golden_dir(folder);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("bad fixture {}: {e}", p.display()))
        })
        .collect()
}

/// A fixture's input values as an example, every key an input.
pub fn example_of(values: &serde_json::Map<String, serde_json::Value>) -> sigil::data::Example {
    values
        .iter()
        .fold(sigil::data::Example::new(), |ex, (k, v)| {
            ex.input(k.clone(), v.clone())
        })
}
