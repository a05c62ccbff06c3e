//! Corpus loading: one JSON object per line with `id`, `text`, an optional `title`;
//! every other field is kept as metadata.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::IndexError;

/// One passage of a corpus.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Document {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub text: String,
    /// Every other field of the record.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

impl Document {
    /// The text an index sees: the title, if any, on the line before the text.
    pub fn indexed_text(&self) -> String {
        match &self.title {
            Some(t) if !t.is_empty() => format!("{t}\n{}", self.text),
            _ => self.text.clone(),
        }
    }

    /// The metadata a retrieved passage carries: the title plus the other fields.
    pub fn passage_metadata(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(t) = &self.title {
            m.insert("title".into(), Value::String(t.clone()));
        }
        m.extend(self.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        m
    }
}

/// A loaded corpus and the hash of its bytes (stored in every index built from it).
#[derive(Clone, Debug)]
pub struct Corpus {
    pub path: PathBuf,
    pub docs: Vec<Document>,
    /// `sha256:<hex>` of the file's bytes.
    pub hash: String,
}

impl Corpus {
    /// Loads a JSONL corpus. Blank lines are skipped; a malformed line, a missing or
    /// empty `id`/`text`, a repeated id, or no records at all is an error naming the line.
    pub fn load(path: impl AsRef<Path>) -> Result<Corpus, IndexError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| IndexError::io(path, e))?;
        Corpus::parse(path, &bytes)
    }

    /// Parses corpus bytes (`path` only names them in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Corpus, IndexError> {
        let shown = path.display().to_string();
        let err = |line: usize, reason: String| IndexError::Corpus {
            path: shown.clone(),
            line,
            reason,
        };
        let mut docs = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            let text = std::str::from_utf8(raw)
                .map_err(|e| err(line, format!("not valid UTF-8 ({e})")))?;
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(text)
                .map_err(|e| err(line, format!("not valid JSON ({e})")))?;
            let Value::Object(mut obj) = value else {
                return Err(err(line, "not a JSON object".into()));
            };
            let id = match obj.remove("id") {
                Some(Value::String(s)) if !s.trim().is_empty() => s,
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(_)) => return Err(err(line, "`id` is empty".into())),
                Some(_) => return Err(err(line, "`id` must be a string or a number".into())),
                None => return Err(err(line, "missing `id`".into())),
            };
            let body = match obj.remove("text") {
                Some(Value::String(s)) if !s.trim().is_empty() => s,
                Some(Value::String(_)) => return Err(err(line, "`text` is empty".into())),
                Some(_) => return Err(err(line, "`text` must be a string".into())),
                None => return Err(err(line, "missing `text`".into())),
            };
            let title = match obj.remove("title") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s),
                Some(_) => return Err(err(line, "`title` must be a string".into())),
            };
            if let Some(first) = seen.insert(id.clone(), line) {
                return Err(err(
                    line,
                    format!("id {id:?} was already used on line {first}"),
                ));
            }
            docs.push(Document {
                id,
                title,
                text: body,
                metadata: obj,
            });
        }
        if docs.is_empty() {
            return Err(IndexError::EmptyCorpus { path: shown });
        }
        Ok(Corpus {
            path: path.to_path_buf(),
            docs,
            hash: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Corpus, IndexError> {
        Corpus::parse(Path::new("c.jsonl"), s.as_bytes())
    }

    #[test]
    fn reads_ids_titles_and_metadata() {
        let c = parse(
            "{\"id\": \"a\", \"title\": \"T\", \"text\": \"x\", \"year\": 1742}\n\n{\"id\": 7, \"text\": \"y\"}\n",
        )
        .unwrap();
        assert_eq!(c.docs.len(), 2);
        assert_eq!(c.docs[0].title.as_deref(), Some("T"));
        assert_eq!(c.docs[0].metadata["year"], 1742);
        assert_eq!(c.docs[1].id, "7");
        assert_eq!(c.docs[0].indexed_text(), "T\nx");
        assert_eq!(c.docs[0].passage_metadata()["title"], "T");
        assert!(c.hash.starts_with("sha256:"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("{\"id\": \"a\", \"text\": \"x\"}\n{oops\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("corpus c.jsonl line 2: not valid JSON"),
            "{e}"
        );
        let e = parse("{\"id\": \"a\"}\n").unwrap_err();
        assert_eq!(e.to_string(), "corpus c.jsonl line 1: missing `text`");
        let e = parse("{\"text\": \"x\"}\n").unwrap_err();
        assert_eq!(e.to_string(), "corpus c.jsonl line 1: missing `id`");
        let e = parse("[1]\n").unwrap_err();
        assert_eq!(e.to_string(), "corpus c.jsonl line 1: not a JSON object");
        let e = parse("{\"id\": \"a\", \"text\": \"x\"}\n\n{\"id\": \"a\", \"text\": \"y\"}")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "corpus c.jsonl line 3: id \"a\" was already used on line 1"
        );
        let e = parse("{\"id\": \"a\", \"text\": \"  \"}").unwrap_err();
        assert_eq!(e.to_string(), "corpus c.jsonl line 1: `text` is empty");
        let e = Corpus::parse(Path::new("c.jsonl"), b"{\"id\": \"a\", \"text\": \"\xff\"}")
            .unwrap_err();
        assert!(e.to_string().contains("line 1: not valid UTF-8"), "{e}");
    }

    #[test]
    fn empty_corpus_is_an_error() {
        let e = parse("\n  \n").unwrap_err();
        assert!(matches!(e, IndexError::EmptyCorpus { .. }));
        assert!(parse("").is_err());
    }
}
