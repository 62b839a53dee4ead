//! The recursive-descent parser: values, objects and arrays, separators, the nesting
//! limit, and the errors that point at what was found instead.

use super::{MAX_DEPTH, Member, Span, Spanned, SyntaxError, Value};

pub(super) type ParseResult<T> = Result<T, SyntaxError>;

pub(super) fn syntax_error(start: usize, end: usize, message: impl Into<String>) -> SyntaxError {
    SyntaxError {
        span: Span { start, end },
        message: message.into(),
    }
}

/// Recursive-descent parser over the source bytes; `pos` only ever stops on char
/// boundaries because it steps over ASCII bytes or whole strings.
pub(super) struct Parser<'a> {
    pub(super) src: &'a str,
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
    pub(super) depth: usize,
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(super) fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// End of the char starting at `pos` (or `pos` itself at the end of input).
    pub(super) fn char_end(&self, pos: usize) -> usize {
        self.src
            .get(pos..)
            .and_then(|rest| rest.chars().next())
            .map_or(pos, |c| pos + c.len_utf8())
    }

    /// An error for whatever is at the current position when `expected` was not found.
    pub(super) fn unexpected(&self, expected: &str) -> SyntaxError {
        let pos = self.pos;
        match &self.bytes[pos..] {
            [] => syntax_error(pos, pos, format!("unexpected end of input, {expected}")),
            [b'/', b'/' | b'*', ..] => {
                syntax_error(pos, pos + 2, "comments are not allowed in JSON")
            }
            _ => syntax_error(pos, self.char_end(pos), expected),
        }
    }

    pub(super) fn single_quote_error(&self) -> SyntaxError {
        syntax_error(
            self.pos,
            self.pos + 1,
            "single-quoted strings are not allowed in JSON",
        )
    }

    /// Parses the value at the current position, which must not be whitespace.
    pub(super) fn value(&mut self) -> ParseResult<Spanned<Value>> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => {
                let string = self.string()?;
                Ok(Spanned {
                    span: string.span,
                    value: Value::String(string.value),
                })
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b) if b.is_ascii_alphabetic() => self.literal(),
            Some(b'\'') => Err(self.single_quote_error()),
            _ => Err(self.unexpected("expected a value")),
        }
    }

    /// Called on an opening bracket or brace; the depth check is what keeps hostile
    /// input from overflowing the stack.
    pub(super) fn enter(&mut self) -> ParseResult<()> {
        if self.depth == MAX_DEPTH {
            return Err(syntax_error(
                self.pos,
                self.pos + 1,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        self.pos += 1;
        Ok(())
    }

    /// Finishes an array or object whose closing delimiter has just been consumed.
    pub(super) fn leave(&mut self, start: usize, value: Value) -> Spanned<Value> {
        self.depth -= 1;
        Spanned {
            span: Span {
                start,
                end: self.pos,
            },
            value,
        }
    }

    pub(super) fn object(&mut self) -> ParseResult<Spanned<Value>> {
        let start = self.pos;
        self.enter()?;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(self.leave(start, Value::Object(members)));
        }
        let mut expected_key = "expected a string key or `}`";
        loop {
            let key = self.object_key(expected_key)?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("expected `:` after object key"));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value()?;
            members.push(Member { key, value });
            if self.list_separator(b'}', "expected `,` or `}` after object member")? {
                return Ok(self.leave(start, Value::Object(members)));
            }
            expected_key = "expected a string key";
        }
    }

    pub(super) fn object_key(&mut self, expected: &str) -> ParseResult<Spanned<String>> {
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'\'') => Err(self.single_quote_error()),
            Some(b) if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' => {
                let end = self.word_end();
                Err(syntax_error(
                    self.pos,
                    end,
                    "object keys must be double-quoted strings",
                ))
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    pub(super) fn array(&mut self) -> ParseResult<Spanned<Value>> {
        let start = self.pos;
        self.enter()?;
        let mut elements = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(self.leave(start, Value::Array(elements)));
        }
        loop {
            elements.push(self.value()?);
            if self.list_separator(b']', "expected `,` or `]` after array element")? {
                return Ok(self.leave(start, Value::Array(elements)));
            }
        }
    }

    /// Consumes the `,` or `close` after an element and the whitespace after a comma;
    /// returns whether the list was closed.
    pub(super) fn list_separator(&mut self, close: u8, expected: &str) -> ParseResult<bool> {
        self.skip_whitespace();
        match self.peek() {
            Some(b',') => {
                let comma = self.pos;
                self.pos += 1;
                self.skip_whitespace();
                if self.peek() == Some(close) {
                    return Err(syntax_error(
                        comma,
                        comma + 1,
                        "trailing comma is not allowed in JSON",
                    ));
                }
                Ok(false)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.unexpected(expected)),
        }
    }
}
