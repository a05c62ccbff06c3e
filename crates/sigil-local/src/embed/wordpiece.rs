//! BERT's uncased WordPiece tokenizer, as Hugging Face `tokenizers` runs it for
//! all-MiniLM-L6-v2 (`BertNormalizer` → `BertPreTokenizer` → `WordPiece` → `[CLS] … [SEP]`):
//!
//! 1. clean-up: drop NUL, U+FFFD and control/format characters (general category C*,
//!    except tab/newline/CR); every whitespace character becomes a space;
//! 2. CJK ideographs get spaces around them (each becomes its own word);
//! 3. accents are stripped (NFD, then nonspacing marks removed) and text lower-cased;
//! 4. split on whitespace, and every punctuation character (ASCII punctuation or Unicode
//!    P*) is a word of its own;
//! 5. each word becomes its greedy longest-match-first word pieces (continuations
//!    prefixed `##`); a word with no full cover, or longer than 100 characters, is `[UNK]`.

use std::collections::HashMap;
use std::path::Path;

use unicode_general_category::{GeneralCategory as Gc, get_general_category};
use unicode_normalization::UnicodeNormalization;

use super::EmbedError;

/// Words longer than this (in characters) are `[UNK]`, as in the model's tokenizer.json.
const MAX_CHARS_PER_WORD: usize = 100;

/// The vocabulary and special-token ids.
#[derive(Clone, Debug)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    unk: u32,
    cls: u32,
    sep: u32,
}

impl WordPiece {
    /// Loads `vocab.txt` (one token per line; the line number is the id).
    pub fn from_vocab_file(path: &Path) -> Result<Self, EmbedError> {
        let text = std::fs::read_to_string(path).map_err(|source| EmbedError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_vocab(text.lines().map(str::to_string))
            .map_err(|e| EmbedError::Tokenizer(format!("{}: {e}", path.display())))
    }

    /// Builds the tokenizer from tokens in id order.
    pub fn from_vocab(tokens: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut vocab = HashMap::new();
        for (id, tok) in tokens.into_iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| "vocabulary too large".to_string())?;
            // The first occurrence wins, as in BERT's own loader.
            vocab.entry(tok).or_insert(id);
        }
        let special = |t: &str| {
            vocab
                .get(t)
                .copied()
                .ok_or_else(|| format!("vocabulary has no {t} token"))
        };
        Ok(WordPiece {
            unk: special("[UNK]")?,
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            vocab,
        })
    }

    /// Number of tokens in the vocabulary (an upper bound on ids + 1).
    pub fn vocab_size(&self) -> usize {
        self.vocab
            .values()
            .map(|&v| v as usize + 1)
            .max()
            .unwrap_or(0)
    }

    /// `[CLS] pieces… [SEP]` for one text (no truncation; the caller checks the length).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.cls];
        for word in pre_tokenize(&normalize(text)) {
            self.word_pieces(word, &mut ids);
        }
        ids.push(self.sep);
        ids
    }

    /// The token strings of `ids` (for tests and error messages).
    pub fn tokens(&self, ids: &[u32]) -> Vec<String> {
        let mut by_id: HashMap<u32, &str> = HashMap::with_capacity(ids.len());
        for (t, &i) in &self.vocab {
            if ids.contains(&i) {
                by_id.insert(i, t);
            }
        }
        ids.iter()
            .map(|i| by_id.get(i).copied().unwrap_or("[UNK]").to_string())
            .collect()
    }

    fn word_pieces(&self, word: &str, out: &mut Vec<u32>) {
        if word.chars().count() > MAX_CHARS_PER_WORD {
            out.push(self.unk);
            return;
        }
        let start_len = out.len();
        let mut start = 0;
        let mut piece = String::new();
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                piece.clear();
                if start > 0 {
                    piece.push_str("##");
                }
                piece.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&piece) {
                    found = Some(id);
                    break;
                }
                // Step back one character (not one byte).
                end = word[..end]
                    .char_indices()
                    .next_back()
                    .map_or(start, |(i, _)| i);
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    out.truncate(start_len);
                    out.push(self.unk);
                    return;
                }
            }
        }
    }
}

/// Clean-up, CJK spacing, accent stripping and lower-casing (steps 1–3).
pub fn normalize(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if is_cjk(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else if is_whitespace(c) {
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    let mut out = String::with_capacity(cleaned.len());
    for c in cleaned.nfd() {
        if get_general_category(c) == Gc::NonspacingMark {
            continue;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Whitespace split, punctuation isolated (step 4).
pub fn pre_tokenize(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                words.push(&text[s..i]);
            }
        } else if is_punctuation(c) {
            if let Some(s) = start.take() {
                words.push(&text[s..i]);
            }
            words.push(&text[i..i + c.len_utf8()]);
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        words.push(&text[s..]);
    }
    words
}

fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    matches!(
        get_general_category(c),
        Gc::Control | Gc::Format | Gc::PrivateUse | Gc::Surrogate | Gc::Unassigned
    )
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            get_general_category(c),
            Gc::ConnectorPunctuation
                | Gc::DashPunctuation
                | Gc::OpenPunctuation
                | Gc::ClosePunctuation
                | Gc::InitialPunctuation
                | Gc::FinalPunctuation
                | Gc::OtherPunctuation
        )
}

/// The CJK Unified Ideographs blocks BERT treats as one-character words.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> WordPiece {
        let toks = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "hello", ",", "!", "cafe",
            "中", "a", "##b",
        ];
        WordPiece::from_vocab(toks.iter().map(|s| s.to_string())).unwrap()
    }

    #[test]
    fn normalizes_like_bert_uncased() {
        assert_eq!(normalize("Café\tNAÏVE\u{200b}x"), "cafe naivex");
        assert_eq!(normalize("a中b"), "a 中 b");
        assert_eq!(normalize("x\u{0}y\u{fffd}\u{7}z"), "xyz");
    }

    #[test]
    fn splits_on_whitespace_and_punctuation() {
        assert_eq!(
            pre_tokenize("hello, world!!  don't…"),
            vec!["hello", ",", "world", "!", "!", "don", "'", "t", "…"]
        );
        assert_eq!(pre_tokenize("a$b"), vec!["a", "$", "b"]);
    }

    #[test]
    fn greedy_longest_match_first() {
        let wp = tiny();
        let ids = wp.encode("UNAFFABLE, Hello! Café 中 abx");
        assert_eq!(
            wp.tokens(&ids),
            vec![
                "[CLS]", "un", "##aff", "##able", ",", "hello", "!", "cafe", "中", "[UNK]", "[SEP]"
            ]
        );
        assert_eq!(wp.tokens(&wp.encode("")), vec!["[CLS]", "[SEP]"]);
        let long = "a".repeat(MAX_CHARS_PER_WORD + 1);
        assert_eq!(
            wp.tokens(&wp.encode(&long)),
            vec!["[CLS]", "[UNK]", "[SEP]"]
        );
    }

    #[test]
    fn vocabulary_without_special_tokens_is_an_error() {
        let e = WordPiece::from_vocab(["a".to_string()]).unwrap_err();
        assert!(e.contains("[UNK]"), "{e}");
    }
}
