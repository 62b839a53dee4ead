//! Surgical edits of the text: replacing or inserting one object member with the file's
//! own indentation, colon spacing and line endings, and applying a set of edits at once.

use super::{Member, Span, Spanned, Value, parse};

/// A replacement of the text in `span` by `text`; a zero-length span is an insertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    /// The source range to replace.
    pub(crate) span: Span,
    /// The replacement text.
    pub(crate) text: String,
}

/// Apply non-overlapping edits (any order given) and return the new text.
///
/// Insertions at the same offset are applied in the order given. Panics if two edits
/// overlap or a span is not a valid range of `src`, since either means the spans came
/// from a different text than `src`.
pub(crate) fn apply_edits(src: &str, edits: &[Edit]) -> String {
    let mut ordered: Vec<&Edit> = edits.iter().collect();
    // Sorting by end as well puts an insertion before a replacement starting at the
    // same offset, so the two do not count as overlapping.
    ordered.sort_by_key(|edit| (edit.span.start, edit.span.end));
    let added: usize = edits.iter().map(|edit| edit.text.len()).sum();
    let mut out = String::with_capacity(src.len() + added);
    let mut cursor = 0;
    for edit in ordered {
        let Span { start, end } = edit.span;
        assert!(start >= cursor, "overlapping edits at byte {start}");
        assert!(
            start <= end && end <= src.len(),
            "edit span {start}..{end} is out of range"
        );
        out.push_str(&src[cursor..start]);
        out.push_str(&edit.text);
        cursor = end;
    }
    out.push_str(&src[cursor..]);
    out
}

/// An edit that sets `key` in the object whose `Spanned` is `object` to the JSON text `value_json`:
/// replaces the existing value if the key is present, otherwise inserts a new member after the
/// last member, copying the previous member's indentation/newline style (or `{"key": v}` style
/// for an empty object). Panics (`debug_assert`) if `object` is not an object.
///
/// `object` must have been parsed from `src`. With duplicate keys the first is replaced,
/// matching [`Value::get`]. `value_json` is inserted verbatim, so a multi-line value
/// must already carry the indentation it should have. In release builds a non-object
/// yields an empty insertion, which changes nothing.
///
/// Several new keys for one non-empty object can be applied together (they are
/// insertions at the same offset and land in the order given), but for an empty object
/// each edit replaces the whole `{}`, so apply one, re-parse, then set the next.
pub(crate) fn set_member(src: &str, object: &Spanned<Value>, key: &str, value_json: &str) -> Edit {
    debug_assert!(
        parse(value_json).is_ok(),
        "value_json is not valid JSON: {value_json}"
    );
    debug_assert!(
        matches!(object.value, Value::Object(_)),
        "set_member called on {}",
        object.value.kind_name()
    );
    let Value::Object(members) = &object.value else {
        let at = object.span.start;
        return Edit {
            span: Span { start: at, end: at },
            text: String::new(),
        };
    };
    if let Some(existing) = members.iter().find(|member| member.key.value == key) {
        return Edit {
            span: existing.value.span,
            text: value_json.to_owned(),
        };
    }
    let key_json = encode_string(key);
    let Some(last) = members.last() else {
        return Edit {
            span: object.span,
            text: format!("{{{key_json}: {value_json}}}"),
        };
    };
    let colon = &src[last.key.span.end..last.value.span.start];
    let separator = member_separator(src, last, members.len() == 1, colon);
    let at = last.value.span.end;
    Edit {
        span: Span { start: at, end: at },
        text: format!(",{separator}{key_json}{colon}{value_json}"),
    }
}

/// The whitespace to put between the new member's comma and its key.
fn member_separator<'a>(src: &'a str, last: &Member, only_member: bool, colon: &str) -> &'a str {
    let before_key = &src[..last.key.span.start];
    let indent = &before_key[before_key.trim_end_matches(is_json_whitespace).len()..];
    // A sole member written hard against `{` says nothing about spacing after commas,
    // so follow the colon's spacing instead: `{"a": 1, "b": 2}` but `{"a":1,"b":2}`.
    if only_member && indent.is_empty() {
        return if colon.ends_with(is_json_whitespace) {
            " "
        } else {
            ""
        };
    }
    indent
}

fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// JSON-encode a string (quotes included), escaping per RFC 8259.
///
/// Only `"`, `\` and control characters are escaped; everything else, including
/// non-ASCII text, is written as is.
pub(crate) fn encode_string(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\0'..='\u{1f}' => {
                let code = c as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[code >> 4]));
                out.push(char::from(HEX[code & 0xF]));
            }
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}
