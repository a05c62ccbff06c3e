//! A GBNF recognizer for tests: it reads a grammar in llama.cpp's GBNF language and
//! says whether a string is in the grammar's language, or starts a string that is.
//! It lets a test check Sigil's GBNF printer against the embedded engine's matcher
//! without a llama.cpp server.
//!
//! Written by hand because no Rust crate parses GBNF. It covers what the printer writes
//! and the rest of the common language: `"literals"` with `\n \r \t \\ \" \xHH
//! \uHHHH` escapes, character classes (`[a-z]`, `[^"\\]`), `.`, rule references,
//! parentheses, `|`, `?`, `*`, `+`, `{m}`, `{m,}`, `{m,n}` and `#` comments.
//! Recognition computes, for each expression and start position, the set of positions
//! where a match can end (memoised per rule), which is correct for any grammar without
//! left recursion; it is meant for short test strings, not speed.

use std::collections::{BTreeSet, HashMap};

/// A parsed GBNF grammar.
#[derive(Debug)]
pub struct Gbnf {
    rules: Vec<Expr>,
    root: usize,
}

#[derive(Debug)]
enum Expr {
    Alt(Vec<Expr>),
    Seq(Vec<Expr>),
    Lit(Vec<char>),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Any,
    Rule(usize),
    Repeat {
        expr: Box<Expr>,
        min: usize,
        max: Option<usize>,
    },
}

impl Gbnf {
    /// Parses a grammar; its start rule is `root`.
    pub fn parse(text: &str) -> Result<Gbnf, String> {
        // Split into rules: a rule starts at `name ::=`; other lines continue it.
        let mut bodies: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            let line = strip_comment(line);
            if line.trim().is_empty() {
                continue;
            }
            match line.split_once("::=") {
                Some((name, body))
                    if is_name(name.trim()) && !name.contains('"') && !name.contains('[') =>
                {
                    bodies.push((name.trim().to_string(), body.to_string()));
                }
                _ => match bodies.last_mut() {
                    Some((_, body)) => {
                        body.push(' ');
                        body.push_str(line);
                    }
                    None => return Err(format!("text before the first rule: {line:?}")),
                },
            }
        }
        let names: HashMap<String, usize> = bodies
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        if names.len() != bodies.len() {
            return Err("a rule is defined twice".into());
        }
        let root = *names.get("root").ok_or("no root rule")?;
        let rules = bodies
            .iter()
            .map(|(name, body)| {
                let mut p = Parser {
                    chars: body.chars().collect(),
                    at: 0,
                    names: &names,
                };
                let e = p.alternatives()?;
                p.skip_space();
                if p.at != p.chars.len() {
                    return Err(format!("rule {name}: unexpected {:?}", p.rest()));
                }
                Ok(e)
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Gbnf { rules, root })
    }

    /// Whether the whole of `s` is in the language.
    pub fn accepts(&self, s: &str) -> bool {
        self.matches(s, false)
    }

    /// Whether `s` is the start of some string in the language.
    pub fn accepts_prefix(&self, s: &str) -> bool {
        self.matches(s, true)
    }

    fn matches(&self, s: &str, prefix: bool) -> bool {
        let mut m = Matcher {
            g: self,
            input: s.chars().collect(),
            prefix,
            memo: HashMap::new(),
        };
        let len = m.input.len();
        m.rule(self.root, 0).contains(&len)
    }
}

fn strip_comment(line: &str) -> &str {
    // A `#` outside a literal or class starts a comment.
    let (mut in_lit, mut in_class, mut escaped) = (false, false, false);
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_lit || in_class => escaped = true,
            '"' if !in_class => in_lit = !in_lit,
            '[' if !in_lit => in_class = true,
            ']' if in_class => in_class = false,
            '#' if !in_lit && !in_class => return &line[..i],
            _ => {}
        }
    }
    line
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

struct Parser<'a> {
    chars: Vec<char>,
    at: usize,
    names: &'a HashMap<String, usize>,
}

impl Parser<'_> {
    fn rest(&self) -> String {
        self.chars[self.at..].iter().take(20).collect()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn alternatives(&mut self) -> Result<Expr, String> {
        let mut alts = vec![self.sequence()?];
        loop {
            self.skip_space();
            if self.peek() == Some('|') {
                self.at += 1;
                alts.push(self.sequence()?);
            } else {
                break;
            }
        }
        Ok(if alts.len() == 1 {
            alts.remove(0)
        } else {
            Expr::Alt(alts)
        })
    }

    fn sequence(&mut self) -> Result<Expr, String> {
        let mut items = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None | Some('|' | ')') => break,
                _ => {
                    let atom = self.atom()?;
                    items.push(self.postfix(atom)?);
                }
            }
        }
        Ok(Expr::Seq(items))
    }

    fn atom(&mut self) -> Result<Expr, String> {
        match self.peek() {
            Some('"') => {
                self.at += 1;
                let mut s = Vec::new();
                loop {
                    match self.peek() {
                        None => return Err("unterminated literal".into()),
                        Some('"') => {
                            self.at += 1;
                            break;
                        }
                        Some(_) => s.push(self.char_in_text()?),
                    }
                }
                Ok(Expr::Lit(s))
            }
            Some('[') => {
                self.at += 1;
                let negated = self.peek() == Some('^');
                if negated {
                    self.at += 1;
                }
                let mut ranges = Vec::new();
                loop {
                    match self.peek() {
                        None => return Err("unterminated class".into()),
                        Some(']') => {
                            self.at += 1;
                            break;
                        }
                        Some(_) => {
                            let lo = self.char_in_text()?;
                            let hi = if self.peek() == Some('-')
                                && self.chars.get(self.at + 1) != Some(&']')
                            {
                                self.at += 1;
                                self.char_in_text()?
                            } else {
                                lo
                            };
                            ranges.push((lo, hi));
                        }
                    }
                }
                Ok(Expr::Class { negated, ranges })
            }
            Some('(') => {
                self.at += 1;
                let e = self.alternatives()?;
                self.skip_space();
                if self.peek() != Some(')') {
                    return Err(format!("expected ')' at {:?}", self.rest()));
                }
                self.at += 1;
                Ok(e)
            }
            Some('.') => {
                self.at += 1;
                Ok(Expr::Any)
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '-' || c == '_' => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    self.at += 1;
                }
                let name: String = self.chars[start..self.at].iter().collect();
                self.names
                    .get(&name)
                    .map(|&i| Expr::Rule(i))
                    .ok_or(format!("undefined rule {name}"))
            }
            _ => Err(format!("unexpected {:?}", self.rest())),
        }
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr, String> {
        loop {
            let (min, max) = match self.peek() {
                Some('?') => (0, Some(1)),
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('{') => {
                    let close = self.chars[self.at..]
                        .iter()
                        .position(|&c| c == '}')
                        .ok_or("unterminated {m,n}")?;
                    let inner: String = self.chars[self.at + 1..self.at + close].iter().collect();
                    self.at += close;
                    let num = |s: &str| s.trim().parse::<usize>().map_err(|e| e.to_string());
                    match inner.split_once(',') {
                        None => (num(&inner)?, Some(num(&inner)?)),
                        Some((m, n)) if n.trim().is_empty() => (num(m)?, None),
                        Some((m, n)) => (num(m)?, Some(num(n)?)),
                    }
                }
                _ => return Ok(e),
            };
            self.at += 1;
            e = Expr::Repeat {
                expr: Box::new(e),
                min,
                max,
            };
        }
    }

    /// One character of a literal or class, escapes decoded.
    fn char_in_text(&mut self) -> Result<char, String> {
        let c = self.peek().ok_or("unexpected end")?;
        self.at += 1;
        if c != '\\' {
            return Ok(c);
        }
        let e = self.peek().ok_or("unterminated escape")?;
        self.at += 1;
        let hex = |p: &mut Self, n: usize| -> Result<char, String> {
            let s: String = p
                .chars
                .get(p.at..p.at + n)
                .ok_or("short escape")?
                .iter()
                .collect();
            p.at += n;
            u32::from_str_radix(&s, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or(format!("bad escape {s}"))
        };
        match e {
            'n' => Ok('\n'),
            'r' => Ok('\r'),
            't' => Ok('\t'),
            'x' => hex(self, 2),
            'u' => hex(self, 4),
            'U' => hex(self, 8),
            c @ ('\\' | '"' | '[' | ']' | '-' | '^') => Ok(c),
            c => Err(format!("unknown escape \\{c}")),
        }
    }
}

struct Matcher<'g> {
    g: &'g Gbnf,
    input: Vec<char>,
    /// Whether reaching the end of the input counts as a match (prefix mode).
    prefix: bool,
    memo: HashMap<(usize, usize), BTreeSet<usize>>,
}

impl Matcher<'_> {
    fn rule(&mut self, rule: usize, at: usize) -> BTreeSet<usize> {
        if let Some(done) = self.memo.get(&(rule, at)) {
            return done.clone();
        }
        // An empty entry while the rule is being computed stops left recursion.
        self.memo.insert((rule, at), BTreeSet::new());
        let g = self.g;
        let ends = self.ends(&g.rules[rule], at);
        self.memo.insert((rule, at), ends.clone());
        ends
    }

    fn one_char(&self, at: usize, ok: impl Fn(char) -> bool) -> BTreeSet<usize> {
        match self.input.get(at) {
            Some(&c) if ok(c) => BTreeSet::from([at + 1]),
            None if self.prefix => BTreeSet::from([at]),
            _ => BTreeSet::new(),
        }
    }

    fn ends(&mut self, e: &Expr, at: usize) -> BTreeSet<usize> {
        match e {
            Expr::Lit(s) => {
                for (i, c) in s.iter().enumerate() {
                    match self.input.get(at + i) {
                        Some(x) if x == c => {}
                        None if self.prefix => return BTreeSet::from([self.input.len()]),
                        _ => return BTreeSet::new(),
                    }
                }
                BTreeSet::from([at + s.len()])
            }
            Expr::Class { negated, ranges } => self.one_char(at, |c| {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }),
            Expr::Any => self.one_char(at, |_| true),
            Expr::Rule(r) => self.rule(*r, at),
            Expr::Alt(alts) => alts.iter().flat_map(|a| self.ends(a, at)).collect(),
            Expr::Seq(items) => {
                let mut here = BTreeSet::from([at]);
                for item in items {
                    here = here.into_iter().flat_map(|p| self.ends(item, p)).collect();
                    if here.is_empty() {
                        break;
                    }
                }
                here
            }
            Expr::Repeat { expr, min, max } => {
                let mut out = BTreeSet::new();
                let mut seen = BTreeSet::new();
                let mut frontier = BTreeSet::from([at]);
                if *min == 0 {
                    out.insert(at);
                    seen.insert(at);
                }
                let mut k = 0;
                while !frontier.is_empty() && max.is_none_or(|m| k < m) {
                    k += 1;
                    let next: BTreeSet<usize> =
                        frontier.iter().flat_map(|&p| self.ends(expr, p)).collect();
                    if k >= *min {
                        // From here on a position already reached adds nothing new.
                        frontier = next.difference(&seen).copied().collect();
                        seen.extend(next.iter().copied());
                        out.extend(next);
                    } else {
                        frontier = next;
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_literals_classes_repeats_and_rules() {
        let g = Gbnf::parse(
            "root ::= \"a\" num (\",\" \" \"? num)* # a comment\n\
             num ::= \"-\"? (\"0\" | [1-9] [0-9]{0,2})\n",
        )
        .unwrap();
        for yes in ["a0", "a-12,3, 999", "a5,0"] {
            assert!(g.accepts(yes), "{yes}");
        }
        for no in ["a", "a01", "a1000", "a1,", "b1", "a1,  2"] {
            assert!(!g.accepts(no), "{no}");
        }
        assert!(g.accepts_prefix("a1,"));
        assert!(g.accepts_prefix(""));
        assert!(!g.accepts_prefix("a01"));
    }

    #[test]
    fn classes_negate_and_escape() {
        let g = Gbnf::parse(r#"root ::= [^ \t\n\u00A0[] ([^\n] | "\n" [^\n])* "\x21""#).unwrap();
        assert!(g.accepts("x[y\nz!"));
        assert!(!g.accepts("[x!"));
        assert!(!g.accepts("\u{A0}x!"));
        assert!(!g.accepts("x\n\n!"));
    }

    #[test]
    fn bad_grammars_are_errors() {
        assert!(Gbnf::parse("root ::= missing").is_err());
        assert!(Gbnf::parse("other ::= \"a\"").is_err());
        assert!(Gbnf::parse("root ::= \"a").is_err());
        assert!(Gbnf::parse("root ::= (\"a\"").is_err());
    }
}
