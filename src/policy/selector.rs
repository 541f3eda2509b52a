//! JSONPath selectors: the RFC 9535 subset a streaming rewriter can evaluate.
//!
//! Supported: the root `$`; child segments `.name`, `.*`, `['name']`, `["name"]`, `[*]`, `[N]`;
//! descendant segments `..name`, `..*`, `..['name']`, `..[N]`; and unions inside brackets
//! (`['a','b']`, `[0,1]`, `['a',0,*]`). Names in brackets use RFC 9535 string-literal escapes,
//! so `['\u0065mail']` is `email`.
//!
//! Refused, each with a message that says why: filter selectors (`?…`) need the whole value
//! before deciding, slices (`1:3`) and negative indexes (`[-1]`) need the array's length — a
//! one-pass rewriter knows neither when it must decide. Function extensions are not in the
//! subset either.
//!
//! The parser works on characters, not bytes, so a [`SelectorError::offset`] can be shown under
//! the selector as typed (a config diagnostic points at `select = "…"` plus this offset).

use std::fmt;

pub mod chain;

pub use chain::{Chain, ChainStep, Place, parse_chain};

/// A parsed JSONPath: a sequence of segments from the root. `$` alone has no steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    /// Segments from the root, in order.
    pub steps: Vec<Step>,
}

/// One segment of a path: an axis and the selectors (a union when more than one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Child (`.x`, `[0]`) or descendant (`..x`).
    pub axis: Axis,
    /// The selectors of the segment; a node matches if any of them does. Never empty.
    pub tests: Vec<Test>,
}

/// How a segment relates to the nodes the previous segment selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Direct children.
    Child,
    /// Any descendant at any depth (`..`).
    Descendant,
}

/// What one selector matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// An object member with this (decoded) name.
    Name(Box<str>),
    /// An array element at this 0-based index.
    Index(u32),
    /// Any member or element.
    Wildcard,
}

/// A selector that does not parse. The offset is into the selector text (never a payload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {offset})")]
pub struct SelectorError {
    /// 0-based character offset into the selector.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses one JSONPath selector.
///
/// # Errors
/// [`SelectorError`] locating the first problem, with a message that says how to fix it.
pub fn parse(text: &str) -> Result<JsonPath, SelectorError> {
    Parser {
        chars: text.chars().collect(),
        pos: 0,
    }
    .path()
}

// === impl JsonPath ===

impl JsonPath {
    /// Whether the path is `$` alone (selects the whole document).
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Prints the normalized form: bracket notation for every name, so the output parses back to
/// the same path.
impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for step in &self.steps {
            if step.axis == Axis::Descendant {
                f.write_str("..")?;
            }
            f.write_str("[")?;
            for (n, test) in step.tests.iter().enumerate() {
                if n > 0 {
                    f.write_str(",")?;
                }
                match test {
                    Test::Name(name) => write_name_literal(name, f)?,
                    Test::Index(i) => write!(f, "{i}")?,
                    Test::Wildcard => f.write_str("*")?,
                }
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

fn write_name_literal(name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("'")?;
    for c in name.chars() {
        match c {
            '\'' => f.write_str("\\'")?,
            '\\' => f.write_str("\\\\")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("'")
}

// === Parser ===

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

type Parsed<T> = Result<T, SelectorError>;

/// RFC 9535 `B`: the only whitespace allowed between segments and inside brackets.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// RFC 9535 `name-first`: ALPHA / "_" / any non-ASCII scalar value.
fn is_name_first(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || !c.is_ascii()
}

fn is_name_char(c: char) -> bool {
    is_name_first(c) || c.is_ascii_digit()
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn fail<T>(&self, offset: usize, message: impl Into<String>) -> Parsed<T> {
        Err(SelectorError {
            offset,
            message: message.into(),
        })
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
    }

    fn path(mut self) -> Parsed<JsonPath> {
        match self.peek() {
            None => return self.fail(0, "empty selector; a JSONPath starts with `$`"),
            Some('$') => self.pos += 1,
            Some(_) => {
                return self.fail(0, "a JSONPath starts with `$`, e.g. `$.user.email`");
            }
        }
        let mut steps = Vec::new();
        loop {
            let before = self.pos;
            self.skip_blanks();
            let Some(c) = self.peek() else {
                if self.pos != before {
                    return self.fail(before, "whitespace at the end of the selector; remove it");
                }
                return Ok(JsonPath { steps });
            };
            match c {
                '.' if self.peek_at(1) == Some('.') => {
                    self.pos += 2;
                    steps.push(self.after_dots(Axis::Descendant)?);
                }
                '.' => {
                    self.pos += 1;
                    steps.push(self.after_dots(Axis::Child)?);
                }
                '[' => {
                    let tests = self.bracketed()?;
                    steps.push(Step {
                        axis: Axis::Child,
                        tests,
                    });
                }
                _ => {
                    let hint = if before > 0
                        && self.chars.get(before - 1).is_some_and(|p| is_name_char(*p))
                        && before == self.pos
                    {
                        "; a name with other characters needs brackets, e.g. `$['user-id']`"
                    } else {
                        ""
                    };
                    return self.fail(
                        self.pos,
                        format!("unexpected `{c}`; expected `.`, `..` or `[`{hint}"),
                    );
                }
            }
        }
    }

    /// After `.` or `..`: a shorthand name, `*`, or (for `..` only) a bracketed segment.
    fn after_dots(&mut self, axis: Axis) -> Parsed<Step> {
        let at = self.pos;
        let tests = match self.peek() {
            Some('*') => {
                self.pos += 1;
                vec![Test::Wildcard]
            }
            Some('[') if axis == Axis::Descendant => self.bracketed()?,
            Some(c) if is_name_first(c) => {
                let start = self.pos;
                while self.peek().is_some_and(is_name_char) {
                    self.pos += 1;
                }
                let name: String = self.chars[start..self.pos].iter().collect();
                vec![Test::Name(name.into())]
            }
            Some('[') => {
                return self.fail(at, "`.[` is not JSONPath; write `[` without the dot");
            }
            Some(c) if c.is_ascii_digit() => {
                return self.fail(
                    at,
                    "a name cannot start with a digit; use `['…']` for names, `[N]` for indexes",
                );
            }
            Some(c) if is_blank(c) => {
                return self.fail(at, "whitespace after `.`; write the name right after it");
            }
            Some(_) => {
                return self.fail(
                    at,
                    "expected a member name or `*` here; a name with other characters needs \
                     brackets, e.g. `$['user-id']`",
                );
            }
            None => return self.fail(at, "the selector ends after a dot; add a name or `*`"),
        };
        Ok(Step { axis, tests })
    }

    /// `[` selector *( "," selector ) `]`, blanks allowed around each selector.
    fn bracketed(&mut self) -> Parsed<Vec<Test>> {
        let open = self.pos;
        self.pos += 1; // '['
        let mut tests = Vec::new();
        loop {
            self.skip_blanks();
            if tests.is_empty() && self.peek() == Some(']') {
                return self.fail(open, "empty brackets; put a name, an index or `*` inside");
            }
            tests.push(self.selector()?);
            self.skip_blanks();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    return Ok(tests);
                }
                Some(':') => {
                    return self.fail(
                        self.pos,
                        "array slices are not supported: a streaming rewriter decides before \
                         it knows an array's length; use indexes or `[*]`",
                    );
                }
                Some(c) => {
                    return self.fail(self.pos, format!("unexpected `{c}`; expected `,` or `]`"));
                }
                None => return self.fail(open, "unclosed `[`"),
            }
        }
    }

    fn selector(&mut self) -> Parsed<Test> {
        let at = self.pos;
        match self.peek() {
            Some(q @ ('\'' | '"')) => Ok(Test::Name(self.string_literal(q)?.into())),
            Some('*') => {
                self.pos += 1;
                Ok(Test::Wildcard)
            }
            Some('?') => self.fail(
                at,
                "filter selectors (`?…`) are not supported: a streaming rewriter must decide \
                 before it has seen the whole value",
            ),
            Some(':') => self.fail(
                at,
                "array slices are not supported: a streaming rewriter decides before it knows \
                 an array's length; use indexes or `[*]`",
            ),
            Some('-') => self.fail(
                at,
                "negative indexes are not supported: a streaming rewriter cannot know an array's \
                 length when it reaches an element",
            ),
            Some(c) if c.is_ascii_digit() => self.index(),
            Some(_) => self.fail(at, "expected a quoted name, an index or `*`"),
            None => self.fail(at, "unclosed `[`"),
        }
    }

    fn index(&mut self) -> Parsed<Test> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos - start > 1 && self.chars[start] == '0' {
            return self.fail(start, "leading zeros are not allowed in an index");
        }
        let digits: String = self.chars[start..self.pos].iter().collect();
        match digits.parse::<u32>() {
            Ok(n) => Ok(Test::Index(n)),
            Err(_) => self.fail(start, format!("index is larger than {}", u32::MAX)),
        }
    }

    /// A quoted name with RFC 9535 escapes; `quote` is `'` or `"`.
    fn string_literal(&mut self, quote: char) -> Parsed<String> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let at = self.pos;
            let Some(c) = self.peek() else {
                return self.fail(open, "unterminated string; close it with the same quote");
            };
            self.pos += 1;
            match c {
                c if c == quote => return Ok(out),
                '\\' => out.push(self.escape(quote, at)?),
                c if (c as u32) < 0x20 => {
                    return self.fail(at, "control character in a name; write it as `\\uXXXX`");
                }
                c => out.push(c),
            }
        }
    }

    /// After a backslash at `at`; returns the escaped character.
    fn escape(&mut self, quote: char, at: usize) -> Parsed<char> {
        let Some(c) = self.peek() else {
            return self.fail(at, "unterminated escape");
        };
        self.pos += 1;
        Ok(match c {
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            '/' => '/',
            '\\' => '\\',
            c if c == quote => c,
            'u' => return self.unicode_escape(at),
            _ => {
                let allowed = format!(r"\b \f \n \r \t \/ \\ \{quote} \uXXXX");
                return self.fail(at, format!("invalid escape `\\{c}`; allowed: {allowed}"));
            }
        })
    }

    fn hex4(&mut self, at: usize) -> Parsed<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let Some(d) = self.peek().and_then(|c| c.to_digit(16)) else {
                return self.fail(at, "`\\u` needs four hex digits");
            };
            v = v * 16 + d;
            self.pos += 1;
        }
        Ok(v)
    }

    fn unicode_escape(&mut self, at: usize) -> Parsed<char> {
        let hi = self.hex4(at)?;
        let code = match hi {
            0xD800..=0xDBFF => {
                if self.peek() != Some('\\') || self.peek_at(1) != Some('u') {
                    return self.fail(at, "lone surrogate in `\\u` escape");
                }
                let low_at = self.pos;
                self.pos += 2;
                let lo = self.hex4(low_at)?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return self.fail(at, "lone surrogate in `\\u` escape");
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => return self.fail(at, "lone surrogate in `\\u` escape"),
            v => v,
        };
        match char::from_u32(code) {
            Some(c) => Ok(c),
            None => self.fail(at, "invalid `\\u` escape"),
        }
    }
}

#[cfg(test)]
mod tests;
