//! A small, span-preserving JSON parser and text editor for `manifest.json`.
//!
//! `serde_json` forgets where things came from, but upkeep needs two things it cannot
//! give: diagnostics that name the `file:line:column` of any key or value, and the
//! ability to write a few fields back into the user's file while leaving every other
//! byte (key order, whitespace, indentation, line endings) exactly as the user wrote it.
//!
//! [`parse`] produces a tree of [`Spanned`] values whose spans are byte offsets into the
//! original text; [`set_member`] and [`apply_edits`] rewrite the text surgically using
//! those spans.
//!
//! The input is untrusted (it is whatever the user, or something else, left on disk),
//! so the parser is strict RFC 8259 — no comments, trailing commas, single quotes,
//! `NaN` or lone surrogates — never panics on any input, and caps nesting at
//! [`MAX_DEPTH`] levels so hostile input cannot exhaust the stack. Duplicate object
//! keys are kept rather than rejected so the caller can report them with both spans.
//!
//! The files: the tree, its spans and errors, [`parse`] and [`line_col`] here; the
//! structure (values, objects, arrays, nesting) in `parser.rs`; literals, numbers and
//! strings in `scalars.rs`; the text edits in `edit.rs`.

mod edit;
mod parser;
mod scalars;
#[cfg(test)]
mod tests;

use std::fmt;

pub(crate) use edit::{apply_edits, encode_string, set_member};
use parser::Parser;

/// Deepest nesting of arrays and objects accepted; also bounds the parser's recursion.
const MAX_DEPTH: usize = 128;

/// Editors on Windows like to prepend one; it is not part of the JSON text.
const BOM: &str = "\u{feff}";

/// A half-open byte range `start..end` into the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Offset of the first byte.
    pub(crate) start: usize,
    /// Offset one past the last byte.
    pub(crate) end: usize,
}

/// A value together with the span of source text it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned<T> {
    /// Where `value` sits in the source; for strings the quotes are included, for
    /// arrays and objects the brackets or braces are.
    pub(crate) span: Span,
    /// The parsed value.
    pub(crate) value: T,
}

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// The number's raw source text (e.g. `-2.5e3`), already checked against the
    /// RFC 8259 grammar; kept as text so no precision is lost before the caller decides
    /// which numeric type it wants.
    Number(String),
    /// A string with its escapes resolved.
    String(String),
    /// Array elements in source order.
    Array(Vec<Spanned<Value>>),
    /// Object members in source order; duplicate keys are kept.
    Object(Vec<Member>),
}

/// One `"key": value` pair of an object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member {
    /// The unescaped key; its span includes the quotes.
    pub(crate) key: Spanned<String>,
    /// The member's value.
    pub(crate) value: Spanned<Value>,
}

/// Why the text is not valid JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// The offending text; zero-length at the end of input when the input stopped too
    /// early, except for an unterminated string, whose span starts at its opening quote
    /// so the diagnostic points where the mistake most likely is.
    pub(crate) span: Span,
    /// A lowercase sentence fragment such as ``expected `:` after object key``.
    pub(crate) message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SyntaxError {}

impl Value {
    /// The JSON name of this value's type, for messages like "expected a string, found
    /// a number".
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// The value of the first member named `key`, if this is an object that has one.
    pub(crate) fn get(&self, key: &str) -> Option<&Spanned<Value>> {
        match self {
            Value::Object(members) => members
                .iter()
                .find(|member| member.key.value == key)
                .map(|member| &member.value),
            _ => None,
        }
    }
}

/// Parses one JSON document strictly per RFC 8259.
///
/// A leading UTF-8 byte order mark is skipped; spans still count it, so they remain
/// offsets into `src` as given.
pub(crate) fn parse(src: &str) -> Result<Spanned<Value>, SyntaxError> {
    let mut parser = Parser {
        src,
        bytes: src.as_bytes(),
        pos: if src.starts_with(BOM) { BOM.len() } else { 0 },
        depth: 0,
    };
    parser.skip_whitespace();
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.pos < parser.bytes.len() {
        return Err(parser.unexpected("unexpected content after the JSON value"));
    }
    Ok(value)
}

/// 1-based line and column (column counted in chars) of a byte offset.
///
/// Offsets past the end are clamped to the end, and a byte order mark at the start of
/// the text is not counted as a column, matching what editors display.
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "diagnostics compute positions in diag.rs; kept for fuzzing and tests"
    )
)]
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src.as_bytes()[..offset.min(src.len())];
    let (mut line, mut line_start) = (1, 0);
    for (i, &b) in before.iter().enumerate() {
        if b == b'\n' {
            line += 1;
            line_start = i + 1;
        }
    }
    let mut in_line = &before[line_start..];
    if line_start == 0 && src.starts_with(BOM) {
        in_line = in_line.get(BOM.len()..).unwrap_or_default();
    }
    // Counting non-continuation bytes counts chars without requiring `offset` to sit on
    // a char boundary.
    let column = 1 + in_line.iter().filter(|&&b| b & 0xC0 != 0x80).count();
    (line, column)
}
