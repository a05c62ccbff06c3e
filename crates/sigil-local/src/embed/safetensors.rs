//! A reader for the safetensors format: an 8-byte little-endian header length, a JSON
//! header mapping tensor names to `{dtype, shape, data_offsets}`, then the raw bytes.
//! Only what a BERT checkpoint needs: F32 (and F16/BF16, widened to f32) tensors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::EmbedError;

/// One tensor, widened to f32, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Every floating-point tensor of a safetensors file, by name.
#[derive(Debug)]
pub struct SafeTensors {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> EmbedError {
    EmbedError::Safetensors(format!("{}: {msg}", path.display()))
}

impl SafeTensors {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, EmbedError> {
        let bytes = std::fs::read(path).map_err(|source| EmbedError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &bytes)
    }

    /// Parses the bytes of a safetensors file (`path` only names it in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, EmbedError> {
        let len_bytes: [u8; 8] = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad(path, "shorter than the 8-byte header length"))?;
        let header_len = usize::try_from(u64::from_le_bytes(len_bytes))
            .map_err(|_| bad(path, "header length does not fit in memory"))?;
        let header = bytes
            .get(8..8usize.saturating_add(header_len))
            .filter(|h| h.len() == header_len)
            .ok_or_else(|| {
                bad(
                    path,
                    format!("header of {header_len} bytes runs past the end of the file"),
                )
            })?;
        let data = &bytes[8 + header_len..];
        let raw: HashMap<String, serde_json::Value> = serde_json::from_slice(header)
            .map_err(|e| bad(path, format!("header is not a JSON object: {e}")))?;
        let mut tensors = HashMap::new();
        for (name, value) in raw {
            if name == "__metadata__" {
                continue;
            }
            let e: Entry = serde_json::from_value(value)
                .map_err(|e| bad(path, format!("tensor {name}: {e}")))?;
            let [start, end] = e.data_offsets;
            let span = data
                .get(start..end)
                .filter(|_| start <= end)
                .ok_or_else(|| {
                    bad(
                        path,
                        format!(
                            "tensor {name}: data offsets {start}..{end} outside the {} data bytes",
                            data.len()
                        ),
                    )
                })?;
            let count: usize = e.shape.iter().product();
            let width = match e.dtype.as_str() {
                "F32" => 4,
                "F16" | "BF16" => 2,
                // Integer tensors (e.g. BERT's `position_ids` buffer) are not weights.
                "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL" => continue,
                other => {
                    return Err(bad(
                        path,
                        format!("tensor {name}: unsupported dtype {other}"),
                    ));
                }
            };
            if span.len() != count * width {
                return Err(bad(
                    path,
                    format!(
                        "tensor {name}: shape {:?} needs {} bytes of {}, found {}",
                        e.shape,
                        count * width,
                        e.dtype,
                        span.len()
                    ),
                ));
            }
            let values: Vec<f32> = match e.dtype.as_str() {
                "F32" => span
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                "F16" => span
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                _ => span
                    .chunks_exact(2)
                    .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
            };
            tensors.insert(
                name,
                Tensor {
                    shape: e.shape,
                    data: values,
                },
            );
        }
        Ok(SafeTensors {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// Removes and returns tensor `name`, checking its shape.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EmbedError> {
        let t = self.tensors.remove(name).ok_or_else(|| {
            EmbedError::MissingTensor(format!("{} has no tensor {name}", self.path.display()))
        })?;
        if t.shape != shape {
            return Err(bad(
                &self.path,
                format!("tensor {name} has shape {:?}, expected {shape:?}", t.shape),
            ));
        }
        Ok(t.data)
    }

    /// Whether tensor `name` is present (e.g. to detect a `bert.` name prefix).
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn reads_f32_and_f16_and_skips_integers() {
        let mut data = Vec::new();
        for v in [1.0f32, -2.5] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        data.extend_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
        data.extend_from_slice(&7i64.to_le_bytes());
        let h = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[1,1],"data_offsets":[8,10]},"ids":{"dtype":"I64","shape":[1],"data_offsets":[10,18]}}"#;
        let mut st = SafeTensors::parse(Path::new("t.safetensors"), &file(h, &data)).unwrap();
        assert_eq!(st.take("a", &[2]).unwrap(), vec![1.0, -2.5]);
        assert_eq!(st.take("b", &[1, 1]).unwrap(), vec![0.5]);
        assert!(!st.contains("ids"));
        let e = st.take("a", &[2]).unwrap_err().to_string();
        assert!(e.contains("no tensor a"), "{e}");
    }

    #[test]
    fn malformed_files_are_errors_naming_the_problem() {
        let p = Path::new("m.safetensors");
        let e = SafeTensors::parse(p, b"abc").unwrap_err().to_string();
        assert!(e.contains("m.safetensors") && e.contains("8-byte"), "{e}");
        let mut b = 1000u64.to_le_bytes().to_vec();
        b.extend_from_slice(b"{}");
        let e = SafeTensors::parse(p, &b).unwrap_err().to_string();
        assert!(e.contains("runs past the end"), "{e}");
        let h = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}"#;
        let e = SafeTensors::parse(p, &file(h, &[0u8; 8]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs 16 bytes"), "{e}");
        let h = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,64]}}"#;
        let e = SafeTensors::parse(p, &file(h, &[0u8; 8]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside"), "{e}");
        let mut st = SafeTensors::parse(
            p,
            &file(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                &[0u8; 4],
            ),
        )
        .unwrap();
        let e = st.take("a", &[2]).unwrap_err().to_string();
        assert!(e.contains("expected [2]"), "{e}");
    }
}
