//! Lexical input drift: word-token sets compared by Jaccard similarity.

use std::collections::HashSet;
use std::path::Path;

/// Lowercase word tokens (letters and digits).
pub(crate) fn tokens(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

pub(crate) fn select_text(
    values: &serde_json::Map<String, serde_json::Value>,
    fields: &[String],
) -> String {
    let mut out = String::new();
    for (k, v) in values {
        if fields.is_empty() || fields.iter().any(|f| f == k) {
            out.push_str(&sigil::data::value_to_string(v));
            out.push(' ');
        }
    }
    out
}

/// Each example of the JSONL or CSV trainset at `path` as one text: its `fields`
/// (every field when empty). Shared by the lexical and the embedding drift measures.
pub(crate) fn trainset_texts(path: &Path, fields: &[String]) -> Result<Vec<String>, String> {
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let data = if csv {
        sigil::data::load_csv(path, &[])
    } else {
        sigil::data::load_jsonl(path, &[])
    };
    let data = data.map_err(|e| format!("cannot load trainset {}: {e}", path.display()))?;
    Ok(data
        .examples
        .iter()
        .map(|e| {
            let m: serde_json::Map<String, serde_json::Value> = e
                .values()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            select_text(&m, fields)
        })
        .collect())
}

pub(crate) fn load_trainset(
    path: &Path,
    fields: &[String],
) -> Result<Vec<HashSet<String>>, String> {
    Ok(trainset_texts(path, fields)?
        .iter()
        .map(|t| tokens(t))
        .collect())
}

/// The best Jaccard similarity of `input` to any trainset example.
pub(crate) fn best_similarity(input: &HashSet<String>, train: &[HashSet<String>]) -> f64 {
    if input.is_empty() {
        return 0.0;
    }
    let mut best = 0.0f64;
    for t in train {
        let inter = input.intersection(t).count();
        if inter == 0 {
            continue;
        }
        let union = input.len() + t.len() - inter;
        best = best.max(inter as f64 / union as f64);
        if best >= 1.0 {
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaccard_similarity_of_token_sets() {
        let train = vec![
            tokens("What is the capital of France?"),
            tokens("Who wrote Hamlet?"),
        ];
        assert_eq!(
            best_similarity(&tokens("what is the capital of france"), &train),
            1.0
        );
        assert_eq!(
            best_similarity(&tokens("quantum chromodynamics lattice"), &train),
            0.0
        );
        let s = best_similarity(&tokens("what is the capital of Spain"), &train);
        assert!(s > 0.5 && s < 1.0, "{s}");
    }
}
