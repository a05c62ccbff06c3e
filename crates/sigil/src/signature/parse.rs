//! The string form of a signature: `question, context: list[str] -> answer: int`.

use super::{Field, FieldType};

/// A signature string that could not be parsed: where, what was expected, what was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "invalid signature at column {column}: expected {expected}, found {found}\n  {input}\n  {marker}^"
)]
pub struct SignatureParseError {
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// What the parser expected there.
    pub expected: String,
    /// What it found.
    pub found: String,
    /// The whole signature string.
    pub input: String,
    marker: String,
}

impl SignatureParseError {
    fn new(
        input: &str,
        byte_pos: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        let column = input[..byte_pos.min(input.len())].chars().count() + 1;
        SignatureParseError {
            column,
            expected: expected.into(),
            found: found.into(),
            input: input.to_string(),
            marker: " ".repeat(column - 1),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Comma,
    Colon,
    Arrow,
    Open,
    Close,
    End,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Quoted(s) => format!("\"{s}\""),
        Tok::Comma => "`,`".into(),
        Tok::Colon => "`:`".into(),
        Tok::Arrow => "`->`".into(),
        Tok::Open => "`[`".into(),
        Tok::Close => "`]`".into(),
        Tok::End => "the end of the signature".into(),
    }
}

pub(crate) fn is_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_alphabetic() || c == '_')
        && cs.all(|c| c.is_alphanumeric() || c == '_')
}

fn lex(input: &str) -> Result<Vec<(usize, Tok)>, SignatureParseError> {
    let mut out = Vec::new();
    let mut it = input.char_indices().peekable();
    while let Some(&(i, c)) = it.peek() {
        match c {
            c if c.is_whitespace() => {
                it.next();
            }
            ',' => {
                it.next();
                out.push((i, Tok::Comma));
            }
            ':' => {
                it.next();
                out.push((i, Tok::Colon));
            }
            '[' => {
                it.next();
                out.push((i, Tok::Open));
            }
            ']' => {
                it.next();
                out.push((i, Tok::Close));
            }
            '-' => {
                it.next();
                match it.peek() {
                    Some(&(_, '>')) => {
                        it.next();
                        out.push((i, Tok::Arrow));
                    }
                    _ => return Err(SignatureParseError::new(input, i, "`->`", "`-`")),
                }
            }
            '\'' | '"' => {
                let quote = c;
                it.next();
                let mut s = String::new();
                let mut closed = false;
                for (_, ch) in it.by_ref() {
                    if ch == quote {
                        closed = true;
                        break;
                    }
                    s.push(ch);
                }
                if !closed {
                    return Err(SignatureParseError::new(
                        input,
                        i,
                        format!("a closing {quote}"),
                        "the end of the signature",
                    ));
                }
                out.push((i, Tok::Quoted(s)));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut s = String::new();
                while let Some(&(_, ch)) = it.peek() {
                    if ch.is_alphanumeric() || ch == '_' || ch == '.' {
                        s.push(ch);
                        it.next();
                    } else {
                        break;
                    }
                }
                out.push((i, Tok::Ident(s)));
            }
            other => {
                return Err(SignatureParseError::new(
                    input,
                    i,
                    "a field name, `,`, `:` or `->`",
                    format!("`{other}`"),
                ));
            }
        }
    }
    out.push((input.len(), Tok::End));
    Ok(out)
}

struct Parser<'a> {
    input: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].1
    }
    fn at(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].0
    }
    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn err(&self, expected: &str) -> SignatureParseError {
        SignatureParseError::new(self.input, self.at(), expected, describe(self.peek()))
    }
    fn expect(&mut self, t: Tok, expected: &str) -> Result<(), SignatureParseError> {
        if *self.peek() == t {
            self.bump();
            Ok(())
        } else {
            Err(self.err(expected))
        }
    }

    fn fields(&mut self, terminator: &Tok, side: &str) -> Result<Vec<Field>, SignatureParseError> {
        let mut fields = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::Ident(name) if is_identifier(&name) => {
                    self.bump();
                    let ty = if *self.peek() == Tok::Colon {
                        self.bump();
                        self.ty()?
                    } else {
                        FieldType::Str
                    };
                    fields.push(Field::new(name, ty));
                }
                _ => return Err(self.err(&format!("an {side} field name"))),
            }
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                t if t == terminator => return Ok(fields),
                _ => {
                    let want = if *terminator == Tok::Arrow {
                        "`,`, `:` or `->`"
                    } else {
                        "`,`, `:` or the end of the signature"
                    };
                    return Err(self.err(want));
                }
            }
        }
    }

    fn ty(&mut self) -> Result<FieldType, SignatureParseError> {
        let start = self.at();
        let name = match self.peek().clone() {
            Tok::Ident(n) => {
                self.bump();
                n
            }
            _ => return Err(self.err(
                "a type (str, int, float, bool, list[T], dict[str, T], optional[T], enum[a, b])",
            )),
        };
        let lower = name.to_ascii_lowercase();
        let unknown = || {
            SignatureParseError::new(
                self.input,
                start,
                "a type (str, int, float, bool, list[T], dict[str, T], optional[T], enum[a, b])",
                format!("`{name}`"),
            )
        };
        Ok(match lower.as_str() {
            "str" | "string" => FieldType::Str,
            "int" | "integer" => FieldType::Int,
            "float" | "number" => FieldType::Float,
            "bool" | "boolean" => FieldType::Bool,
            "any" => FieldType::Any,
            // DSPy's names: `tools: list[Tool]`, `calls: ToolCalls`.
            "tool" => FieldType::Tool,
            "toolcalls" => FieldType::ToolCalls,
            "list" => {
                self.expect(Tok::Open, "`[` after list")?;
                let item = self.ty()?;
                self.expect(Tok::Close, "`]`")?;
                FieldType::list(item)
            }
            "optional" => {
                self.expect(Tok::Open, "`[` after optional")?;
                let inner = self.ty()?;
                self.expect(Tok::Close, "`]`")?;
                FieldType::optional(inner)
            }
            "dict" => {
                self.expect(Tok::Open, "`[` after dict")?;
                let key_at = self.at();
                let key = self.ty()?;
                if key != FieldType::Str {
                    return Err(SignatureParseError::new(
                        self.input,
                        key_at,
                        "`str` as the dict key type",
                        format!("`{}`", key.sigil_name()),
                    ));
                }
                self.expect(Tok::Comma, "`,` between the dict key and value types")?;
                let value = self.ty()?;
                self.expect(Tok::Close, "`]`")?;
                FieldType::dict(value)
            }
            "enum" | "literal" => {
                self.expect(Tok::Open, "`[` after enum")?;
                let mut choices = Vec::new();
                loop {
                    match self.peek().clone() {
                        Tok::Ident(s) | Tok::Quoted(s) => {
                            self.bump();
                            choices.push(s);
                        }
                        _ => return Err(self.err("an enum choice")),
                    }
                    match self.peek() {
                        Tok::Comma => {
                            self.bump();
                        }
                        Tok::Close => {
                            self.bump();
                            break;
                        }
                        _ => return Err(self.err("`,` or `]`")),
                    }
                }
                FieldType::literal(choices)
            }
            _ => return Err(unknown()),
        })
    }
}

pub(crate) fn parse_signature(
    input: &str,
) -> Result<(Vec<Field>, Vec<Field>), SignatureParseError> {
    let toks = lex(input)?;
    let mut p = Parser {
        input,
        toks,
        pos: 0,
    };
    let inputs = p.fields(&Tok::Arrow, "input")?;
    p.expect(Tok::Arrow, "`->`")?;
    let outputs = p.fields(&Tok::End, "output")?;
    Ok((inputs, outputs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(fs: &[Field]) -> Vec<&str> {
        fs.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn parses_all_types() {
        let (i, o) = parse_signature(
            "q, ctx: list[str], m: dict[str, list[int]], n: optional[float] -> a: int, b: bool, c: enum[yes, no, 'maybe so']",
        )
        .unwrap();
        assert_eq!(names(&i), ["q", "ctx", "m", "n"]);
        assert_eq!(i[1].ty, FieldType::list(FieldType::Str));
        assert_eq!(i[2].ty, FieldType::dict(FieldType::list(FieldType::Int)));
        assert_eq!(i[3].ty, FieldType::optional(FieldType::Float));
        assert_eq!(names(&o), ["a", "b", "c"]);
        assert_eq!(o[2].ty, FieldType::literal(["yes", "no", "maybe so"]));
    }

    #[test]
    fn parses_dspy_tool_types() {
        let (i, o) =
            parse_signature("question, tools: list[Tool], one: Tool -> calls: ToolCalls").unwrap();
        assert_eq!(i[1].ty, FieldType::list(FieldType::Tool));
        assert_eq!(i[2].ty, FieldType::Tool);
        assert_eq!(o[0].ty, FieldType::ToolCalls);
        assert_eq!(i[1].ty.sigil_name(), "list[Tool]");
        assert_eq!(o[0].ty.sigil_name(), "ToolCalls");
    }

    #[test]
    fn errors_name_position_and_expectation() {
        let e = parse_signature("question -> answer: lst[str]").unwrap_err();
        assert_eq!(e.column, 21);
        assert!(e.expected.starts_with("a type"));
        assert_eq!(e.found, "`lst`");

        let e = parse_signature("question answer").unwrap_err();
        assert_eq!(e.column, 10);
        assert_eq!(e.expected, "`,`, `:` or `->`");

        let e = parse_signature("question ->").unwrap_err();
        assert_eq!(e.found, "the end of the signature");
        assert_eq!(e.expected, "an output field name");

        let e = parse_signature("a -> b: dict[int, str]").unwrap_err();
        assert_eq!(e.expected, "`str` as the dict key type");

        let e = parse_signature("a, -> b").unwrap_err();
        assert_eq!(e.column, 4);

        assert!(parse_signature("").is_err());
        assert!(parse_signature("a -> b: list[str").is_err());
        assert!(parse_signature("a -> b: enum[]").is_err());
        assert!(parse_signature("a -> b -> c").is_err());
        assert!(parse_signature("a - b").is_err());
        assert!(parse_signature("a -> b: enum['x").is_err());
        assert!(parse_signature("é$ -> b").is_err());
    }
}
