//! What spans may record, and secret redaction.
//!
//! Spans never see API keys (LM clients keep them out of requests and responses);
//! redaction is the second line: strings that look like keys or tokens are replaced
//! before a span leaves the collector, and so are any literal values registered with
//! [`Privacy::redact_value`].

use std::borrow::Cow;

/// Switches for what spans record. The default records everything, with secrets redacted.
#[derive(Clone, Debug, PartialEq)]
pub struct Privacy {
    /// Module inputs, retrieval queries, tool arguments.
    pub record_inputs: bool,
    /// Module outputs, parsed fields, LM output text, passages, tool results.
    pub record_outputs: bool,
    /// LM input messages and raw completions (the prompts themselves).
    pub record_messages: bool,
    /// Replace strings that look like API keys, tokens and passwords.
    pub redact_secrets: bool,
    redact_values: Vec<String>,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            record_inputs: true,
            record_outputs: true,
            record_messages: true,
            redact_secrets: true,
            redact_values: Vec::new(),
        }
    }
}

pub(crate) const REDACTED: &str = "[REDACTED]";

impl Privacy {
    /// Records only structure, timings, tokens and cost: no inputs, outputs or messages.
    pub fn metadata_only() -> Self {
        Privacy {
            record_inputs: false,
            record_outputs: false,
            record_messages: false,
            ..Privacy::default()
        }
    }

    /// The default, changed by `SIGIL_TRACE_INPUTS`, `SIGIL_TRACE_OUTPUTS`,
    /// `SIGIL_TRACE_MESSAGES` (`0`/`false`/`off`/`no` turns one off), as parsed by
    /// [`TraceEnv`](super::TraceEnv).
    pub fn from_env() -> Self {
        super::env::TraceEnv::from_env().privacy
    }

    /// Sets [`Privacy::record_inputs`].
    pub fn inputs(mut self, on: bool) -> Self {
        self.record_inputs = on;
        self
    }
    /// Sets [`Privacy::record_outputs`].
    pub fn outputs(mut self, on: bool) -> Self {
        self.record_outputs = on;
        self
    }
    /// Sets [`Privacy::record_messages`].
    pub fn messages(mut self, on: bool) -> Self {
        self.record_messages = on;
        self
    }
    /// Always replaces this exact string (e.g. a key read from a config file).
    pub fn redact_value(mut self, secret: impl Into<String>) -> Self {
        let s = secret.into();
        if !s.is_empty() {
            self.redact_values.push(s);
        }
        self
    }

    /// `text` with secrets replaced, per these settings: the registered values, and
    /// (unless [`Privacy::redact_secrets`] is off) strings that look like API keys,
    /// bearer tokens and `password=...` values.
    ///
    /// ```
    /// let s = sigil::trace::Privacy::default()
    ///     .clean("key sk-abcdefghijklmnop1234 and Bearer abcdefghijklmnopqrst".into());
    /// assert_eq!(s, "key [REDACTED] and Bearer [REDACTED]");
    /// ```
    pub fn clean(&self, text: String) -> String {
        let mut out = text;
        for v in &self.redact_values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        if let (true, Cow::Owned(s)) = (self.redact_secrets, redact_secrets(&out)) {
            out = s;
        }
        out
    }
}

/// Prefixes of well-known key and token formats; the rest must be a run of at least
/// 16 key characters.
const KEY_PREFIXES: &[&str] = &[
    "sk-",
    "pk-lf-",
    "ghp_",
    "gho_",
    "github_pat_",
    "xoxb-",
    "xoxp-",
    "hf_",
    "AKIA",
    "AIza",
    "glpat-",
];
/// Names whose values are secrets in `name: value` / `name=value` text.
const SECRET_NAMES: &[&str] = &[
    "api_key",
    "api-key",
    "apikey",
    "password",
    "secret",
    "access_token",
    "auth_token",
    "authorization",
];

/// The first two letters (either case) of [`KEY_PREFIXES`], [`SECRET_NAMES`] and
/// `bearer`: a cheap test that skips almost every ordinary word.
fn may_start_secret(c0: u8, c1: u8) -> bool {
    matches!(
        [c0.to_ascii_lowercase(), c1.to_ascii_lowercase()],
        [b's', b'k']
            | [b'p', b'k']
            | [b'g', b'h']
            | [b'g', b'i']
            | [b'g', b'l']
            | [b'x', b'o']
            | [b'h', b'f']
            | [b'a', b'k']
            | [b'a', b'i']
            | [b'a', b'p']
            | [b'p', b'a']
            | [b's', b'e']
            | [b'a', b'c']
            | [b'a', b'u']
            | [b'b', b'e']
    )
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'
}

/// Replaces strings that look like API keys, bearer tokens and `password=...` values
/// with `[REDACTED]`. Borrowed when there is nothing to replace.
pub(crate) fn redact_secrets(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `text` already accounted for in `out`
    let mut i = 0;
    while i < b.len() {
        // Only words starting with a letter some prefix or name starts with can match.
        let at_word_start = (i == 0 || !is_key_char(b[i - 1]))
            && may_start_secret(b[i], b.get(i + 1).copied().unwrap_or(0));
        let mut value_start = None;
        if at_word_start {
            if let Some(p) = KEY_PREFIXES
                .iter()
                .find(|p| b[i..].starts_with(p.as_bytes()))
            {
                let run = b[i + p.len()..]
                    .iter()
                    .take_while(|c| is_key_char(**c))
                    .count();
                if run >= 16 {
                    value_start = Some(i);
                }
            } else if b[i..].len() > 7 && b[i..i + 7].eq_ignore_ascii_case(b"bearer ") {
                value_start = Some(i + 7);
            } else if let Some(name) = SECRET_NAMES.iter().find(|n| {
                b[i..].len() >= n.len() && b[i..i + n.len()].eq_ignore_ascii_case(n.as_bytes())
            }) {
                // name, optional quote, `:` or `=`, optional spaces and quote, value
                let mut j = i + name.len();
                while j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
                    j += 1;
                }
                if j < b.len() && (b[j] == b':' || b[j] == b'=') {
                    j += 1;
                    while j < b.len() && (b[j] == b' ' || b[j] == b'"' || b[j] == b'\'') {
                        j += 1;
                    }
                    value_start = Some(j);
                }
            }
        }
        if let Some(vs) = value_start {
            let len = b[vs..]
                .iter()
                .take_while(|c| is_key_char(**c) || **c == b'+' || **c == b'/' || **c == b'=')
                .count();
            if len >= 8 {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
                o.push_str(&text[copied..vs]);
                o.push_str(REDACTED);
                copied = vs + len;
                i = copied;
                continue;
            }
        }
        // Advance one UTF-8 character.
        i += 1;
        while i < b.len() && (b[i] & 0xC0) == 0x80 {
            i += 1;
        }
    }
    match out {
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_keys_tokens_and_named_secrets() {
        assert_eq!(
            redact_secrets("use sk-ant-api03-abcdefghijklmnopqrstu now"),
            "use [REDACTED] now"
        );
        assert_eq!(
            redact_secrets("Authorization: Bearer abc.def.ghijklmnop"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            redact_secrets(r#"{"api_key": "0123456789abcdef"}"#),
            r#"{"api_key": "[REDACTED]"}"#
        );
        assert_eq!(
            redact_secrets("password=hunter2hunter2"),
            "password=[REDACTED]"
        );
        assert_eq!(redact_secrets("AKIAABCDEFGHIJKLMNOP"), "[REDACTED]");
    }

    #[test]
    fn the_prefilter_admits_every_prefix_and_name() {
        for p in KEY_PREFIXES.iter().chain(SECRET_NAMES).chain(&["bearer"]) {
            assert!(may_start_secret(p.as_bytes()[0], p.as_bytes()[1]), "{p}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for s in [
            "sk-short",
            "the task-ordered skill",
            "Paris is the capital of France. Über straße",
            "password is long",
        ] {
            assert!(matches!(redact_secrets(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn registered_values_are_always_redacted() {
        let p = Privacy::default().redact_value("my-local-key");
        assert_eq!(
            p.clean("token my-local-key here".into()),
            "token [REDACTED] here"
        );
    }
}
