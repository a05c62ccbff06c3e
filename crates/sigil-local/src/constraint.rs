//! Constrained decoding: a character-level pushdown matcher over a constraint's
//! [`Node`] tree, the one representation `sigil::lm::constraint` compiles every
//! [`OutputConstraint`] to (the GBNF printer for hosted llama.cpp servers reads the
//! same tree, so both accept the same strings). The engine keeps only tokens whose text
//! the matcher accepts, allows end-of-turn only in an accepting state, and when the
//! token budget runs out appends the shortest completion, so a constrained answer
//! always parses.
//!
//! The matcher is deterministic: it never backtracks. Where a node could end or go on
//! (a choice that is a prefix of another, free text), it goes on while the text still
//! fits, and free text ends only at a blank line, which is how the compiled tree uses
//! them.

use std::sync::Arc;

use sigil::lm::OutputConstraint;
use sigil::lm::constraint::{
    CHAT_TEXT_NOT_FIRST, CompiledConstraint, MAX_FRACTION_DIGITS, MAX_INT_DIGITS, Node,
};

use crate::error::{LocalError, Result};

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

/// Where a JSON string is: before its opening quote, inside, after a backslash, or
/// with this many hex digits of a `\u` escape still to come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StrState {
    Open,
    Inside,
    Escape,
    Hex(u8),
}

#[derive(Clone, Debug)]
enum Frame {
    Pending(Arc<Node>),
    Lit(Arc<Node>, usize),
    Choice(Arc<Node>, String),
    /// A [`Node::Branch`] and the part of its key read so far.
    Branch(Arc<Node>, String),
    Num {
        float: bool,
        s: String,
    },
    JsonStr(StrState),
    ChatStr {
        len: usize,
        pending_nl: bool,
    },
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
    Arc::new(Node::Literal(s.into()))
}

impl Grammar {
    /// Compiles a constraint; an impossible or unsupported one is an error.
    pub fn compile(c: &OutputConstraint) -> Result<Grammar> {
        let compiled =
            CompiledConstraint::new(c).map_err(|e| LocalError::Constraint(e.to_string()))?;
        Ok(Grammar {
            root: compiled.root().clone(),
        })
    }

    pub fn start(&self) -> MatchState {
        MatchState {
            stack: vec![Frame::Pending(self.root.clone())],
        }
    }
}

/// The frames of a node about to read `c` (an empty list: no way to start with `c`).
fn expand(node: &Arc<Node>, c: char) -> Vec<Frame> {
    match &**node {
        // Any JSON value: its first character says which kind.
        Node::JsonValue => match c {
            '{' => vec![Frame::Dict(node.clone(), ArrState::Open)],
            '[' => vec![Frame::Arr(node.clone(), ArrState::Open)],
            '"' => vec![Frame::JsonStr(StrState::Open)],
            '-' | '0'..='9' => vec![Frame::Num {
                float: true,
                s: String::new(),
            }],
            't' | 'f' | 'n' => vec![Frame::Choice(json_words(), String::new())],
            _ => Vec::new(),
        },
        Node::Literal(_) => vec![Frame::Lit(node.clone(), 0)],
        Node::Choice(_) => vec![Frame::Choice(node.clone(), String::new())],
        Node::Branch(_) => vec![Frame::Branch(node.clone(), String::new())],
        Node::Int => vec![Frame::Num {
            float: false,
            s: String::new(),
        }],
        Node::Float => vec![Frame::Num {
            float: true,
            s: String::new(),
        }],
        Node::ChatText => vec![Frame::ChatStr {
            len: 0,
            pending_nl: false,
        }],
        Node::JsonString => vec![Frame::JsonStr(StrState::Open)],
        Node::Seq(items) => items
            .iter()
            .rev()
            .map(|n| Frame::Pending(n.clone()))
            .collect(),
        Node::List(item) => vec![Frame::Arr(item.clone(), ArrState::Open)],
        Node::Map(v) => vec![Frame::Dict(v.clone(), ArrState::Open)],
    }
}

fn json_words() -> Arc<Node> {
    Arc::new(Node::Choice(vec![
        "true".into(),
        "false".into(),
        "null".into(),
    ]))
}

/// An optional single space (after a comma).
fn optional_space() -> Frame {
    Frame::Choice(
        Arc::new(Node::Choice(vec![String::new(), " ".into()])),
        String::new(),
    )
}

/// Whether `s` is a prefix of a number: `-?(0|[1-9][0-9]*)` with at most
/// [`MAX_INT_DIGITS`] digits, then (`float`) optionally `.` and 1 to
/// [`MAX_FRACTION_DIGITS`] digits.
fn num_ok(s: &str, float: bool) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - digits_start;
    if int_digits > MAX_INT_DIGITS || (int_digits > 1 && b[digits_start] == b'0') {
        return false;
    }
    if i == b.len() {
        return true;
    }
    if !float || b[i] != b'.' || int_digits == 0 {
        return false;
    }
    let fraction = &b[i + 1..];
    fraction.len() <= MAX_FRACTION_DIGITS && fraction.iter().all(u8::is_ascii_digit)
}

fn num_complete(s: &str) -> bool {
    s.as_bytes().last().is_some_and(u8::is_ascii_digit)
}

impl Frame {
    fn step(&mut self, c: char) -> Step {
        match self {
            Frame::Pending(n) => match expand(n, c) {
                frames if frames.is_empty() => Step::Reject,
                frames => Step::Expand(frames),
            },
            Frame::Lit(n, i) => {
                let Node::Literal(s) = &**n else {
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
            Frame::Branch(n, prefix) => {
                let Node::Branch(branches) = &**n else {
                    return Step::Reject;
                };
                prefix.push(c);
                // No key is a prefix of another: a whole key is that branch's.
                if let Some((_, node)) = branches.iter().find(|(k, _)| k == prefix) {
                    return Step::ConsumedPush(vec![Frame::Pending(node.clone())]);
                }
                if branches.iter().any(|(k, _)| k.starts_with(prefix.as_str())) {
                    Step::Consumed
                } else {
                    prefix.pop();
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
            Frame::JsonStr(state) => match (*state, c) {
                (StrState::Open, '"') => {
                    *state = StrState::Inside;
                    Step::Consumed
                }
                (StrState::Open, _) => Step::Reject,
                (StrState::Inside, '"') => Step::Done,
                (StrState::Inside, '\\') => {
                    *state = StrState::Escape;
                    Step::Consumed
                }
                (StrState::Inside, c) if (c as u32) < 0x20 => Step::Reject,
                (StrState::Inside, _) => Step::Consumed,
                (StrState::Escape, '"' | '\\' | '/' | 'n' | 't' | 'r' | 'b' | 'f') => {
                    *state = StrState::Inside;
                    Step::Consumed
                }
                (StrState::Escape, 'u') => {
                    *state = StrState::Hex(4);
                    Step::Consumed
                }
                (StrState::Hex(n), c) if c.is_ascii_hexdigit() => {
                    *state = if n == 1 {
                        StrState::Inside
                    } else {
                        StrState::Hex(n - 1)
                    };
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
                    c if *len == 0 && CHAT_TEXT_NOT_FIRST.contains(&c) => Step::Reject,
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
                        optional_space(),
                        Frame::Pending(lit(":")),
                        Frame::Pending(Arc::new(Node::JsonString)),
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
                Node::Literal(s) => s[*i..].to_string(),
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
            Frame::Branch(n, p) => match &**n {
                Node::Branch(b) => b
                    .iter()
                    .filter(|(k, _)| k.starts_with(p.as_str()))
                    .map(|(k, node)| k[p.len()..].to_string() + &minimal(node))
                    .min_by_key(String::len)
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
            Frame::JsonStr(StrState::Open) => "\"\"".into(),
            Frame::JsonStr(StrState::Inside) => "\"".into(),
            Frame::JsonStr(StrState::Escape) => "n\"".into(),
            Frame::JsonStr(StrState::Hex(n)) => "0".repeat(usize::from(*n)) + "\"",
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
        Node::Literal(s) => s.clone(),
        Node::Choice(o) => o
            .iter()
            .min_by_key(|x| x.len())
            .cloned()
            .unwrap_or_default(),
        Node::Branch(b) => b
            .iter()
            .map(|(k, node)| k.clone() + &minimal(node))
            .min_by_key(String::len)
            .unwrap_or_default(),
        Node::Int | Node::Float | Node::JsonValue => "0".into(),
        Node::ChatText => "N/A".into(),
        Node::JsonString => "\"\"".into(),
        Node::Seq(items) => items.iter().map(minimal).collect(),
        Node::List(_) => "[]".into(),
        Node::Map(_) => "{}".into(),
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
                Node::Literal(s) => &s[*i..],
                _ => "",
            },
            Some(Frame::Pending(n)) => match &**n {
                Node::Literal(s) => s,
                Node::Seq(items) => match items.first().map(|f| &**f) {
                    Some(Node::Literal(s)) => s,
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
        let mut out = String::new();
        // Free text that ended in a newline: that newline is the first of the blank
        // line the text's successor starts with, so the successor drops one.
        let mut newline_written = false;
        for frame in self.stack.iter().rev() {
            let c = frame.completion();
            let c = match c.strip_prefix('\n') {
                Some(rest) if newline_written => rest.to_string(),
                _ => c,
            };
            if !c.is_empty() {
                newline_written = false;
            }
            if matches!(
                frame,
                Frame::ChatStr {
                    pending_nl: true,
                    ..
                }
            ) {
                newline_written = true;
            }
            out.push_str(&c);
        }
        out
    }
}

#[cfg(test)]
#[path = "constraint_tests.rs"]
mod tests;
