//! Rendering values, types and schemas into prompt text the way Python DSPy does.
//!
//! DSPy's prompts are built from Python's `str()`, `json.dumps(..., ensure_ascii=False)`,
//! `typing` annotation names and pydantic JSON schemas. The helpers here reproduce those
//! byte for byte for the value and type shapes a [`FieldType`] can hold, so Sigil's
//! prompts match DSPy's (see the golden tests in `tests/it/chat_adapter_golden.rs`).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::signature::{Field, FieldType, tool_calls_pydantic_schema};

/// Python's `str.strip()`: removes leading and trailing whitespace as `str.isspace` sees it.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `str.isspace` for one character.
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.splitlines()` (without keeping the line ends).
pub(crate) fn py_splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\u{0b}'
                | '\u{0c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !is_break {
            continue;
        }
        out.push(&s[start..i]);
        let mut end = i + c.len_utf8();
        if let Some((j, _)) = iter.next_if(|&(_, n)| c == '\r' && n == '\n') {
            end = j + 1;
        }
        start = end;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Python's `textwrap.dedent`: drops the longest common run of leading spaces/tabs from
/// every line, and empties lines holding only spaces and tabs.
pub(crate) fn dedent(text: &str) -> String {
    // Lines are split on '\n' only, as the regexes in textwrap do.
    let lines: Vec<&str> = text.split('\n').collect();
    let blank = |l: &str| !l.is_empty() && l.bytes().all(|b| b == b' ' || b == b'\t');
    let mut margin: Option<&str> = None;
    for line in &lines {
        if line.is_empty() || blank(line) {
            continue;
        }
        let indent_len = line
            .bytes()
            .take_while(|&b| b == b' ' || b == b'\t')
            .count();
        let indent = &line[..indent_len];
        margin = Some(match margin {
            None => indent,
            Some(m) if indent.starts_with(m) => m,
            Some(m) if m.starts_with(indent) => indent,
            Some(m) => {
                let common = m
                    .bytes()
                    .zip(indent.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                &m[..common]
            }
        });
    }
    let margin = margin.unwrap_or("");
    let mut out = String::with_capacity(text.len());
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if blank(line) {
            continue;
        }
        out.push_str(line.strip_prefix(margin).unwrap_or(line));
    }
    out
}

/// Python's `inspect.cleandoc`, which DSPy applies to a signature's instructions: tabs
/// expanded, the first line left-stripped, the common indent of the other lines removed,
/// and blank lines at either end dropped.
pub(crate) fn cleandoc(doc: &str) -> String {
    let expanded = expand_tabs(doc);
    let mut lines: Vec<&str> = expanded.split('\n').collect();
    let margin = lines
        .iter()
        .skip(1)
        .filter_map(|l| {
            let content = l.trim_start_matches(is_py_space);
            (!content.is_empty()).then(|| l.chars().count() - content.chars().count())
        })
        .min();
    if let Some(first) = lines.first_mut() {
        *first = first.trim_start_matches(is_py_space);
    }
    if let Some(m) = margin {
        for line in lines.iter_mut().skip(1) {
            *line = line.char_indices().nth(m).map_or("", |(i, _)| &line[i..]);
        }
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    lines[start..].join("\n")
}

/// Python's `str.expandtabs()` (tab stops every 8 columns).
fn expand_tabs(s: &str) -> String {
    if !s.contains('\t') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut col = 0usize;
    for c in s.chars() {
        match c {
            '\t' => {
                let n = 8 - col % 8;
                out.extend(std::iter::repeat_n(' ', n));
                col += n;
            }
            '\n' | '\r' => {
                out.push(c);
                col = 0;
            }
            c => {
                out.push(c);
                col += 1;
            }
        }
    }
    out
}

/// Python's `repr(float)` (also what `json.dumps` writes for floats).
pub(crate) fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits with a base-10 exponent: `-1.25e-7`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if neg {
        out.push('-');
    }
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

fn py_number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        py_float_repr(n.as_f64().unwrap_or(0.0))
    } else {
        n.to_string()
    }
}

/// Python's `str()` of a JSON-shaped value (`True`, `None`, `3.0`); containers as `json.dumps`.
pub(crate) fn py_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => py_number(n),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => py_json(v, None),
    }
}

/// Python's `json.dumps(v, ensure_ascii=False)`, or with `indent=n` when `indent` is set.
pub(crate) fn py_json(v: &Value, indent: Option<usize>) -> String {
    let mut out = String::new();
    write_json(&mut out, v, indent, 0);
    out
}

fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn newline_indent(out: &mut String, indent: usize, level: usize) {
    out.push('\n');
    for _ in 0..indent * level {
        out.push(' ');
    }
}

fn write_json(out: &mut String, v: &Value, indent: Option<usize>, level: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&py_number(n)),
        Value::String(s) => write_json_str(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(if indent.is_some() { "," } else { ", " });
                }
                if let Some(n) = indent {
                    newline_indent(out, n, level + 1);
                }
                write_json(out, item, indent, level + 1);
            }
            if let Some(n) = indent {
                newline_indent(out, n, level);
            }
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(if indent.is_some() { "," } else { ", " });
                }
                if let Some(n) = indent {
                    newline_indent(out, n, level + 1);
                }
                write_json_str(out, k);
                out.push_str(": ");
                write_json(out, item, indent, level + 1);
            }
            if let Some(n) = indent {
                newline_indent(out, n, level);
            }
            out.push('}');
        }
    }
}

/// How DSPy's `format_field_value` renders a field value into a prompt.
///
/// A list given to a `str` field becomes a numbered list of «»-quoted items; other lists
/// and dicts become JSON; scalars use Python's `str()` (so booleans are `True`/`False` and
/// a missing value is `None`).
pub(crate) fn format_field_value(ty: &FieldType, v: &Value) -> String {
    match v {
        Value::Array(items) if ty.is_str() => format_str_list(items),
        other if ty.holds_tool() || *ty == FieldType::ToolCalls => {
            py_str(&super::tool_fields::shown_value(ty, other))
        }
        other => py_str(other),
    }
}

fn format_str_list(items: &[Value]) -> String {
    match items {
        [] => "N/A".into(),
        [only] => format_blob(&py_str(only)),
        _ => {
            let mut out = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let _ = write!(out, "[{}] {}", i + 1, format_blob(&py_str(item)));
            }
            out
        }
    }
}

fn format_blob(blob: &str) -> String {
    if !blob.contains(['\n', '«', '»']) {
        return format!("«{blob}»");
    }
    format!("«««\n    {}\n»»»", blob.replace('\n', "\n    "))
}

/// The Python annotation name DSPy shows for a type (`list[str]`, `Union[int, NoneType]`,
/// `Literal['a', 'b']`).
pub(crate) fn py_type_name(ty: &FieldType) -> String {
    match ty {
        FieldType::Str => "str".into(),
        FieldType::Int => "int".into(),
        FieldType::Float => "float".into(),
        FieldType::Bool => "bool".into(),
        FieldType::List { item } => format!("list[{}]", py_type_name(item)),
        FieldType::Dict { value } => format!("dict[str, {}]", py_type_name(value)),
        FieldType::Optional { inner } => format!("Union[{}, NoneType]", py_type_name(inner)),
        FieldType::Literal { choices } => {
            let quoted: Vec<String> = choices.iter().map(|c| quote_literal(c)).collect();
            format!("Literal[{}]", quoted.join(", "))
        }
        FieldType::Object { name, .. } => name.clone(),
        FieldType::Any => "Any".into(),
        FieldType::Tool => "Tool".into(),
        FieldType::ToolCalls => "ToolCalls".into(),
    }
}

/// Quotes a literal choice the way DSPy writes it inside `Literal[...]`.
fn quote_literal(s: &str) -> String {
    match (s.contains('\''), s.contains('"')) {
        (true, false) => format!("\"{s}\""),
        (true, true) => format!("'{}'", s.replace('\'', "\\'")),
        _ => format!("'{s}'"),
    }
}

/// The JSON schema pydantic generates for a type: nested objects are moved to `$defs`
/// and referenced, a single-choice literal becomes `const`.
pub(crate) fn pydantic_schema(ty: &FieldType) -> Value {
    match ty {
        FieldType::Object { schema, .. } => return schema.clone(),
        FieldType::ToolCalls => return tool_calls_pydantic_schema(),
        _ => {}
    }
    let mut defs = Map::new();
    let mut schema = schema_of(ty, &mut defs);
    if let (false, Value::Object(m)) = (defs.is_empty(), &mut schema) {
        m.insert("$defs".into(), Value::Object(defs));
    }
    schema
}

fn type_schema(t: &str) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), Value::String(t.into()));
    Value::Object(m)
}

fn schema_of(ty: &FieldType, defs: &mut Map<String, Value>) -> Value {
    let mut m = Map::new();
    match ty {
        FieldType::Str => return type_schema("string"),
        FieldType::Int => return type_schema("integer"),
        FieldType::Float => return type_schema("number"),
        FieldType::Bool => return type_schema("boolean"),
        FieldType::List { item } => {
            m.insert("type".into(), "array".into());
            m.insert("items".into(), schema_of(item, defs));
        }
        FieldType::Dict { value } => {
            m.insert("type".into(), "object".into());
            // pydantic writes `dict[str, Any]`'s values as `true` (anything goes).
            let values = match **value {
                FieldType::Any => Value::Bool(true),
                _ => schema_of(value, defs),
            };
            m.insert("additionalProperties".into(), values);
        }
        FieldType::Any => {}
        FieldType::Optional { inner } => {
            m.insert(
                "anyOf".into(),
                Value::Array(vec![schema_of(inner, defs), type_schema("null")]),
            );
        }
        FieldType::Literal { choices } => {
            match choices.as_slice() {
                [one] => m.insert("const".into(), Value::String(one.clone())),
                _ => m.insert(
                    "enum".into(),
                    choices.iter().cloned().map(Value::String).collect(),
                ),
            };
            m.insert("type".into(), "string".into());
        }
        // Never shown: a `Tool` is an input, and inputs get no schema note.
        FieldType::Tool => {}
        FieldType::ToolCalls => {
            return schema_of(
                &FieldType::Object {
                    name: "ToolCalls".into(),
                    schema: tool_calls_pydantic_schema(),
                },
                defs,
            );
        }
        FieldType::Object { name, schema } => {
            let mut body = schema.clone();
            let inner_defs = body.as_object_mut().and_then(|obj| obj.remove("$defs"));
            if let Some(Value::Object(inner_defs)) = inner_defs {
                for (k, v) in inner_defs {
                    defs.entry(k).or_insert(v);
                }
            }
            defs.insert(name.clone(), body);
            m.insert("$ref".into(), Value::String(format!("#/$defs/{name}")));
        }
    }
    m.into()
}

/// Sorts every object's keys, with `type` first (DSPy does this for readability).
pub(crate) fn sort_type_first(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| (a.0 != "type", a.0).cmp(&(b.0 != "type", b.0)));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sort_type_first(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_type_first).collect()),
        other => other.clone(),
    }
}

/// DSPy's `translate_field_type`: the `{name}` placeholder of the structure section, with a
/// note on the expected value for non-string output fields.
pub(crate) fn field_placeholder(field: &Field, is_output: bool) -> String {
    let note = if !is_output {
        None
    } else {
        match &field.ty {
            FieldType::Str => None,
            FieldType::Bool => Some("must be True or False".to_string()),
            FieldType::Int => Some("must be a single int value".to_string()),
            FieldType::Float => Some("must be a single float value".to_string()),
            FieldType::Literal { choices } => Some(format!(
                "must exactly match (no extra characters) one of: {}",
                choices.join("; ")
            )),
            other => Some(format!(
                "must adhere to the JSON schema: {}",
                py_json(&sort_type_first(&pydantic_schema(other)), None)
            )),
        }
    };
    match note {
        Some(n) => format!(
            "{{{}}}        # note: the value you produce {n}",
            field.name
        ),
        None => format!("{{{}}}", field.name),
    }
}

/// DSPy's numbered field list: "1. `question` (str): desc".
pub(crate) fn field_description_list(fields: &[Field]) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let desc = match &f.desc {
            Some(d) if *d != format!("${{{}}}", f.name) => d.as_str(),
            _ => "",
        };
        let _ = write!(
            out,
            "{}. `{}` ({}): {desc}",
            i + 1,
            f.name,
            py_type_name(&f.ty)
        );
        super::tool_fields::push_type_descriptions(&f.ty, &mut out);
    }
    py_strip(&out).to_string()
}

#[cfg(test)]
#[path = "value_tests.rs"]
mod tests;
