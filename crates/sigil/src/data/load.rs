//! Loading datasets from JSONL and CSV, seeded shuffles and splits, content hashes.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Example;
use crate::rng::SeededRng;

/// Problems reading a dataset; each names the file and, where it applies, the line.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read.
    #[error("cannot read dataset {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not UTF-8.
    #[error("{path}:{line}: not valid UTF-8")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
    },
    /// A line is not JSON.
    #[error("{path}:{line}: invalid JSON: {message}")]
    BadJson {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A line is JSON but not an object.
    #[error("{path}:{line}: expected a JSON object per line")]
    NotAnObject {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
    },
    /// A record lacks an input key.
    #[error("{path}:{line}: missing field `{field}`")]
    MissingField {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The missing key.
        field: String,
    },
    /// The CSV header lacks an input column.
    #[error("{path}: no column named `{column}` (columns: {available})")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The missing column.
        column: String,
        /// The columns there are, comma-separated.
        available: String,
    },
    /// A CSV record could not be read.
    #[error("{path}:{line}: invalid CSV: {message}")]
    BadCsv {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The reader's message.
        message: String,
    },
    /// A split asks for more examples than there are.
    #[error("cannot split {len} examples into {wanted}")]
    BadSplit {
        /// Examples in the dataset.
        len: usize,
        /// The split asked for.
        wanted: String,
    },
}

/// An ordered list of examples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// The examples, in order.
    pub examples: Vec<Example>,
}

impl From<Vec<Example>> for Dataset {
    fn from(examples: Vec<Example>) -> Self {
        Dataset { examples }
    }
}

impl Dataset {
    /// The number of examples.
    pub fn len(&self) -> usize {
        self.examples.len()
    }
    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }
    /// The examples, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Example> {
        self.examples.iter()
    }

    /// A copy shuffled with a fixed, seed-determined order.
    pub fn shuffled(&self, seed: u64) -> Dataset {
        let mut ex = self.examples.clone();
        SeededRng::new(seed).shuffle(&mut ex);
        Dataset { examples: ex }
    }

    /// Splits off the first `n` examples (after a seeded shuffle) from the rest.
    pub fn split(&self, n: usize, seed: u64) -> Result<(Dataset, Dataset), DataError> {
        if n > self.len() {
            return Err(DataError::BadSplit {
                len: self.len(),
                wanted: format!("a first part of {n}"),
            });
        }
        let mut s = self.shuffled(seed).examples;
        let rest = s.split_off(n);
        Ok((Dataset { examples: s }, Dataset { examples: rest }))
    }

    /// Splits into train/validation/test of the given sizes after a seeded shuffle.
    pub fn split3(
        &self,
        train: usize,
        val: usize,
        test: usize,
        seed: u64,
    ) -> Result<(Dataset, Dataset, Dataset), DataError> {
        if train + val + test > self.len() {
            return Err(DataError::BadSplit {
                len: self.len(),
                wanted: format!("{train} + {val} + {test}"),
            });
        }
        let s = self.shuffled(seed).examples;
        Ok((
            Dataset {
                examples: s[..train].to_vec(),
            },
            Dataset {
                examples: s[train..train + val].to_vec(),
            },
            Dataset {
                examples: s[train + val..train + val + test].to_vec(),
            },
        ))
    }

    /// SHA-256 (hex) of the dataset's content: each example's keys, values and input
    /// marks in order. Equal content gives an equal hash on every machine.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        for ex in &self.examples {
            let line = serde_json::json!({"values": ex.values(), "inputs": ex.input_keys()});
            h.update(line.to_string().as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads one JSON object per line; `input_keys` names the inputs (each must be present).
pub fn load_jsonl(path: impl AsRef<Path>, input_keys: &[&str]) -> Result<Dataset, DataError> {
    let path = path.as_ref();
    let bytes = read(path)?;
    let mut examples = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let text = std::str::from_utf8(raw).map_err(|_| DataError::NotUtf8 {
            path: path.into(),
            line,
        })?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(text).map_err(|e| DataError::BadJson {
            path: path.into(),
            line,
            message: e.to_string(),
        })?;
        let Value::Object(map) = v else {
            return Err(DataError::NotAnObject {
                path: path.into(),
                line,
            });
        };
        for k in input_keys {
            if !map.contains_key(*k) {
                return Err(DataError::MissingField {
                    path: path.into(),
                    line,
                    field: k.to_string(),
                });
            }
        }
        examples.push(Example::from_pairs(map, input_keys));
    }
    Ok(Dataset { examples })
}

/// Loads a CSV file with a header row; every column becomes a string value.
pub fn load_csv(path: impl AsRef<Path>, input_keys: &[&str]) -> Result<Dataset, DataError> {
    let path = path.as_ref();
    let bytes = read(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let headers = match rdr.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(DataError::BadCsv {
                path: path.into(),
                line: 1,
                message: e.to_string(),
            });
        }
    };
    let mut names = Vec::new();
    for h in headers.iter() {
        names.push(
            String::from_utf8(h.to_vec()).map_err(|_| DataError::NotUtf8 {
                path: path.into(),
                line: 1,
            })?,
        );
    }
    for k in input_keys {
        if !names.iter().any(|n| n == k) {
            return Err(DataError::MissingColumn {
                path: path.into(),
                column: k.to_string(),
                available: names.join(", "),
            });
        }
    }
    let mut examples = Vec::new();
    for rec in rdr.byte_records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
            DataError::BadCsv {
                path: path.into(),
                line,
                message: e.to_string(),
            }
        })?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        let mut pairs = Vec::with_capacity(names.len());
        for (name, cell) in names.iter().zip(rec.iter()) {
            let s = std::str::from_utf8(cell).map_err(|_| DataError::NotUtf8 {
                path: path.into(),
                line,
            })?;
            pairs.push((name.clone(), Value::String(s.to_string())));
        }
        examples.push(Example::from_pairs(pairs, input_keys));
    }
    Ok(Dataset { examples })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        f
    }

    #[test]
    fn jsonl_loads_and_reports_lines() {
        let f = file(b"{\"q\": \"a\", \"ans\": 1}\n\n{\"q\": \"b\", \"ans\": 2}\n");
        let d = load_jsonl(f.path(), &["q"]).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.examples[1].get_str("q").unwrap(), "b");
        assert_eq!(d.examples[1].labels().len(), 1);

        let f = file(b"{\"q\": \"a\"}\n{\"x\": 1}\n");
        let e = load_jsonl(f.path(), &["q"]).unwrap_err();
        assert!(matches!(e, DataError::MissingField { line: 2, .. }), "{e}");

        let f = file(b"{\"q\": \"a\"}\n{oops\n");
        assert!(matches!(
            load_jsonl(f.path(), &["q"]).unwrap_err(),
            DataError::BadJson { line: 2, .. }
        ));
        let f = file(b"{\"q\": \"a\"}\n[1]\n");
        assert!(matches!(
            load_jsonl(f.path(), &["q"]).unwrap_err(),
            DataError::NotAnObject { line: 2, .. }
        ));
        let f = file(b"{\"q\": \"a\"}\n{\"q\": \"\xff\"}\n");
        assert!(matches!(
            load_jsonl(f.path(), &["q"]).unwrap_err(),
            DataError::NotUtf8 { line: 2, .. }
        ));
        assert!(matches!(
            load_jsonl("/nonexistent/x.jsonl", &[]).unwrap_err(),
            DataError::Io { .. }
        ));
    }

    #[test]
    fn csv_loads_and_checks_columns() {
        let f = file(b"text,label\nhello,greet\n\"a, b\",list\n");
        let d = load_csv(f.path(), &["text"]).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.examples[1].get_str("text").unwrap(), "a, b");
        let e = load_csv(f.path(), &["query"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("no column named `query` (columns: text, label)"),
            "{e}"
        );
        let f = file(b"text,label\nhello,greet\n\xfe\xff,x\n");
        assert!(matches!(
            load_csv(f.path(), &["text"]).unwrap_err(),
            DataError::NotUtf8 { line: 3, .. }
        ));
        let f = file(b"text,label\nhello,greet,extra\n");
        assert!(matches!(
            load_csv(f.path(), &["text"]).unwrap_err(),
            DataError::BadCsv { .. }
        ));
    }

    #[test]
    fn shuffles_splits_and_hashes_are_deterministic() {
        let d: Dataset = (0..20)
            .map(|i| Example::new().input("q", i).set("a", i * 2))
            .collect::<Vec<_>>()
            .into();
        assert_eq!(d.shuffled(3), d.shuffled(3));
        assert_ne!(d.shuffled(3), d.shuffled(4));
        let (a, b) = d.split(5, 1).unwrap();
        assert_eq!((a.len(), b.len()), (5, 15));
        let (t, v, s) = d.split3(10, 5, 5, 9).unwrap();
        assert_eq!(t.len() + v.len() + s.len(), 20);
        assert!(d.split3(10, 10, 10, 0).is_err());
        assert_eq!(d.content_hash(), d.clone().content_hash());
        assert_ne!(d.content_hash(), d.shuffled(1).content_hash());
        assert_eq!(d.content_hash().len(), 64);
    }
}
