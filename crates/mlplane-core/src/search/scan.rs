//! A byte-offset cursor over a filter string, with the lexical pieces of the grammar:
//! whitespace, words, quoted strings and numbers.
//!
//! Invariants:
//! - the cursor only ever moves forward, and only to a char boundary of the input;
//! - every scanning method looks at each char at most a constant number of times, so a
//!   whole parse is linear in the input length;
//! - no method panics, whatever the input.

use super::FilterError;

/// Longest excerpt of the input quoted back in an error message, in chars.
const EXCERPT_CHARS: usize = 24;

pub(crate) struct Cursor<'a> {
    src: &'a str,
    pos: usize,
}

/// Whether `c` may appear in an unquoted entity name or key.
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Cursor { src, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Consumes `c` if it is next.
    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    pub(crate) fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// Consumes the longest run of chars satisfying `pred`; may be empty.
    pub(crate) fn take_while(&mut self, pred: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !pred(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.src.get(start..self.pos).unwrap_or("")
    }

    /// Consumes a word (see [`is_word_char`]); may be empty.
    pub(crate) fn word(&mut self) -> &'a str {
        self.take_while(is_word_char)
    }

    /// A short description of what comes next, for "found ..." in error messages.
    pub(crate) fn found(&self) -> String {
        let rest = self.rest();
        let Some(first) = rest.chars().next() else {
            return "end of input".to_string();
        };
        let bounded = rest.chars().take(EXCERPT_CHARS + 1);
        let (token, quoted): (String, bool) = if is_word_char(first) {
            (bounded.take_while(|c| is_word_char(*c)).collect(), false)
        } else if "=!<>".contains(first) {
            (bounded.take_while(|c| "=!<>".contains(*c)).collect(), false)
        } else if matches!(first, '\'' | '"' | '`') {
            let mut token = String::new();
            for (i, c) in bounded.enumerate() {
                token.push(c);
                if i > 0 && c == first {
                    break;
                }
            }
            (token, true)
        } else {
            (first.to_string(), false)
        };
        let mut excerpt: String = token.chars().take(EXCERPT_CHARS).collect();
        if token.chars().count() > EXCERPT_CHARS {
            excerpt.push_str("...");
        }
        if quoted {
            format!("the quoted string {excerpt}")
        } else {
            format!("'{excerpt}'")
        }
    }

    /// An error at the current position.
    pub(crate) fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError::new(self.pos, message)
    }

    /// An "expected X, found Y" error at the current position.
    pub(crate) fn expected(&self, what: &str) -> FilterError {
        self.error(format!("expected {what}, found {}", self.found()))
    }

    /// Reads a string quoted with `'`, `"` or `` ` `` (whichever is next). Inside, the quote
    /// char doubled stands for one quote char; nothing else is special (no backslash escapes).
    /// Returns `None` without moving if no quote is next.
    pub(crate) fn quoted(&mut self) -> Option<Result<String, FilterError>> {
        let quote = self.peek().filter(|c| matches!(c, '\'' | '"' | '`'))?;
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.bump() {
                None => {
                    return Some(Err(FilterError::new(
                        start,
                        format!("unterminated string starting with {quote}"),
                    )));
                }
                Some(c) if c == quote => {
                    if self.eat(quote) {
                        out.push(quote);
                    } else {
                        return Some(Ok(out));
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// Reads a number: `[+-] digits [. digits] [(e|E) [+-] digits]`, with at least one digit
    /// before the exponent, not followed by a word char. Returns `None` without moving if no
    /// number starts here.
    pub(crate) fn number(&mut self) -> Option<Result<f64, FilterError>> {
        let start = self.pos;
        let mut probe = Cursor {
            src: self.src,
            pos: self.pos,
        };
        if !probe.eat('-') {
            probe.eat('+');
        }
        let int_digits = probe.take_while(|c| c.is_ascii_digit()).len();
        let mut frac_digits = 0;
        if probe.peek() == Some('.') {
            probe.pos += 1;
            frac_digits = probe.take_while(|c| c.is_ascii_digit()).len();
        }
        if int_digits + frac_digits == 0 {
            return None;
        }
        if matches!(probe.peek(), Some('e' | 'E')) {
            probe.pos += 1;
            if !probe.eat('-') {
                probe.eat('+');
            }
            if probe.take_while(|c| c.is_ascii_digit()).is_empty() {
                self.pos = probe.pos;
                return Some(Err(
                    self.error("expected digits in the exponent of a number")
                ));
            }
        }
        self.pos = probe.pos;
        if self.peek().is_some_and(is_word_char) {
            self.take_while(is_word_char);
            return Some(Err(FilterError::new(
                start,
                format!(
                    "invalid number '{}'",
                    self.src.get(start..self.pos).unwrap_or("")
                ),
            )));
        }
        let text = self.src.get(start..self.pos).unwrap_or("");
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Some(Ok(v)),
            _ => Some(Err(FilterError::new(
                start,
                format!("number '{text}' is out of range"),
            ))),
        }
    }
}
