//! GPT2-style byte-level BPE tokenizer built from GGUF metadata
//! (`tokenizer.ggml.model = "gpt2"`), with llama.cpp's special-token splitting and
//! pre-tokenizers (`gpt2`-family regex; `smollm` and friends split digits first).

use std::collections::HashMap;

use crate::error::{LocalError, Result};
use crate::gguf::{Gguf, MetaValue};

const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;

/// How text is split into words before BPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreTokenizer {
    /// GPT2's regex.
    Gpt2,
    /// Every digit alone, then GPT2's regex (`smollm`, `starcoder`, `refact`, ...).
    DigitsThenGpt2,
}

/// A byte-level BPE tokenizer.
pub struct Tokenizer {
    tokens: Vec<String>,
    /// Decoded bytes of each token (control tokens: their text).
    token_bytes: Vec<Vec<u8>>,
    is_special: Vec<bool>,
    ids: HashMap<String, u32>,
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Special tokens, longest first, for splitting the prompt.
    specials: Vec<(String, u32)>,
    byte_token: [u32; 256],
    pre: PreTokenizer,
    pub bos: Option<u32>,
    pub eos: u32,
    /// End-of-turn tokens that end generation (eos, `<|im_end|>`, `<|eot_id|>`, ...).
    pub stop_tokens: Vec<u32>,
    pub add_bos: bool,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab", &self.tokens.len())
            .field("pre", &self.pre)
            .finish()
    }
}

/// GPT2's byte to printable-char table.
fn byte_to_char() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..256u32 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let c = if printable {
            b
        } else {
            n += 1;
            255 + n
        };
        table[b as usize] = char::from_u32(c).unwrap_or('?');
    }
    table
}

fn is_letter(c: char) -> bool {
    c.is_alphabetic() && !c.is_numeric()
}

/// GPT2's pre-tokenizer regex, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
fn split_gpt2(chars: &[char], out: &mut Vec<String>) {
    let n = chars.len();
    let mut pos = 0;
    while pos < n {
        let c = chars[pos];
        if c == '\'' && pos + 1 < n {
            let c1 = chars[pos + 1];
            let c2 = chars.get(pos + 2).copied();
            let len = match (c1, c2) {
                ('s' | 't' | 'm' | 'd', _) => 2,
                ('r', Some('e')) | ('v', Some('e')) | ('l', Some('l')) => 3,
                _ => 0,
            };
            if len > 0 {
                out.push(chars[pos..pos + len].iter().collect());
                pos += len;
                continue;
            }
        }
        let sp = usize::from(c == ' ' && pos + 1 < n);
        let c2 = chars[pos + sp];
        let mut end = pos + sp;
        if is_letter(c2) {
            while end < n && is_letter(chars[end]) {
                end += 1;
            }
        } else if c2.is_numeric() {
            while end < n && chars[end].is_numeric() {
                end += 1;
            }
        } else if !c2.is_whitespace() {
            while end < n
                && !chars[end].is_whitespace()
                && !is_letter(chars[end])
                && !chars[end].is_numeric()
            {
                end += 1;
            }
        } else {
            end = pos;
            while end < n && chars[end].is_whitespace() {
                end += 1;
            }
            if end - pos > 1 && end < n {
                end -= 1;
            }
        }
        out.push(chars[pos..end].iter().collect());
        pos = end;
    }
}

impl Tokenizer {
    /// Builds the tokenizer from GGUF metadata.
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer> {
        let model = g.get_str("tokenizer.ggml.model").unwrap_or("");
        if model != "gpt2" {
            return Err(LocalError::Tokenizer(format!(
                "tokenizer.ggml.model is {model:?}; only \"gpt2\" (byte-level BPE) is supported"
            )));
        }
        let tokens: Vec<String> = g
            .get("tokenizer.ggml.tokens")
            .and_then(MetaValue::as_array)
            .ok_or_else(|| LocalError::Tokenizer("missing tokenizer.ggml.tokens".into()))?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                LocalError::Tokenizer("tokenizer.ggml.tokens holds a non-string".into())
            })?;
        let types: Vec<i64> = match g
            .get("tokenizer.ggml.token_type")
            .and_then(MetaValue::as_array)
        {
            Some(a) => a
                .iter()
                .map(|v| v.as_u64().map(|x| x as i64).unwrap_or(1))
                .collect(),
            None => vec![1; tokens.len()],
        };
        let merges_meta = g
            .get("tokenizer.ggml.merges")
            .and_then(MetaValue::as_array)
            .ok_or_else(|| LocalError::Tokenizer("missing tokenizer.ggml.merges".into()))?;
        let pre = match g.get_str("tokenizer.ggml.pre").unwrap_or("gpt2") {
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" => PreTokenizer::DigitsThenGpt2,
            _ => PreTokenizer::Gpt2,
        };
        let get_id = |k: &str| g.get(k).and_then(MetaValue::as_u64).map(|v| v as u32);
        let eos = get_id("tokenizer.ggml.eos_token_id")
            .ok_or_else(|| LocalError::Tokenizer("missing tokenizer.ggml.eos_token_id".into()))?;
        let bos = get_id("tokenizer.ggml.bos_token_id");
        let add_bos = g
            .get("tokenizer.ggml.add_bos_token")
            .and_then(MetaValue::as_bool)
            .unwrap_or(false);
        Tokenizer::new(
            tokens,
            types,
            merges_meta.iter().filter_map(|m| m.as_str()),
            pre,
            bos,
            eos,
            add_bos,
        )
    }

    /// Builds a tokenizer from its parts (tokens with GGUF token types, merges "a b").
    pub fn new<'a>(
        tokens: Vec<String>,
        types: Vec<i64>,
        merges: impl Iterator<Item = &'a str>,
        pre: PreTokenizer,
        bos: Option<u32>,
        eos: u32,
        add_bos: bool,
    ) -> Result<Tokenizer> {
        let n = tokens.len();
        if eos as usize >= n || bos.is_some_and(|b| b as usize >= n) {
            return Err(LocalError::Tokenizer(
                "bos/eos token id out of range".into(),
            ));
        }
        let b2c = byte_to_char();
        let mut c2b: HashMap<char, u8> = HashMap::new();
        for (b, c) in b2c.iter().enumerate() {
            c2b.insert(*c, b as u8);
        }
        let ids: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let mut is_special = vec![false; n];
        let mut specials = Vec::new();
        let mut token_bytes = Vec::with_capacity(n);
        for (i, t) in tokens.iter().enumerate() {
            let ty = types.get(i).copied().unwrap_or(1);
            if ty == TYPE_CONTROL || ty == TYPE_USER_DEFINED {
                is_special[i] = ty == TYPE_CONTROL;
                if !t.is_empty() {
                    specials.push((t.clone(), i as u32));
                }
                token_bytes.push(if ty == TYPE_CONTROL {
                    Vec::new()
                } else {
                    t.as_bytes().to_vec()
                });
            } else {
                let mut bytes = Vec::with_capacity(t.len());
                for ch in t.chars() {
                    match c2b.get(&ch) {
                        Some(&b) => bytes.push(b),
                        None => bytes.extend_from_slice(ch.to_string().as_bytes()),
                    }
                }
                token_bytes.push(bytes);
            }
        }
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        // Bytes the vocabulary lacks (some models drop rare control bytes) fall back to
        // the unknown token, as llama.cpp does.
        let unk = ids.get("<unk>").copied().unwrap_or(0);
        let mut byte_token = [unk; 256];
        for (b, c) in b2c.iter().enumerate() {
            if let Some(&id) = ids.get(&c.to_string()) {
                byte_token[b] = id;
            }
        }
        let mut merge_map = HashMap::new();
        for (rank, m) in merges.enumerate() {
            let Some((a, b)) = m.split_once(' ') else {
                return Err(LocalError::Tokenizer(format!("malformed merge {m:?}")));
            };
            let (Some(&ia), Some(&ib), Some(&iab)) =
                (ids.get(a), ids.get(b), ids.get(&format!("{a}{b}")))
            else {
                continue;
            };
            merge_map.entry((ia, ib)).or_insert((rank as u32, iab));
        }
        let stop_tokens: Vec<u32> = std::iter::once(eos)
            .chain(
                [
                    "<|im_end|>",
                    "<|eot_id|>",
                    "<|end|>",
                    "<end_of_turn>",
                    "<|endoftext|>",
                ]
                .iter()
                .filter_map(|t| ids.get(*t).copied()),
            )
            .fold(Vec::new(), |mut v, t| {
                if !v.contains(&t) {
                    v.push(t);
                }
                v
            });
        Ok(Tokenizer {
            tokens,
            token_bytes,
            is_special,
            ids,
            merges: merge_map,
            specials,
            byte_token,
            pre,
            bos,
            eos,
            stop_tokens,
            add_bos,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    /// The bytes a token stands for (empty for control tokens).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.token_bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn is_control(&self, id: u32) -> bool {
        self.is_special.get(id as usize).copied().unwrap_or(false)
    }

    /// Tokenizes text; with `parse_special`, special-token strings become their tokens.
    pub fn encode(&self, text: &str, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        if self.add_bos
            && let Some(b) = self.bos
        {
            out.push(b);
        }
        let mut rest = text;
        while !rest.is_empty() {
            // Earliest special token occurrence (longest wins at a position).
            let mut best: Option<(usize, &str, u32)> = None;
            for (s, id) in &self.specials {
                if !parse_special && self.is_special[*id as usize] {
                    continue;
                }
                if let Some(p) = rest.find(s.as_str())
                    && best.is_none_or(|(bp, bs, _)| p < bp || (p == bp && s.len() > bs.len()))
                {
                    best = Some((p, s, *id));
                }
            }
            match best {
                Some((p, s, id)) => {
                    self.encode_plain(&rest[..p], &mut out);
                    out.push(id);
                    rest = &rest[p + s.len()..];
                }
                None => {
                    self.encode_plain(rest, &mut out);
                    rest = "";
                }
            }
        }
        out
    }

    fn encode_plain(&self, text: &str, out: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        let chars: Vec<char> = text.chars().collect();
        let mut words = Vec::new();
        match self.pre {
            PreTokenizer::Gpt2 => split_gpt2(&chars, &mut words),
            PreTokenizer::DigitsThenGpt2 => {
                let mut start = 0;
                for (i, c) in chars.iter().enumerate() {
                    if c.is_numeric() {
                        split_gpt2(&chars[start..i], &mut words);
                        words.push(c.to_string());
                        start = i + 1;
                    }
                }
                split_gpt2(&chars[start..], &mut words);
            }
        }
        for w in &words {
            self.bpe(w.as_bytes(), out);
        }
    }

    fn bpe(&self, bytes: &[u8], out: &mut Vec<u32>) {
        let mut sym: Vec<u32> = bytes.iter().map(|&b| self.byte_token[b as usize]).collect();
        loop {
            let mut best: Option<(u32, usize, u32)> = None;
            for i in 0..sym.len().saturating_sub(1) {
                if let Some(&(rank, merged)) = self.merges.get(&(sym[i], sym[i + 1]))
                    && best.is_none_or(|(r, _, _)| rank < r)
                {
                    best = Some((rank, i, merged));
                }
            }
            let Some((_, i, merged)) = best else { break };
            sym[i] = merged;
            sym.remove(i + 1);
        }
        out.extend_from_slice(&sym);
    }

    /// Bytes of a token sequence (control tokens render as nothing).
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        ids.iter()
            .flat_map(|&i| self.token_bytes(i).iter().copied())
            .collect()
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        let mut v = Vec::new();
        split_gpt2(&chars, &mut v);
        v
    }

    #[test]
    fn gpt2_pre_tokenizer() {
        assert_eq!(
            split("Hello world's  end!!\n\n x"),
            ["Hello", " world", "'s", " ", " end", "!!", "\n\n", " x"]
        );
        assert_eq!(split("a   "), ["a", "   "]);
        assert_eq!(split(" 12ab"), [" 12", "ab"]);
    }
}
