//! Turning LM output into typed field values.
//!
//! [`parse_text`] reads a field's text (ChatAdapter sections) and [`coerce`] checks and
//! converts an already-parsed JSON value (JSONAdapter) against a [`FieldType`]. Both
//! are tolerant the way DSPy's `parse_value` is (JSON or Python-literal containers,
//! quoted scalars, `True`/`false`, `None` for optionals, quoted or `Literal[...]`-wrapped
//! literal choices) and a little more (numbers inside prose, case-insensitive literals,
//! bullet lists). Errors are plain messages; adapters wrap them in a `ParseError`.

use serde_json::{Map, Value};

use super::lenient;
use super::value::py_type_name;
use crate::signature::FieldType;

/// Nesting cap for schema-driven coercion (guards against self-referencing schemas).
const MAX_DEPTH: usize = 64;

/// Parses one output field's text into a value of type `ty`.
pub(crate) fn parse_text(text: &str, ty: &FieldType) -> Result<Value, String> {
    parse_text_at(text, ty, 0)
}

fn parse_text_at(text: &str, ty: &FieldType, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("the value is nested too deeply".into());
    }
    match ty {
        FieldType::Str => Ok(Value::String(text.to_string())),
        FieldType::Any => Ok(parse_any(text)),
        FieldType::Optional { inner } => {
            let t = unquote(text.trim());
            if is_none_word(t) || (t.is_empty() && !inner.is_str()) {
                Ok(Value::Null)
            } else {
                parse_text_at(text, inner, depth + 1)
            }
        }
        FieldType::Literal { choices } => match_literal(text, choices)
            .map(Value::String)
            .ok_or_else(|| format!("expected one of: {}", choices.join(", "))),
        FieldType::Int => parse_number(text, true),
        FieldType::Float => parse_number(text, false),
        FieldType::Bool => parse_bool(text)
            .map(Value::Bool)
            .ok_or_else(|| "expected True or False".to_string()),
        FieldType::List { .. } => {
            let v = parse_container(text, b'[', || bullet_list(text)).ok_or_else(|| not_a(ty))?;
            coerce_at(&v, ty, depth + 1)
        }
        FieldType::Dict { .. } | FieldType::Object { .. } => {
            let v = parse_container(text, b'{', || None).ok_or_else(|| not_a(ty))?;
            coerce_at(&v, ty, depth + 1)
        }
        // An object, or (as DSPy also takes) a bare list of calls.
        FieldType::ToolCalls => {
            let open = if text.trim_start().starts_with('[') {
                b'['
            } else {
                b'{'
            };
            let v = parse_container(text, open, || None).ok_or_else(|| not_a(ty))?;
            coerce_at(&v, ty, depth + 1)
        }
        FieldType::Tool => Err(TOOL_IS_INPUT.into()),
    }
}

/// Signatures refuse `Tool` outputs; this is what a value would be told regardless.
const TOOL_IS_INPUT: &str = "a Tool is an input; the LM asks for calls with a ToolCalls field";

/// A value of type `Any`: JSON (or a Python literal container) when the text is one,
/// else the text itself.
fn parse_any(text: &str) -> Value {
    let t = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        return v;
    }
    match t.as_bytes().first() {
        Some(&open @ (b'{' | b'[')) => {
            parse_container(t, open, || None).unwrap_or_else(|| Value::String(text.to_string()))
        }
        _ => Value::String(text.to_string()),
    }
}

fn not_a(ty: &FieldType) -> String {
    format!("expected a value of type {}", py_type_name(ty))
}

/// Converts an already-parsed value to type `ty` (strings are re-read as text).
pub(crate) fn coerce(v: &Value, ty: &FieldType) -> Result<Value, String> {
    coerce_at(v, ty, 0)
}

fn coerce_at(v: &Value, ty: &FieldType, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("the value is nested too deeply".into());
    }
    match (ty, v) {
        (FieldType::Any, _) => Ok(v.clone()),
        (FieldType::Str, Value::String(_)) => Ok(v.clone()),
        (FieldType::Str, Value::Number(_) | Value::Bool(_)) => {
            Ok(Value::String(super::value::py_str(v)))
        }
        (FieldType::Str, Value::Array(_) | Value::Object(_)) => Ok(Value::String(v.to_string())),
        (FieldType::Optional { .. }, Value::Null) => Ok(Value::Null),
        (FieldType::Optional { .. }, Value::String(s)) => parse_text_at(s, ty, depth + 1),
        (FieldType::Optional { inner }, _) => coerce_at(v, inner, depth + 1),
        (_, Value::String(s)) => parse_text_at(s, ty, depth + 1),
        (FieldType::Int, Value::Number(n)) => {
            if n.is_i64() || n.is_u64() {
                Ok(v.clone())
            } else {
                n.as_f64()
                    .and_then(float_to_int)
                    .ok_or_else(|| "expected an int, got a fractional number".to_string())
            }
        }
        (FieldType::Float, Value::Number(n)) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| not_a(ty)),
        (FieldType::Bool, Value::Bool(_)) => Ok(v.clone()),
        (FieldType::Bool, Value::Number(n)) => match n.as_f64() {
            Some(0.0) => Ok(Value::Bool(false)),
            Some(1.0) => Ok(Value::Bool(true)),
            _ => Err("expected True or False".into()),
        },
        (FieldType::Literal { choices }, Value::Number(_) | Value::Bool(_)) => {
            let s = super::value::py_str(v);
            match_literal(&s, choices)
                .map(Value::String)
                .ok_or_else(|| format!("expected one of: {}", choices.join(", ")))
        }
        (FieldType::List { item }, Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, x)| coerce_at(x, item, depth + 1).map_err(|e| format!("item {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (FieldType::Dict { value }, Value::Object(map)) => {
            let mut out = Map::new();
            for (k, x) in map {
                out.insert(
                    k.clone(),
                    coerce_at(x, value, depth + 1).map_err(|e| format!("key {k:?}: {e}"))?,
                );
            }
            Ok(Value::Object(out))
        }
        (FieldType::Object { schema, .. }, _) => coerce_schema(v, schema, schema, depth + 1),
        (FieldType::ToolCalls, _) => crate::tool::ToolCalls::from_value(v).map(|c| c.to_value()),
        (FieldType::Tool, _) => Err(TOOL_IS_INPUT.into()),
        _ => Err(not_a(ty)),
    }
}

fn float_to_int(f: f64) -> Option<Value> {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Some(Value::Number((f as i64).into()))
    } else {
        None
    }
}

/// Words that mean "no value" for an optional field.
fn is_none_word(t: &str) -> bool {
    matches!(t, "None" | "none" | "null" | "NULL" | "Null" | "nil")
}

/// Removes one pair of matching surrounding quotes or backticks.
fn unquote(t: &str) -> &str {
    for q in ['"', '\'', '`'] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return &t[1..t.len() - 1];
        }
    }
    t
}

/// A scalar's text with fences, quotes and whitespace removed.
fn clean_scalar(text: &str) -> &str {
    let t = lenient::strip_code_fence(text.trim());
    unquote(t.trim()).trim()
}

/// Matches a literal choice: exactly, then with quotes / `Literal[...]` stripped, then
/// case-insensitively (when only one choice matches that way).
pub(crate) fn match_literal(text: &str, choices: &[String]) -> Option<String> {
    if let Some(c) = choices.iter().find(|c| c.as_str() == text) {
        return Some(c.clone());
    }
    let mut t = text.trim();
    for wrapper in ["Literal[", "str["] {
        if let Some(inner) = t.strip_prefix(wrapper).and_then(|r| r.strip_suffix(']')) {
            t = inner.trim();
        }
    }
    let t = unquote(t).trim();
    if let Some(c) = choices.iter().find(|c| c.as_str() == t) {
        return Some(c.clone());
    }
    let t = t.trim_end_matches('.');
    let folded: Vec<&String> = choices
        .iter()
        .filter(|c| c.to_lowercase() == t.to_lowercase())
        .collect();
    match folded.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// Reads a bool: `True`/`false`/`yes`/`no`/`1`/`0` and friends, quoted or not.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    let t = clean_scalar(text)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    match t.as_str() {
        "true" | "yes" | "y" | "t" | "on" | "1" => Some(true),
        "false" | "no" | "n" | "f" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Reads an int or float: the whole text, else the single number found in it.
fn parse_number(text: &str, int: bool) -> Result<Value, String> {
    let kind = if int { "an int" } else { "a float" };
    let t = clean_scalar(text);
    let candidate = match lenient::parse(t) {
        Some(v @ Value::Number(_)) => v,
        _ => {
            let tokens = number_tokens(t);
            match tokens.as_slice() {
                [one] => one.clone(),
                [] => return Err(format!("expected {kind}")),
                _ => return Err(format!("expected {kind}, found several numbers")),
            }
        }
    };
    let ty = if int {
        FieldType::Int
    } else {
        FieldType::Float
    };
    coerce_at(&candidate, &ty, 1)
}

/// Every number in free text (`-3`, `1,234`, `2.5e3`), skipping digits inside words.
fn number_tokens(text: &str) -> Vec<Value> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let prev_word = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if !b.is_ascii_digit() || prev_word {
            i += 1;
            continue;
        }
        let neg = i > 0 && bytes[i - 1] == b'-' && (i < 2 || !bytes[i - 2].is_ascii_alphanumeric());
        let mut j = i;
        let mut s = String::new();
        if neg {
            s.push('-');
        }
        while j < bytes.len() {
            let c = bytes[j];
            if c.is_ascii_digit() {
                s.push(c as char);
                j += 1;
            } else if c == b','
                && bytes
                    .get(j + 1..j + 4)
                    .is_some_and(|g| g.iter().all(u8::is_ascii_digit))
                && !bytes.get(j + 4).is_some_and(u8::is_ascii_digit)
            {
                j += 1; // thousands separator
            } else {
                break;
            }
        }
        let mut is_float = false;
        if bytes.get(j) == Some(&b'.') && bytes.get(j + 1).is_some_and(u8::is_ascii_digit) {
            is_float = true;
            s.push('.');
            j += 1;
            while let Some(&c) = bytes.get(j).filter(|c| c.is_ascii_digit()) {
                s.push(c as char);
                j += 1;
            }
        }
        if matches!(bytes.get(j), Some(b'e' | b'E')) {
            let mut k = j + 1;
            let mut exp = String::from("e");
            if let Some(&sign @ (b'-' | b'+')) = bytes.get(k) {
                exp.push(sign as char);
                k += 1;
            }
            if bytes.get(k).is_some_and(u8::is_ascii_digit) {
                while let Some(&c) = bytes.get(k).filter(|c| c.is_ascii_digit()) {
                    exp.push(c as char);
                    k += 1;
                }
                s.push_str(&exp);
                is_float = true;
                j = k;
            }
        }
        // Digits running into letters ("3rd", "5km") still count; "v2" was skipped above.
        if let Some(v) = lenient::number_value(&s, is_float) {
            out.push(v);
        }
        i = j.max(i + 1);
    }
    out
}

/// A JSON/Python container in the text: the whole text, else `fallback`, else the first
/// one embedded in prose.
fn parse_container(
    text: &str,
    open: u8,
    fallback: impl FnOnce() -> Option<Value>,
) -> Option<Value> {
    let want_obj = open == b'{';
    let fits = |v: &Value| {
        if want_obj {
            v.is_object()
        } else {
            v.is_array()
        }
    };
    if let Some(v) = lenient::parse(text).filter(|v| fits(v) || v.is_string()) {
        return Some(v);
    }
    fallback().or_else(|| lenient::find_value(text, open, |_| true).filter(fits))
}

/// The item of a `[3] item` line.
fn bracket_numbered(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let d = rest.bytes().take_while(u8::is_ascii_digit).count();
    if d == 0 {
        return None;
    }
    rest.get(d..)?.strip_prefix("] ")
}

/// `- a` / `* a` / `1. a` / `[1] «a»` lines as a list of strings.
fn bullet_list(text: &str) -> Option<Value> {
    let mut items = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let item = if let Some(r) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
            r
        } else {
            let digits = line.bytes().take_while(u8::is_ascii_digit).count();
            let after = line.get(digits..).unwrap_or("");
            if digits > 0 && (after.starts_with(". ") || after.starts_with(") ")) {
                &after[2..]
            } else {
                bracket_numbered(line)?
            }
        };
        let item = item.trim();
        let item = item
            .strip_prefix('«')
            .and_then(|i| i.strip_suffix('»'))
            .unwrap_or(item);
        items.push(Value::String(item.to_string()));
    }
    (!items.is_empty()).then_some(Value::Array(items))
}

/// Checks and converts a value against a JSON schema (the subset pydantic emits).
/// Checks and converts a value against a JSON schema (the tool-argument check).
pub(crate) fn coerce_to_schema(v: &Value, schema: &Value) -> Result<Value, String> {
    coerce_schema(v, schema, schema, 0)
}

fn coerce_schema(v: &Value, schema: &Value, root: &Value, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("the value is nested too deeply".into());
    }
    let Some(s) = schema.as_object() else {
        return Ok(v.clone());
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or("");
        let target = root
            .get("$defs")
            .and_then(|d| d.get(name))
            .or_else(|| root.get("definitions").and_then(|d| d.get(name)));
        return match target {
            Some(t) => coerce_schema(v, t, root, depth + 1),
            None => Ok(v.clone()),
        };
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = s.get(key).and_then(Value::as_array) {
            let mut last = String::from("no option matched");
            for o in options {
                match coerce_schema(v, o, root, depth + 1) {
                    Ok(x) => return Ok(x),
                    Err(e) => last = e,
                }
            }
            return Err(last);
        }
    }
    if let Some(c) = s.get("const") {
        return if c == v
            || c.as_str()
                .is_some_and(|cs| v.as_str().is_some_and(|vs| cs == vs.trim()))
        {
            Ok(c.clone())
        } else {
            Err(format!("expected {c}"))
        };
    }
    if let Some(choices) = s.get("enum").and_then(Value::as_array) {
        if choices.contains(v) {
            return Ok(v.clone());
        }
        let strs: Vec<String> = choices
            .iter()
            .filter_map(|c| c.as_str().map(String::from))
            .collect();
        return v
            .as_str()
            .and_then(|t| match_literal(t, &strs))
            .map(Value::String)
            .ok_or_else(|| format!("expected one of: {}", strs.join(", ")));
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => {
            let mut last = String::from("no type matched");
            for t in ts {
                let mut one = s.clone();
                one.insert("type".into(), t.clone());
                match coerce_schema(v, &Value::Object(one), root, depth + 1) {
                    Ok(x) => return Ok(x),
                    Err(e) => last = e,
                }
            }
            return Err(last);
        }
        _ => return Ok(v.clone()),
    };
    match ty {
        "string" => coerce_at(v, &FieldType::Str, depth),
        "integer" => coerce_at(v, &FieldType::Int, depth),
        "number" => coerce_at(v, &FieldType::Float, depth),
        "boolean" => coerce_at(v, &FieldType::Bool, depth),
        "null" if v.is_null() => Ok(Value::Null),
        "null" => Err("expected null".into()),
        "array" => {
            let parsed;
            let items = match v {
                Value::Array(a) => a,
                Value::String(t) => match parse_container(t, b'[', || None) {
                    Some(Value::Array(a)) => {
                        parsed = a;
                        &parsed
                    }
                    _ => return Err("expected an array".into()),
                },
                _ => return Err("expected an array".into()),
            };
            let item_schema = s.get("items").cloned().unwrap_or(Value::Bool(true));
            items
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    coerce_schema(x, &item_schema, root, depth + 1)
                        .map_err(|e| format!("item {i}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        "object" => {
            let parsed;
            let map = match v {
                Value::Object(m) => m,
                Value::String(t) => match parse_container(t, b'{', || None) {
                    Some(Value::Object(m)) => {
                        parsed = m;
                        &parsed
                    }
                    _ => return Err("expected an object".into()),
                },
                _ => return Err("expected an object".into()),
            };
            let props = s.get("properties").and_then(Value::as_object);
            if let Some(required) = s.get("required").and_then(Value::as_array) {
                for r in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        return Err(format!("missing required key {r:?}"));
                    }
                }
            }
            // Declared properties in schema order (absent ones take their default, as
            // pydantic fills them), then undeclared keys only if the schema allows them.
            let extra = match s.get("additionalProperties") {
                Some(Value::Bool(false)) => None,
                Some(sub) => Some(sub),
                None if props.is_some() => None,
                None => Some(&Value::Bool(true)),
            };
            let mut out = Map::new();
            for (k, sub) in props.into_iter().flatten() {
                let value = match (map.get(k), sub.get("default")) {
                    (Some(x), _) => coerce_schema(x, sub, root, depth + 1)
                        .map_err(|e| format!("key {k:?}: {e}"))?,
                    (None, Some(d)) => d.clone(),
                    (None, None) => continue,
                };
                out.insert(k.clone(), value);
            }
            if let Some(sub) = extra {
                for (k, x) in map {
                    if props.is_some_and(|p| p.contains_key(k)) {
                        continue;
                    }
                    let value = coerce_schema(x, sub, root, depth + 1)
                        .map_err(|e| format!("key {k:?}: {e}"))?;
                    out.insert(k.clone(), value);
                }
            }
            Ok(Value::Object(out))
        }
        _ => Ok(v.clone()),
    }
}

#[cfg(test)]
#[path = "coerce_tests.rs"]
mod tests;
