//! The bytes a collector's queue keeps for the `Predict` records it holds: copies of
//! each call's inputs and responses.
//!
//! Why copy: a record that kept the call's own `Example` and `LmResponse` until the
//! collector's thread was done with them (a batch later, or many batches when the LM
//! answers at once) freed them long after the call, and the calling thread's allocator
//! then served the next calls off its slow path: that cost a traced call more than
//! everything else the trace does. Copied into one growing buffer, the call's data is
//! freed at once where it was allocated, and the copies cost no allocation (the queue
//! and the collector swap two buffers that keep their capacity).

use serde_json::Value;

use crate::adapter::Fields;
use crate::data::Example;
use crate::lm::{LmResponse, Message, Role, Usage};

/// Where a copy sits in an [`Arena`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct At {
    start: u32,
    end: u32,
}

impl At {
    /// The same bytes, `base` further on (where a buffer copied in at `base` put them).
    pub(crate) fn shifted(self, base: u32) -> At {
        match (self.start.checked_add(base), self.end.checked_add(base)) {
            (Some(start), Some(end)) => At { start, end },
            _ => At::default(),
        }
    }
}

/// A growing byte buffer of copied strings and inputs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Arena(Vec<u8>);

impl Arena {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
    pub(crate) fn capacity(&self) -> usize {
        self.0.capacity()
    }
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
    pub(crate) fn shrink_to(&mut self, capacity: usize) {
        self.0.shrink_to(capacity);
    }

    /// Copies another arena's bytes in; returns where they start (for [`At::shifted`]).
    pub(crate) fn append(&mut self, other: &Arena) -> u32 {
        let base = u32::try_from(self.0.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&other.0);
        base
    }

    fn at(&self, start: usize) -> At {
        // Past 4 GiB of queued copies the offsets would wrap; such copies read as empty.
        match (u32::try_from(start), u32::try_from(self.0.len())) {
            (Ok(start), Ok(end)) => At { start, end },
            _ => At::default(),
        }
    }

    fn bytes(&self, at: At) -> &[u8] {
        self.0
            .get(at.start as usize..at.end as usize)
            .unwrap_or_default()
    }

    /// Copies an example in: its values in order (strings as they are, other values as
    /// JSON) and its input keys.
    pub(crate) fn put_example(&mut self, example: &Example) -> At {
        let start = self.0.len();
        self.put_len(example.len());
        for (key, value) in example.values() {
            self.put_field(key);
            self.put_value(value);
        }
        self.put_len(example.input_keys().len());
        for key in example.input_keys() {
            self.put_field(key);
        }
        self.at(start)
    }

    /// An example copied in by [`Arena::put_example`] (empty if the copy is unreadable,
    /// which it never is).
    pub(crate) fn example(&self, at: At) -> Example {
        let mut r = Reader(self.bytes(at));
        r.example().unwrap_or_default()
    }

    /// Copies a response in, all of it (so that a record keeps only where it is).
    pub(crate) fn put_response(&mut self, response: &LmResponse) -> At {
        // Destructured without `..`, so a new field cannot be left out silently.
        let LmResponse {
            text,
            finish_reason,
            usage,
            model,
            cache_hit,
            retries,
            latency_ms,
            tool_calls,
        } = response;
        let start = self.0.len();
        self.put_field(text);
        self.put_field(model);
        match finish_reason {
            Some(f) => {
                self.0.push(1);
                self.put_field(f);
            }
            None => self.0.push(0),
        }
        for n in [usage.input_tokens, usage.output_tokens, usage.cached_tokens] {
            self.0.extend_from_slice(&n.to_le_bytes());
        }
        self.0.extend_from_slice(&usage.cost_usd.to_le_bytes());
        self.0.push(u8::from(*cache_hit));
        self.0.extend_from_slice(&retries.to_le_bytes());
        self.0.extend_from_slice(&latency_ms.to_le_bytes());
        // Tool calls are rare: none costs one length; some are kept as JSON.
        self.put_len(tool_calls.len());
        if !tool_calls.is_empty() {
            self.put_field(&serde_json::to_string(tool_calls).unwrap_or_default());
        }
        self.at(start)
    }

    /// A response copied in by [`Arena::put_response`] (empty if the copy is
    /// unreadable, which it never is).
    pub(crate) fn response(&self, at: At) -> LmResponse {
        let mut r = Reader(self.bytes(at));
        r.response().unwrap_or_default()
    }

    /// Copies parsed fields in: keys and values in order (strings as they are, other
    /// values as JSON).
    pub(crate) fn put_fields(&mut self, fields: &Fields) -> At {
        let start = self.0.len();
        self.put_len(fields.len());
        for (key, value) in fields {
            self.put_field(key);
            self.put_value(value);
        }
        self.at(start)
    }

    /// Fields copied in by [`Arena::put_fields`].
    pub(crate) fn fields(&self, at: At) -> Fields {
        let mut r = Reader(self.bytes(at));
        r.fields().unwrap_or_default()
    }

    /// Copies messages in (the turns a call added after its cached prefix).
    pub(crate) fn put_messages(&mut self, messages: &[Message]) -> At {
        let start = self.0.len();
        self.put_len(messages.len());
        for m in messages {
            self.0.push(match m.role {
                Role::System => 0,
                Role::User => 1,
                Role::Assistant => 2,
            });
            self.put_field(&m.content);
        }
        self.at(start)
    }

    /// Messages copied in by [`Arena::put_messages`].
    pub(crate) fn messages(&self, at: At) -> Vec<Message> {
        let mut r = Reader(self.bytes(at));
        r.messages().unwrap_or_default()
    }

    fn put_value(&mut self, value: &Value) {
        match value {
            Value::String(s) => {
                self.0.push(0);
                self.put_field(s);
            }
            other => {
                self.0.push(1);
                self.put_field(&other.to_string());
            }
        }
    }

    fn put_len(&mut self, n: usize) {
        self.0
            .extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
    }

    fn put_field(&mut self, s: &str) {
        self.put_len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn len(&mut self) -> Option<usize> {
        let (n, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_le_bytes(*n) as usize)
    }
    fn field(&mut self) -> Option<&'a str> {
        let n = self.len()?;
        let (s, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        std::str::from_utf8(s).ok()
    }
    fn tag(&mut self) -> Option<u8> {
        let (t, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*t)
    }
    fn u64(&mut self) -> Option<u64> {
        let (n, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_le_bytes(*n))
    }
    fn response(&mut self) -> Option<LmResponse> {
        let text = self.field()?.to_string();
        let model = self.field()?.to_string();
        let finish_reason = match self.tag()? {
            0 => None,
            _ => Some(self.field()?.to_string()),
        };
        let usage = Usage {
            input_tokens: self.u64()?,
            output_tokens: self.u64()?,
            cached_tokens: self.u64()?,
            cost_usd: f64::from_bits(self.u64()?),
        };
        let cache_hit = self.tag()? != 0;
        let retries = self.len()? as u32;
        let latency_ms = f64::from_bits(self.u64()?);
        let tool_calls = match self.len()? {
            0 => Vec::new(),
            _ => serde_json::from_str(self.field()?).ok()?,
        };
        Some(LmResponse {
            text,
            finish_reason,
            usage,
            model,
            cache_hit,
            retries,
            latency_ms,
            tool_calls,
        })
    }
    fn value(&mut self) -> Option<Value> {
        match self.tag()? {
            0 => Some(Value::String(self.field()?.to_string())),
            _ => serde_json::from_str(self.field()?).ok(),
        }
    }
    fn fields(&mut self) -> Option<Fields> {
        let n = self.len()?;
        let mut fields = Fields::with_capacity(n.min(1024));
        for _ in 0..n {
            let key = self.field()?.to_string();
            fields.insert(key, self.value()?);
        }
        Some(fields)
    }
    fn messages(&mut self) -> Option<Vec<Message>> {
        let n = self.len()?;
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let role = match self.tag()? {
                0 => Role::System,
                1 => Role::User,
                _ => Role::Assistant,
            };
            out.push(Message {
                role,
                content: self.field()?.to_string(),
            });
        }
        Some(out)
    }
    fn example(&mut self) -> Option<Example> {
        let n = self.len()?;
        let mut pairs = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let key = self.field()?;
            let value = self.value()?;
            pairs.push((key, value));
        }
        let m = self.len()?;
        let mut inputs = Vec::with_capacity(m.min(1024));
        for _ in 0..m {
            inputs.push(self.field()?);
        }
        Some(Example::from_pairs(pairs, &inputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_and_responses_come_back_as_they_went_in() {
        let example = Example::new()
            .input("question", "What is 2+2? ünïcode")
            .input("context", serde_json::json!(["a", 1, {"b": null}]))
            .set("answer", 4)
            .with_inputs(&["question", "context", "missing"]);
        let response = LmResponse {
            text: "[[ ## answer ## ]]\n4".into(),
            finish_reason: Some("stop".into()),
            model: "fake/model".into(),
            cache_hit: true,
            retries: 2,
            latency_ms: 12.5,
            ..Default::default()
        };
        let mut arena = Arena::default();
        let first = arena.put_example(&example);
        let copied = arena.put_response(&response);
        let empty = arena.put_example(&Example::new());
        let usage = Usage {
            input_tokens: 7,
            output_tokens: u64::MAX,
            cached_tokens: 3,
            cost_usd: 0.125,
        };
        let other = LmResponse {
            usage,
            tool_calls: vec![crate::lm::LmToolCall {
                id: Some("call_1".into()),
                name: "search".into(),
                arguments: "{\"q\": \"ü\"}".into(),
            }],
            ..Default::default()
        };
        let other_at = arena.put_response(&other);
        assert_eq!(arena.example(first), example);
        assert_eq!(arena.response(copied), response);
        assert_eq!(arena.response(other_at), other);
        assert_eq!(arena.example(empty), Example::new());
    }

    #[test]
    fn fields_and_messages_come_back_as_they_went_in() {
        let mut fields = Fields::new();
        fields.insert("answer".into(), Value::from("4 ünïcode"));
        fields.insert("n".into(), serde_json::json!([1, {"a": null}]));
        let messages = vec![Message::user("hi"), Message::assistant("there")];
        let mut arena = Arena::default();
        let f = arena.put_fields(&fields);
        let m = arena.put_messages(&messages);
        let none = arena.put_fields(&Fields::new());
        assert_eq!(arena.fields(f), fields);
        assert_eq!(arena.messages(m), messages);
        assert!(arena.fields(none).is_empty());
    }
}
