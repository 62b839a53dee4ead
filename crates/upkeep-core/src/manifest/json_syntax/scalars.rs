//! The scalar tokens: `true`/`false`/`null`, numbers, and strings with their escapes
//! (surrogate pairs joined, lone surrogates rejected).

use super::parser::{ParseResult, Parser, syntax_error};
use super::{Span, Spanned, SyntaxError, Value};

impl Parser<'_> {
    pub(super) fn word_end(&self) -> usize {
        let len = self.bytes[self.pos..]
            .iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
            .count();
        self.pos + len
    }

    pub(super) fn literal(&mut self) -> ParseResult<Spanned<Value>> {
        let start = self.pos;
        let end = self.word_end();
        let value = match &self.src[start..end] {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            word => {
                // The word is ASCII, so byte truncation is a char boundary; the cap keeps
                // a hostile megabyte-long word out of the message.
                let shown = if word.len() > 32 {
                    format!("{}…", &word[..32])
                } else {
                    word.to_owned()
                };
                return Err(syntax_error(
                    start,
                    end,
                    format!("invalid literal `{shown}`"),
                ));
            }
        };
        self.pos = end;
        Ok(Spanned {
            span: Span { start, end },
            value,
        })
    }

    pub(super) fn number(&mut self) -> ParseResult<Spanned<Value>> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.skip_digits();
                    return Err(syntax_error(
                        start,
                        self.pos,
                        "leading zeros are not allowed in numbers",
                    ));
                }
            }
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.unexpected("expected a digit after `-`")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.require_digits("expected a digit after the decimal point")?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.require_digits("expected a digit in the exponent")?;
        }
        let span = Span {
            start,
            end: self.pos,
        };
        Ok(Spanned {
            span,
            value: Value::Number(self.src[start..self.pos].to_owned()),
        })
    }

    pub(super) fn skip_digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    pub(super) fn require_digits(&mut self, expected: &str) -> ParseResult<()> {
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(self.unexpected(expected));
        }
        self.skip_digits();
        Ok(())
    }

    /// Parses the string starting at the current `"`; the span includes both quotes.
    pub(super) fn string(&mut self) -> ParseResult<Spanned<String>> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        // Unescaped text is copied a run at a time; runs end only at ASCII bytes, so
        // they are always valid `str` slices.
        let mut run = self.pos;
        loop {
            // A tight scan to the next interesting byte is much faster than dispatching
            // on every byte of long strings.
            let rest = &self.bytes[self.pos..];
            self.pos += rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(rest.len());
            match self.bytes.get(self.pos) {
                Some(b'"') => break,
                Some(b'\\') => {
                    out.push_str(&self.src[run..self.pos]);
                    self.escape(start, &mut out)?;
                    run = self.pos;
                }
                // A raw line break almost always means a missing closing quote, so say
                // that rather than complain about a control character.
                None | Some(b'\n' | b'\r') => {
                    return Err(syntax_error(start, self.pos, "unterminated string"));
                }
                Some(b) => {
                    let message = format!("unescaped control character U+{b:04X} in string");
                    return Err(syntax_error(self.pos, self.pos + 1, message));
                }
            }
        }
        out.push_str(&self.src[run..self.pos]);
        self.pos += 1;
        Ok(Spanned {
            span: Span {
                start,
                end: self.pos,
            },
            value: out,
        })
    }

    /// Decodes the escape at the current backslash into `out`.
    pub(super) fn escape(&mut self, string_start: usize, out: &mut String) -> ParseResult<()> {
        let backslash = self.pos;
        let Some(&b) = self.bytes.get(backslash + 1) else {
            return Err(syntax_error(
                string_start,
                backslash + 1,
                "unterminated string",
            ));
        };
        let decoded = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => self.unicode_escape(string_start)?,
            _ => return Err(self.invalid_escape(backslash)),
        };
        out.push(decoded);
        if b != b'u' {
            self.pos = backslash + 2;
        }
        Ok(())
    }

    pub(super) fn invalid_escape(&self, backslash: usize) -> SyntaxError {
        let end = self.char_end(backslash + 1);
        let escaped = &self.src[backslash + 1..end];
        let message = if escaped.chars().any(char::is_control) {
            "invalid escape: `\\` followed by a control character".to_owned()
        } else {
            format!("invalid escape `\\{escaped}`")
        };
        syntax_error(backslash, end, message)
    }

    /// Decodes `\uXXXX`, or a `\uXXXX\uXXXX` surrogate pair, at the current backslash.
    pub(super) fn unicode_escape(&mut self, string_start: usize) -> ParseResult<char> {
        let first = self.pos;
        let code = self.hex4(string_start)?;
        let code = match code {
            0xD800..=0xDBFF => {
                if !self.bytes[self.pos..].starts_with(b"\\u") {
                    return Err(self.unpaired_surrogate(first));
                }
                let low = self.hex4(string_start)?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.unpaired_surrogate(first));
                }
                0x1_0000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.unpaired_surrogate(first)),
            _ => code,
        };
        // Surrogates were handled above, so this always succeeds; the fallback only
        // avoids a panic path.
        char::from_u32(code).ok_or_else(|| self.unpaired_surrogate(first))
    }

    pub(super) fn unpaired_surrogate(&self, escape_start: usize) -> SyntaxError {
        let end = escape_start + 6;
        let message = format!(
            "unpaired surrogate `{}` in string",
            &self.src[escape_start..end]
        );
        syntax_error(escape_start, end, message)
    }

    /// Reads the four hex digits of the `\u` escape at the current position and moves
    /// past them.
    pub(super) fn hex4(&mut self, string_start: usize) -> ParseResult<u32> {
        let escape_start = self.pos;
        let mut code = 0;
        for at in escape_start + 2..escape_start + 6 {
            let Some(&b) = self.bytes.get(at) else {
                return Err(syntax_error(string_start, at, "unterminated string"));
            };
            let Some(digit) = char::from(b).to_digit(16) else {
                let message = "invalid unicode escape, expected 4 hex digits after `\\u`";
                return Err(syntax_error(escape_start, self.char_end(at), message));
            };
            code = code * 16 + digit;
        }
        self.pos = escape_start + 6;
        Ok(code)
    }
}
