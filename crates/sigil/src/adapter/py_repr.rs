//! Python's `repr()` of JSON-shaped values, which DSPy writes where it prints a Python
//! object (a tool's argument schemas in ReAct's instructions).

use std::fmt::Write as _;

use serde_json::Value;

use super::value::py_str;

/// Python's `repr()` of a JSON-shaped value: `{'a': [1, 2.5, True, None]}`, strings
/// quoted as Python quotes them. DSPy writes tool arguments this way.
pub(crate) fn py_repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, v);
    out
}

fn write_repr(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => write_repr_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr_str(out, k);
                out.push_str(": ");
                write_repr(out, item);
            }
            out.push('}');
        }
        scalar => out.push_str(&py_str(scalar)),
    }
}

/// A Python string literal as `repr` writes it: single quotes unless the text has a
/// single quote and no double quote; `\\`, the quote and unprintable characters escaped.
fn write_repr_str(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}
