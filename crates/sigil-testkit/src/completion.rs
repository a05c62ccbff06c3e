//! What an LM sends back, written once: the chat adapter's completion text and the
//! OpenAI chat-completions response body.
//!
//! Compiled twice, like [`crate::lm`]: also as part of `sigil`'s private test module
//! (its client and cache unit tests need the same bodies), so it uses only `std` and
//! `serde_json`.

use serde_json::{Value, json};

/// A completion in the chat adapter's format: each field as `[[ ## name ## ]]` and its
/// value, then the `[[ ## completed ## ]]` marker.
///
/// ```
/// assert_eq!(
///     sigil_testkit::chat(&[("answer", "4")]),
///     "[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]"
/// );
/// ```
pub fn chat(fields: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (k, v) in fields {
        s.push_str(&format!("[[ ## {k} ## ]]\n{v}\n\n"));
    }
    s.push_str("[[ ## completed ## ]]");
    s
}

/// An OpenAI `chat.completion` response body (one choice), as a server would send it.
/// Usage is left out unless set, as some servers do.
///
/// ```
/// let body = sigil_testkit::OpenAiBody::new("Paris").usage(10, 2).to_string();
/// let v: serde_json::Value = serde_json::from_str(&body).unwrap();
/// assert_eq!(v["choices"][0]["message"]["content"], "Paris");
/// assert_eq!(v["usage"]["total_tokens"], 12);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAiBody {
    content: String,
    model: String,
    finish_reason: String,
    usage: Option<(u64, u64)>,
    cached_tokens: Option<u64>,
}

impl OpenAiBody {
    /// `content` from the assistant, model `gpt-4o-mini`, finished with `stop`.
    pub fn new(content: impl Into<String>) -> Self {
        OpenAiBody {
            content: content.into(),
            model: "gpt-4o-mini".into(),
            finish_reason: "stop".into(),
            usage: None,
            cached_tokens: None,
        }
    }

    /// The model the server says answered.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    pub fn finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = reason.into();
        self
    }

    /// `prompt_tokens` and `completion_tokens` (`total_tokens` is their sum).
    pub fn usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        self.usage = Some((prompt_tokens, completion_tokens));
        self
    }

    /// `prompt_tokens_details.cached_tokens` (needs [`OpenAiBody::usage`]).
    pub fn cached_tokens(mut self, cached: u64) -> Self {
        self.cached_tokens = Some(cached);
        self
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        let mut body = json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": self.content},
                "finish_reason": self.finish_reason,
            }],
        });
        if let Some((prompt, completion)) = self.usage {
            let mut usage = json!({
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            });
            if let Some(c) = self.cached_tokens {
                usage["prompt_tokens_details"] = json!({"cached_tokens": c});
            }
            body["usage"] = usage;
        }
        body
    }
}

impl std::fmt::Display for OpenAiBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.json())
    }
}
