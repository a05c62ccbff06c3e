//! Constrained decoding: the output constraints of [`OutputConstraint`] compiled into a
//! character-level pushdown matcher. The engine keeps only tokens whose text the matcher
//! accepts, allows end-of-turn only in an accepting state, and when the token budget
//! runs out appends the shortest completion, so a constrained answer always parses.
//!
//! Grammars: a choice among strings; the ChatAdapter's `[[ ## field ## ]]` sections with
//! typed values (free text, int, float, bool, enum, JSON list / dict / object); JSON for a
//! JSON-schema subset (objects with their properties in order, arrays, strings, numbers,
//! integers, booleans, null, enums, const, `$ref` to `$defs`, nullable unions).

use std::sync::Arc;

use serde_json::Value;
use sigil::lm::OutputConstraint;
use sigil::signature::FieldType;

use crate::error::{LocalError, Result};

const MAX_DEPTH: usize = 24;
const MAX_NUM_LEN: usize = 18;

#[derive(Debug)]
enum Node {
    Lit(String),
    Choice(Vec<String>),
    Int,
    Float,
    /// Free text up to a blank line (the ChatAdapter's `str` value).
    ChatStr,
    JsonStr,
    Seq(Vec<Arc<Node>>),
    Arr(Arc<Node>),
    Dict(Arc<Node>),
}

/// A compiled constraint.
#[derive(Clone, Debug)]
pub struct Grammar {
    root: Arc<Node>,
}

/// Where the output is inside the grammar.
#[derive(Clone, Debug)]
pub struct MatchState {
    stack: Vec<Frame>,
}

#[derive(Clone, Debug)]
enum ArrState {
    Open,
    AfterOpen,
    AfterComma,
    AfterItem,
}

#[derive(Clone, Debug)]
enum Frame {
    Pending(Arc<Node>),
    Lit(Arc<Node>, usize),
    Choice(Arc<Node>, String),
    Num { float: bool, s: String },
    JsonStr { state: u8, len: usize },
    ChatStr { len: usize, pending_nl: bool },
    Arr(Arc<Node>, ArrState),
    Dict(Arc<Node>, ArrState),
}

enum Step {
    Consumed,
    Done,
    /// The frame is complete and does not take this char: pop it, retry below.
    Pass,
    Expand(Vec<Frame>),
    /// The char was consumed; replace the frame by these.
    ConsumedPush(Vec<Frame>),
    /// Pop the frame and feed this text to what is below (the frame consumed it).
    PopFeed(String),
    Reject,
}

fn lit(s: impl Into<String>) -> Arc<Node> {
    Arc::new(Node::Lit(s.into()))
}

fn choice(opts: Vec<String>) -> Result<Arc<Node>> {
    if opts.is_empty() {
        return Err(LocalError::Constraint(
            "impossible constraint: an empty set of choices".into(),
        ));
    }
    if opts.iter().any(String::is_empty) {
        return Err(LocalError::Constraint(
            "impossible constraint: an empty choice".into(),
        ));
    }
    Ok(Arc::new(Node::Choice(opts)))
}

fn bool_node(json: bool) -> Arc<Node> {
    let (t, f) = if json {
        ("true", "false")
    } else {
        ("True", "False")
    };
    Arc::new(Node::Choice(vec![t.into(), f.into()]))
}

/// The JSON grammar of a field type (inside lists, dicts and JSON answers).
fn json_of_type(ty: &FieldType, depth: usize) -> Result<Arc<Node>> {
    if depth > MAX_DEPTH {
        return Err(LocalError::Constraint("type nested too deeply".into()));
    }
    Ok(match ty {
        FieldType::Str => Arc::new(Node::JsonStr),
        FieldType::Int => Arc::new(Node::Int),
        FieldType::Float => Arc::new(Node::Float),
        FieldType::Bool => bool_node(true),
        FieldType::List { item } => Arc::new(Node::Arr(json_of_type(item, depth + 1)?)),
        FieldType::Dict { value } => Arc::new(Node::Dict(json_of_type(value, depth + 1)?)),
        FieldType::Optional { inner } => json_of_type(inner, depth + 1)?,
        FieldType::Literal { choices } => choice(
            choices
                .iter()
                .map(|c| Value::String(c.clone()).to_string())
                .collect(),
        )?,
        FieldType::Object { schema, .. } => json_of_schema(schema, schema, depth + 1)?,
    })
}

/// The grammar of a ChatAdapter field value.
fn chat_value(ty: &FieldType) -> Result<Arc<Node>> {
    Ok(match ty {
        FieldType::Str => Arc::new(Node::ChatStr),
        FieldType::Int => Arc::new(Node::Int),
        FieldType::Float => Arc::new(Node::Float),
        FieldType::Bool => bool_node(false),
        FieldType::Literal { choices } => choice(choices.clone())?,
        FieldType::Optional { inner } => chat_value(inner)?,
        other => json_of_type(other, 0)?,
    })
}

fn resolve_ref<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
    let path = r.strip_prefix("#/")?;
    path.split('/').try_fold(root, |v, seg| v.get(seg))
}

fn json_of_schema(s: &Value, root: &Value, depth: usize) -> Result<Arc<Node>> {
    if depth > MAX_DEPTH {
        return Err(LocalError::Constraint(
            "JSON schema nested too deeply (or recursive)".into(),
        ));
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let target = resolve_ref(root, r)
            .ok_or_else(|| LocalError::Constraint(format!("unresolved $ref {r}")))?;
        return json_of_schema(target, root, depth + 1);
    }
    if let Some(c) = s.get("const") {
        return Ok(lit(c.to_string()));
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return choice(e.iter().map(Value::to_string).collect());
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(opts) = s.get(key).and_then(Value::as_array) {
            let pick = opts
                .iter()
                .find(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                .or(opts.first())
                .ok_or_else(|| LocalError::Constraint(format!("empty {key}")))?;
            return json_of_schema(pick, root, depth + 1);
        }
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.get("properties").is_some() => "object",
        _ if s.get("items").is_some() => "array",
        _ => "string",
    };
    Ok(match ty {
        "string" => Arc::new(Node::JsonStr),
        "integer" => Arc::new(Node::Int),
        "number" => Arc::new(Node::Float),
        "boolean" => bool_node(true),
        "null" => lit("null"),
        "array" => {
            let item = match s.get("items") {
                Some(i) => json_of_schema(i, root, depth + 1)?,
                None => Arc::new(Node::JsonStr),
            };
            Arc::new(Node::Arr(item))
        }
        "object" => match s.get("properties").and_then(Value::as_object) {
            Some(props) if !props.is_empty() => {
                let mut seq = vec![lit("{")];
                for (i, (k, v)) in props.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    seq.push(lit(format!("{sep}{}: ", Value::String(k.clone()))));
                    seq.push(json_of_schema(v, root, depth + 1)?);
                }
                seq.push(lit("}"));
                Arc::new(Node::Seq(seq))
            }
            _ => {
                let value = match s.get("additionalProperties") {
                    Some(v @ Value::Object(_)) => json_of_schema(v, root, depth + 1)?,
                    _ => Arc::new(Node::JsonStr),
                };
                Arc::new(Node::Dict(value))
            }
        },
        other => {
            return Err(LocalError::Constraint(format!(
                "JSON schema type {other:?} is not supported"
            )));
        }
    })
}

impl Grammar {
    /// Compiles a constraint; an impossible or unsupported one is an error.
    pub fn compile(c: &OutputConstraint) -> Result<Grammar> {
        let root = match c {
            OutputConstraint::Choice { choices } => choice(choices.clone())?,
            OutputConstraint::ChatFields { fields } => {
                if fields.is_empty() {
                    return Err(LocalError::Constraint(
                        "impossible constraint: no output fields".into(),
                    ));
                }
                let mut seq = Vec::new();
                for (i, (name, ty)) in fields.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "\n\n" };
                    seq.push(lit(format!("{sep}[[ ## {name} ## ]]\n")));
                    seq.push(chat_value(ty)?);
                }
                seq.push(lit("\n\n[[ ## completed ## ]]"));
                Arc::new(Node::Seq(seq))
            }
            OutputConstraint::JsonSchema { schema, .. } => json_of_schema(schema, schema, 0)?,
        };
        Ok(Grammar { root })
    }

    pub fn start(&self) -> MatchState {
        MatchState {
            stack: vec![Frame::Pending(self.root.clone())],
        }
    }
}

fn expand(node: &Arc<Node>) -> Vec<Frame> {
    match &**node {
        Node::Lit(_) => vec![Frame::Lit(node.clone(), 0)],
        Node::Choice(_) => vec![Frame::Choice(node.clone(), String::new())],
        Node::Int => vec![Frame::Num {
            float: false,
            s: String::new(),
        }],
        Node::Float => vec![Frame::Num {
            float: true,
            s: String::new(),
        }],
        Node::ChatStr => vec![Frame::ChatStr {
            len: 0,
            pending_nl: false,
        }],
        Node::JsonStr => vec![Frame::JsonStr { state: 0, len: 0 }],
        Node::Seq(items) => items
            .iter()
            .rev()
            .map(|n| Frame::Pending(n.clone()))
            .collect(),
        Node::Arr(item) => vec![Frame::Arr(item.clone(), ArrState::Open)],
        Node::Dict(v) => vec![Frame::Dict(v.clone(), ArrState::Open)],
    }
}

/// An optional single space (after a comma).
fn optional_space() -> Frame {
    Frame::Choice(
        Arc::new(Node::Choice(vec![String::new(), " ".into()])),
        String::new(),
    )
}

fn num_ok(s: &str, float: bool) -> bool {
    // A prefix of -?[0-9]+(\.[0-9]+)?
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == b.len() {
        return s.len() <= MAX_NUM_LEN && !(i - digits_start > 1 && b[digits_start] == b'0');
    }
    if !float
        || b[i] != b'.'
        || i == digits_start
        || (i - digits_start > 1 && b[digits_start] == b'0')
    {
        return false;
    }
    i += 1;
    b[i..].iter().all(u8::is_ascii_digit) && s.len() <= MAX_NUM_LEN
}

fn num_complete(s: &str) -> bool {
    s.as_bytes().last().is_some_and(u8::is_ascii_digit)
}

impl Frame {
    fn step(&mut self, c: char) -> Step {
        match self {
            Frame::Pending(n) => Step::Expand(expand(n)),
            Frame::Lit(n, i) => {
                let Node::Lit(s) = &**n else {
                    return Step::Reject;
                };
                match s[*i..].chars().next() {
                    Some(x) if x == c => {
                        *i += c.len_utf8();
                        if *i == s.len() {
                            Step::Done
                        } else {
                            Step::Consumed
                        }
                    }
                    _ => Step::Reject,
                }
            }
            Frame::Choice(n, prefix) => {
                let Node::Choice(opts) = &**n else {
                    return Step::Reject;
                };
                let mut next = prefix.clone();
                next.push(c);
                if opts.iter().any(|o| o.starts_with(&next)) {
                    let complete = opts.contains(&next);
                    let longer = opts
                        .iter()
                        .any(|o| o.len() > next.len() && o.starts_with(&next));
                    *prefix = next;
                    if complete && !longer {
                        Step::Done
                    } else {
                        Step::Consumed
                    }
                } else if opts.iter().any(|o| o == prefix) {
                    Step::Pass
                } else {
                    Step::Reject
                }
            }
            Frame::Num { float, s } => {
                let mut next = s.clone();
                next.push(c);
                if num_ok(&next, *float) {
                    *s = next;
                    Step::Consumed
                } else if num_complete(s) {
                    Step::Pass
                } else {
                    Step::Reject
                }
            }
            Frame::JsonStr { state, len } => match (*state, c) {
                (0, '"') => {
                    *state = 1;
                    Step::Consumed
                }
                (0, _) => Step::Reject,
                (1, '"') => Step::Done,
                (1, '\\') => {
                    *state = 2;
                    Step::Consumed
                }
                (1, c) if (c as u32) < 0x20 => Step::Reject,
                (1, _) => {
                    *len += 1;
                    Step::Consumed
                }
                (_, '"' | '\\' | '/' | 'n' | 't' | 'r' | 'b' | 'f') => {
                    *state = 1;
                    *len += 1;
                    Step::Consumed
                }
                _ => Step::Reject,
            },
            Frame::ChatStr { len, pending_nl } => {
                if *pending_nl {
                    if c == '\n' {
                        return if *len > 0 {
                            Step::PopFeed("\n\n".into())
                        } else {
                            Step::Reject
                        };
                    }
                    *pending_nl = false;
                    *len += 1;
                }
                match c {
                    '\n' if *len > 0 => {
                        *pending_nl = true;
                        Step::Consumed
                    }
                    c if *len == 0 && (c.is_whitespace() || c == '[') => Step::Reject,
                    _ => {
                        *len += 1;
                        Step::Consumed
                    }
                }
            }
            Frame::Arr(item, st) => match (&*st, c) {
                (ArrState::Open, '[') => {
                    *st = ArrState::AfterOpen;
                    Step::Consumed
                }
                (ArrState::AfterOpen | ArrState::AfterItem, ']') => Step::Done,
                (ArrState::AfterOpen | ArrState::AfterComma, _) => {
                    *st = ArrState::AfterItem;
                    let item = item.clone();
                    Step::Expand(vec![self.clone(), Frame::Pending(item)])
                }
                (ArrState::AfterItem, ',') => {
                    *st = ArrState::AfterComma;
                    Step::ConsumedPush(vec![self.clone(), optional_space()])
                }
                _ => Step::Reject,
            },
            Frame::Dict(value, st) => match (&*st, c) {
                (ArrState::Open, '{') => {
                    *st = ArrState::AfterOpen;
                    Step::Consumed
                }
                (ArrState::AfterOpen | ArrState::AfterItem, '}') => Step::Done,
                (ArrState::AfterOpen | ArrState::AfterComma, _) => {
                    *st = ArrState::AfterItem;
                    let v = value.clone();
                    Step::Expand(vec![
                        self.clone(),
                        Frame::Pending(v),
                        Frame::Pending(lit(": ")),
                        Frame::Pending(Arc::new(Node::JsonStr)),
                    ])
                }
                (ArrState::AfterItem, ',') => {
                    *st = ArrState::AfterComma;
                    Step::ConsumedPush(vec![self.clone(), optional_space()])
                }
                _ => Step::Reject,
            },
        }
    }

    /// Whether the frame may end here.
    fn can_end(&self) -> bool {
        match self {
            Frame::Choice(n, p) => matches!(&**n, Node::Choice(o) if o.iter().any(|x| x == p)),
            Frame::Num { s, .. } => num_complete(s),
            _ => false,
        }
    }

    /// The shortest text that completes this frame.
    fn completion(&self) -> String {
        match self {
            Frame::Pending(n) => minimal(n),
            Frame::Lit(n, i) => match &**n {
                Node::Lit(s) => s[*i..].to_string(),
                _ => String::new(),
            },
            Frame::Choice(n, p) => match &**n {
                Node::Choice(o) => o
                    .iter()
                    .filter(|x| x.starts_with(p.as_str()))
                    .min_by_key(|x| x.len())
                    .map(|x| x[p.len()..].to_string())
                    .unwrap_or_default(),
                _ => String::new(),
            },
            Frame::Num { s, .. } => {
                if num_complete(s) {
                    String::new()
                } else {
                    "0".into()
                }
            }
            Frame::JsonStr { state: 0, .. } => "\"\"".into(),
            Frame::JsonStr { state: 1, .. } => "\"".into(),
            Frame::JsonStr { .. } => "n\"".into(),
            Frame::ChatStr { len: 0, .. } => "N/A".into(),
            Frame::ChatStr { .. } => String::new(),
            Frame::Arr(_, ArrState::Open) => "[]".into(),
            Frame::Arr(item, ArrState::AfterComma) => minimal(item) + "]",
            Frame::Arr(..) => "]".into(),
            Frame::Dict(_, ArrState::Open) => "{}".into(),
            Frame::Dict(v, ArrState::AfterComma) => format!("\"\": {}}}", minimal(v)),
            Frame::Dict(..) => "}".into(),
        }
    }
}

fn minimal(n: &Arc<Node>) -> String {
    match &**n {
        Node::Lit(s) => s.clone(),
        Node::Choice(o) => o
            .iter()
            .min_by_key(|x| x.len())
            .cloned()
            .unwrap_or_default(),
        Node::Int | Node::Float => "0".into(),
        Node::ChatStr => "N/A".into(),
        Node::JsonStr => "\"\"".into(),
        Node::Seq(items) => items.iter().map(minimal).collect(),
        Node::Arr(_) => "[]".into(),
        Node::Dict(_) => "{}".into(),
    }
}

impl MatchState {
    fn feed_char(&mut self, c: char) -> bool {
        loop {
            let Some(top) = self.stack.last_mut() else {
                return false;
            };
            match top.step(c) {
                Step::Consumed => return true,
                Step::Done => {
                    self.stack.pop();
                    return true;
                }
                Step::Pass => {
                    self.stack.pop();
                }
                Step::Expand(frames) => {
                    self.stack.pop();
                    self.stack.extend(frames);
                }
                Step::ConsumedPush(frames) => {
                    self.stack.pop();
                    self.stack.extend(frames);
                    return true;
                }
                Step::PopFeed(text) => {
                    self.stack.pop();
                    return text.chars().all(|c| self.feed_char(c));
                }
                Step::Reject => return false,
            }
        }
    }

    /// Feeds text; false (leaving the state unspecified) if the constraint rejects it.
    pub fn feed(&mut self, text: &str) -> bool {
        text.chars().all(|c| self.feed_char(c))
    }

    /// Whether the output may end here.
    pub fn accepting(&self) -> bool {
        self.stack.iter().all(|f| f.can_end())
    }

    /// Text the constraint forces next (the rest of a literal), empty if there is a choice.
    pub fn forced(&self) -> &str {
        match self.stack.last() {
            Some(Frame::Lit(n, i)) => match &**n {
                Node::Lit(s) => &s[*i..],
                _ => "",
            },
            Some(Frame::Pending(n)) => match &**n {
                Node::Lit(s) => s,
                Node::Seq(items) => match items.first().map(|f| &**f) {
                    Some(Node::Lit(s)) => s,
                    _ => "",
                },
                _ => "",
            },
            _ => "",
        }
    }

    /// Whether nothing more can be added.
    pub fn finished(&self) -> bool {
        self.stack.is_empty()
    }

    /// The shortest text that makes the output complete.
    pub fn completion(&self) -> String {
        // A free-text value with a pending newline: the newline is dropped by the parser.
        self.stack.iter().rev().map(Frame::completion).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(c: &OutputConstraint, text: &str) -> bool {
        let mut st = Grammar::compile(c).unwrap().start();
        st.feed(text) && st.accepting()
    }

    #[test]
    fn choice() {
        let c = OutputConstraint::Choice {
            choices: vec!["yes".into(), "no".into(), "yes sir".into()],
        };
        assert!(accepts(&c, "yes"));
        assert!(accepts(&c, "yes sir"));
        assert!(!accepts(&c, "ye"));
        assert!(!Grammar::compile(&c).unwrap().start().feed("maybe"));
        let mut st = Grammar::compile(&c).unwrap().start();
        assert!(st.feed("n"));
        assert_eq!(st.completion(), "o");
        assert!(Grammar::compile(&OutputConstraint::Choice { choices: vec![] }).is_err());
    }

    #[test]
    fn chat_fields() {
        let c = OutputConstraint::ChatFields {
            fields: vec![
                ("answer".into(), FieldType::Str),
                ("n".into(), FieldType::Int),
                ("ok".into(), FieldType::Bool),
                ("tags".into(), FieldType::list(FieldType::Str)),
            ],
        };
        let good = "[[ ## answer ## ]]\nParis is\nthe capital\n\n[[ ## n ## ]]\n-42\n\n[[ ## ok ## ]]\nTrue\n\n[[ ## tags ## ]]\n[\"a\", \"b\"]\n\n[[ ## completed ## ]]";
        let mut st = Grammar::compile(&c).unwrap().start();
        assert!(st.feed(good));
        assert!(st.finished());
        assert!(
            !Grammar::compile(&c)
                .unwrap()
                .start()
                .feed("[[ ## answer ## ]]\nx\n\n[[ ## n ## ]]\nabc")
        );
        let mut st = Grammar::compile(&c).unwrap().start();
        assert!(st.feed("[[ ## answer ## ]]\nhel"));
        assert_eq!(
            st.completion(),
            "\n\n[[ ## n ## ]]\n0\n\n[[ ## ok ## ]]\nTrue\n\n[[ ## tags ## ]]\n[]\n\n[[ ## completed ## ]]"
        );
    }

    #[test]
    fn json_schema() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer"},
                "score": {"type": "number"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "kind": {"enum": ["cat", "dog"]},
                "ok": {"type": "boolean"}
            },
            "required": ["name", "age"]
        });
        let c = OutputConstraint::JsonSchema {
            name: "t".into(),
            schema,
        };
        let good = r#"{"name": "Felix \"the\" cat", "age": 3, "score": 1.5, "tags": ["a","b"], "kind": "cat", "ok": false}"#;
        let mut st = Grammar::compile(&c).unwrap().start();
        assert!(st.feed(good), "rejected");
        assert!(st.finished());
        let mut st = Grammar::compile(&c).unwrap().start();
        assert!(st.feed(r#"{"name": "Fel"#));
        let done = format!("{{\"name\": \"Fel{}", st.completion());
        let v: Value = serde_json::from_str(&done).unwrap();
        assert_eq!(v["age"], 0);
        assert!(!Grammar::compile(&c).unwrap().start().feed(r#"{"nam": 1"#));
        let arr = OutputConstraint::JsonSchema {
            name: "a".into(),
            schema: serde_json::json!({"type": "array", "items": {"type": "integer"}}),
        };
        assert!(!Grammar::compile(&arr).unwrap().start().feed("[1, ]"));
        let mut st = Grammar::compile(&arr).unwrap().start();
        assert!(st.feed("[1, "));
        assert_eq!(st.completion(), "0]");
    }
}
