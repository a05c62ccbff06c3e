//! A forgiving JSON reader for LM output.
//!
//! Accepts strict JSON plus what models commonly write instead: Python literals
//! (`'single quotes'`, `True`/`False`/`None`, tuples), trailing commas, unquoted object
//! keys, raw newlines inside strings and JSON wrapped in code fences or prose. Nesting is
//! capped, so hostile input cannot exhaust the stack.

use serde_json::{Map, Number, Value};

const MAX_DEPTH: usize = 128;
/// How many `{`/`[` start positions [`find_value`] tries before giving up.
const MAX_ATTEMPTS: usize = 64;

/// Parses `text` as a single value (surrounding whitespace and a code fence allowed).
pub(crate) fn parse(text: &str) -> Option<Value> {
    let text = strip_code_fence(text.trim());
    let mut p = Parser {
        src: text,
        pos: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    (p.pos == text.len()).then_some(v)
}

/// Finds the first `{...}` (when `open` is `{`) or `[...]` value embedded in `text`
/// that parses, preferring one for which `accept` is true.
pub(crate) fn find_value(text: &str, open: u8, accept: impl Fn(&Value) -> bool) -> Option<Value> {
    let mut first = None;
    let mut attempts = 0;
    for (i, b) in text.bytes().enumerate() {
        if b != open {
            continue;
        }
        attempts += 1;
        if attempts > MAX_ATTEMPTS {
            break;
        }
        let mut p = Parser {
            src: text,
            pos: i,
            depth: 0,
        };
        if let Some(v) = p.value() {
            if accept(&v) {
                return Some(v);
            }
            if first.is_none() {
                first = Some(v);
            }
        }
    }
    first
}

/// Removes a surrounding Markdown code fence (```json ... ```), if any.
pub(crate) fn strip_code_fence(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let Some(body) = rest.trim_end().strip_suffix("```") else {
        return text;
    };
    // Drop the info string (`json`, `python`) on the opening line.
    match body.split_once('\n') {
        Some((info, inner)) if !info.trim().contains(char::is_whitespace) => inner.trim(),
        _ => body.trim(),
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(c) = self.src.get(self.pos..).and_then(|s| s.chars().next()) {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.ws();
        match self.peek()? {
            b'{' => self.nested(|p| p.object()),
            b'[' => self.nested(|p| p.array(b']')),
            b'(' => self.nested(|p| p.array(b')')),
            b'"' | b'\'' => self.string().map(Value::String),
            b'-' | b'+' | b'.' | b'0'..=b'9' => self.number(),
            _ => {
                let word = self.ident();
                match word {
                    "true" | "True" => Some(Value::Bool(true)),
                    "false" | "False" => Some(Value::Bool(false)),
                    "null" | "None" => Some(Value::Null),
                    _ => None,
                }
            }
        }
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Option<Value>) -> Option<Value> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn ident(&mut self) -> &str {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80 {
                self.pos += 1;
            } else {
                break;
            }
        }
        // Byte scanning may stop inside a multi-byte char only if it began below 0x80,
        // which cannot happen; still, guard the slice.
        while !self.src.is_char_boundary(self.pos) {
            self.pos += 1;
        }
        self.src.get(start..self.pos).unwrap_or("")
    }

    fn object(&mut self) -> Option<Value> {
        self.pos += 1; // '{'
        let mut map = Map::new();
        loop {
            self.ws();
            match self.peek()? {
                b'}' => {
                    self.pos += 1;
                    return Some(Value::Object(map));
                }
                b',' => {
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            let key = match self.peek()? {
                b'"' | b'\'' => self.string()?,
                b'-' | b'0'..=b'9' => match self.number()? {
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                },
                _ => {
                    let k = self.ident();
                    if k.is_empty() {
                        return None;
                    }
                    k.to_string()
                }
            };
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.pos += 1;
            let v = self.value()?;
            map.insert(key, v);
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {}
                _ => return None,
            }
        }
    }

    fn array(&mut self, close: u8) -> Option<Value> {
        self.pos += 1; // '[' or '('
        let mut items = Vec::new();
        loop {
            self.ws();
            match self.peek()? {
                c if c == close => {
                    self.pos += 1;
                    return Some(Value::Array(items));
                }
                b',' if !items.is_empty() => {
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            items.push(self.value()?);
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                c if c == close => {}
                _ => return None,
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek()? as char;
        let rest = self.src.get(self.pos + 1..)?;
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += 1 + i + 1;
                return Some(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let (_, e) = chars.next()?;
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{08}'),
                'f' => out.push('\u{0c}'),
                '/' | '\\' | '"' | '\'' => out.push(e),
                'u' => {
                    let hex: String = chars.by_ref().take(4).map(|(_, h)| h).collect();
                    let code = u32::from_str_radix(&hex, 16).ok()?;
                    if (0xD800..0xDC00).contains(&code) {
                        // A surrogate pair: expect `\uDC00`-`\uDFFF` next.
                        let mut look = chars.clone();
                        let low = match (look.next(), look.next()) {
                            (Some((_, '\\')), Some((_, 'u'))) => {
                                let h: String = look.by_ref().take(4).map(|(_, h)| h).collect();
                                u32::from_str_radix(&h, 16)
                                    .ok()
                                    .filter(|l| (0xDC00..0xE000).contains(l))
                            }
                            _ => None,
                        };
                        match low {
                            Some(l) => {
                                chars = look;
                                let c = 0x10000 + ((code - 0xD800) << 10) + (l - 0xDC00);
                                out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                            }
                            None => out.push('\u{FFFD}'),
                        }
                    } else {
                        out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                    }
                }
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        }
        None
    }

    fn number(&mut self) -> Option<Value> {
        let bytes = self.src.as_bytes();
        let start = self.pos;
        let mut end = self.pos;
        if matches!(bytes.get(end), Some(b'-' | b'+')) {
            end += 1;
        }
        let digits_start = end;
        while matches!(bytes.get(end), Some(b'0'..=b'9' | b'_')) {
            end += 1;
        }
        let mut is_float = false;
        if bytes.get(end) == Some(&b'.') {
            is_float = true;
            end += 1;
            while matches!(bytes.get(end), Some(b'0'..=b'9')) {
                end += 1;
            }
        }
        if end == digits_start || (is_float && end == digits_start + 1) {
            return None;
        }
        if matches!(bytes.get(end), Some(b'e' | b'E')) {
            let mut e = end + 1;
            if matches!(bytes.get(e), Some(b'-' | b'+')) {
                e += 1;
            }
            if matches!(bytes.get(e), Some(b'0'..=b'9')) {
                is_float = true;
                while matches!(bytes.get(e), Some(b'0'..=b'9')) {
                    e += 1;
                }
                end = e;
            }
        }
        let text: String = self
            .src
            .get(start..end)?
            .chars()
            .filter(|&c| c != '_' && c != '+')
            .collect();
        self.pos = end;
        number_value(&text, is_float)
    }
}

/// A JSON number from its text: an integer when it has no fraction and fits, else a float.
pub(crate) fn number_value(text: &str, is_float: bool) -> Option<Value> {
    if !is_float {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::Number(i.into()));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Some(Value::Number(u.into()));
        }
    }
    let f: f64 = text.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_and_loose_json() {
        assert_eq!(
            parse(r#"{"a": [1, 2.5, "x"]}"#),
            Some(json!({"a": [1, 2.5, "x"]}))
        );
        assert_eq!(
            parse("{'a': True, 'b': None, c: (1, 2,),}"),
            Some(json!({"a": true, "b": null, "c": [1, 2]}))
        );
        assert_eq!(parse("```json\n[1, 2]\n```"), Some(json!([1, 2])));
        assert_eq!(parse("\"line\nbreak\\u00e9\""), Some(json!("line\nbreaké")));
        assert_eq!(parse(r#""\ud83d\ude00""#), Some(json!("😀")));
        assert_eq!(parse("{1: 'x'}"), Some(json!({"1": "x"})));
        assert_eq!(parse("[1, 2] trailing"), None);
        assert_eq!(parse("nope"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("[,]"), None);
        assert_eq!(parse("-"), None);
        assert_eq!(parse("."), None);
    }

    #[test]
    fn embedded_values_and_hostile_input() {
        let text = "Sure! {not json} Here: {\"answer\": 4} and {\"other\": 1}";
        assert_eq!(
            find_value(text, b'{', |v| v.get("answer").is_some()),
            Some(json!({"answer": 4}))
        );
        assert_eq!(
            find_value(text, b'{', |v| v.get("zzz").is_some()),
            Some(json!({"answer": 4}))
        );
        let deep = "[".repeat(100_000);
        assert_eq!(parse(&deep), None);
        let braces = "{".repeat(100_000);
        assert_eq!(find_value(&braces, b'{', |_| true), None);
        assert_eq!(parse("'unterminated"), None);
        assert_eq!(parse(r#""bad \u12""#), None);
        assert_eq!(parse("é"), None);
    }
}
