//! Spans, errors and edits of the JSON parser, checked against `serde_json` where it
//! has an opinion.

use super::edit::Edit;
use super::*;

fn ok(src: &str) -> Spanned<Value> {
    parse(src).unwrap_or_else(|e| panic!("{src:?} failed to parse: {e:?}"))
}

fn err(src: &str) -> SyntaxError {
    match parse(src) {
        Ok(value) => panic!("{src:?} parsed unexpectedly: {value:?}"),
        Err(e) => e,
    }
}

fn span(start: usize, end: usize) -> Span {
    Span { start, end }
}

fn slice(src: &str, span: Span) -> &str {
    &src[span.start..span.end]
}

fn to_serde(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Number(raw) => serde_json::from_str(raw).expect("a validated number"),
        Value::String(s) => s.clone().into(),
        Value::Array(items) => items.iter().map(|item| to_serde(&item.value)).collect(),
        Value::Object(members) => {
            // Last duplicate wins, as in serde_json, so the two can be compared.
            let mut map = serde_json::Map::new();
            for member in members {
                map.insert(member.key.value.clone(), to_serde(&member.value.value));
            }
            map.into()
        }
    }
}

/// Every span must cut out text that parses, on its own, to the same value.
fn assert_spans_reparse(src: &str, value: &Spanned<Value>) {
    let own = ok(slice(src, value.span));
    assert_eq!(
        to_serde(&own.value),
        to_serde(&value.value),
        "span {:?}",
        value.span
    );
    match &value.value {
        Value::Array(items) => items
            .iter()
            .for_each(|item| assert_spans_reparse(src, item)),
        Value::Object(members) => {
            for member in members {
                let key = ok(slice(src, member.key.span));
                assert_eq!(key.value, Value::String(member.key.value.clone()));
                assert_spans_reparse(src, &member.value);
            }
        }
        _ => {}
    }
}

const SAMPLE: &str = r#"{
  "name": "demo \"quoted\" \u00e9 \ud83d\ude00",
  "version": 3,
  "modules": [
{"id": "apt", "args": ["-y", "--quiet"], "timeout": 1.5e2, "enabled": true},
{"id": "flatpak", "env": {}, "retries": -0, "notes": null, "tags": []}
  ],
  "ünïcode": "日本語",
  "empty": ""
}
"#;

#[test]
fn scalars_parse_with_exact_spans() {
    assert_eq!(
        ok("null"),
        Spanned {
            span: span(0, 4),
            value: Value::Null
        }
    );
    assert_eq!(ok(" true ").value, Value::Bool(true));
    assert_eq!(ok(" true ").span, span(1, 5));
    assert_eq!(ok("false").value, Value::Bool(false));
    assert_eq!(ok("\"hi\"").span, span(0, 4));
    assert_eq!(ok("\"hi\"").value, Value::String("hi".to_owned()));
    for number in [
        "0",
        "-0",
        "7",
        "-2.5e3",
        "1E+2",
        "1e-7",
        "0.000",
        "12345678901234567890123",
    ] {
        assert_eq!(ok(number).value, Value::Number(number.to_owned()));
        assert_eq!(ok(number).span, span(0, number.len()));
    }
}

#[test]
fn containers_span_their_delimiters() {
    let src = r#" {"a": [1, {"b": null}], "c": {}} "#;
    let root = ok(src);
    assert_eq!(slice(src, root.span), r#"{"a": [1, {"b": null}], "c": {}}"#);
    let Value::Object(members) = &root.value else {
        panic!("not an object")
    };
    assert_eq!(slice(src, members[0].key.span), r#""a""#);
    assert_eq!(slice(src, members[0].value.span), r#"[1, {"b": null}]"#);
    assert_eq!(slice(src, members[1].value.span), "{}");
    let Value::Array(items) = &members[0].value.value else {
        panic!("not an array")
    };
    assert_eq!(slice(src, items[1].span), r#"{"b": null}"#);
    assert_eq!(
        items[1].value.get("b").map(|v| &v.value),
        Some(&Value::Null)
    );
}

#[test]
fn sample_round_trips_through_spans_and_matches_serde_json() {
    let root = ok(SAMPLE);
    assert_eq!(root.span, span(0, SAMPLE.len() - 1));
    assert_spans_reparse(SAMPLE, &root);
    let expected: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    assert_eq!(to_serde(&root.value), expected);
    assert_eq!(apply_edits(SAMPLE, &[]), SAMPLE);
}

#[test]
fn byte_order_mark_and_surrounding_whitespace_are_skipped() {
    let src = "\u{feff} \t\r\n{\"a\": 1}\n\n";
    let root = ok(src);
    assert_eq!(root.span, span(7, 15));
    assert_eq!(slice(src, root.span), "{\"a\": 1}");
    assert_eq!(line_col(src, root.span.start), (2, 1));
}

#[test]
fn duplicate_keys_are_kept_in_source_order() {
    let src = r#"{"a": 1, "b": 2, "a": 3}"#;
    let root = ok(src);
    let Value::Object(members) = &root.value else {
        panic!("not an object")
    };
    let keys: Vec<&str> = members.iter().map(|m| m.key.value.as_str()).collect();
    assert_eq!(keys, ["a", "b", "a"]);
    assert_eq!(members[2].key.span, span(17, 20));
    assert_eq!(
        root.value.get("a").unwrap().value,
        Value::Number("1".to_owned())
    );
    assert_eq!(root.value.get("missing"), None);
    assert_eq!(ok("[1]").value.get("a"), None);
}

#[test]
fn kind_names() {
    let kinds: Vec<&str> = ["null", "true", "1", "\"s\"", "[]", "{}"]
        .iter()
        .map(|src| ok(src).value.kind_name())
        .collect();
    assert_eq!(
        kinds,
        ["null", "boolean", "number", "string", "array", "object"]
    );
}

#[test]
fn string_escapes_are_decoded() {
    let src = r#""\" \\ \/ \b \f \n \r \t \u0041 \u00E9 \u20ac \ud83d\ude00 \u0000""#;
    let expected = "\" \\ / \u{8} \u{c} \n \r \t A é € 😀 \0";
    assert_eq!(ok(src).value, Value::String(expected.to_owned()));
    assert_eq!(
        ok("\"日本語 😀\"").value,
        Value::String("日本語 😀".to_owned())
    );
    assert_eq!(ok("\"😀\"").span, span(0, 6));
    assert_eq!(ok("\"\u{7f}\"").value, Value::String("\u{7f}".to_owned()));
}

fn assert_error(src: &str, message: &str, expected: Span) {
    let error = err(src);
    assert_eq!(
        (error.message.as_str(), error.span),
        (message, expected),
        "for {src:?}"
    );
}

#[test]
fn structural_errors() {
    assert_error(
        "{\"a\": 1 \"b\": 2}",
        "expected `,` or `}` after object member",
        span(8, 9),
    );
    assert_error(
        "{\"a\": 1,}",
        "trailing comma is not allowed in JSON",
        span(7, 8),
    );
    assert_error(
        "[1, 2,\n]",
        "trailing comma is not allowed in JSON",
        span(5, 6),
    );
    assert_error(
        "[1 2]",
        "expected `,` or `]` after array element",
        span(3, 4),
    );
    assert_error("{\"a\" 1}", "expected `:` after object key", span(5, 6));
    assert_error("{,}", "expected a string key or `}`", span(1, 2));
    assert_error("{\"a\": 1, ,}", "expected a string key", span(9, 10));
    assert_error(
        "{ab_c: 1}",
        "object keys must be double-quoted strings",
        span(1, 5),
    );
    assert_error(
        "{'a': 1}",
        "single-quoted strings are not allowed in JSON",
        span(1, 2),
    );
    assert_error(
        "['a']",
        "single-quoted strings are not allowed in JSON",
        span(1, 2),
    );
    assert_error("{\"a\": }", "expected a value", span(6, 7));
    assert_error("[,1]", "expected a value", span(1, 2));
    assert_error("+1", "expected a value", span(0, 1));
    assert_error(".5", "expected a value", span(0, 1));
    assert_error("\u{a0}1", "expected a value", span(0, 2));
    assert_error("[\u{feff}]", "expected a value", span(1, 4));
    assert_error(
        "[1] 2",
        "unexpected content after the JSON value",
        span(4, 5),
    );
    assert_error("{}}", "unexpected content after the JSON value", span(2, 3));
    assert_error(
        "\"a\" é",
        "unexpected content after the JSON value",
        span(4, 6),
    );
}

#[test]
fn end_of_input_errors_are_zero_length_at_the_end() {
    let cases = [
        ("", "expected a value"),
        ("  \n", "expected a value"),
        ("\u{feff}", "expected a value"),
        ("[", "expected a value"),
        ("[1", "expected `,` or `]` after array element"),
        ("[1,", "expected a value"),
        ("{", "expected a string key or `}`"),
        ("{\"a\"", "expected `:` after object key"),
        ("{\"a\":", "expected a value"),
        ("{\"a\": 1", "expected `,` or `}` after object member"),
        ("{\"a\": 1,", "expected a string key"),
        ("-", "expected a digit after `-`"),
        ("1.", "expected a digit after the decimal point"),
        ("1e", "expected a digit in the exponent"),
        ("1E-", "expected a digit in the exponent"),
    ];
    for (src, expected) in cases {
        let message = format!("unexpected end of input, {expected}");
        assert_error(src, &message, span(src.len(), src.len()));
    }
}

#[test]
fn string_errors() {
    assert_error("\"abc", "unterminated string", span(0, 4));
    assert_error("[\"abc\n, 1]", "unterminated string", span(1, 5));
    assert_error("\"abc\r\n\"", "unterminated string", span(0, 4));
    assert_error("\"a\\", "unterminated string", span(0, 3));
    assert_error("\"\\u12", "unterminated string", span(0, 5));
    assert_error(
        "\"a\u{1}b\"",
        "unescaped control character U+0001 in string",
        span(2, 3),
    );
    assert_error(
        "\"\\t\t\"",
        "unescaped control character U+0009 in string",
        span(3, 4),
    );
    assert_error(r#""\q""#, "invalid escape `\\q`", span(1, 3));
    assert_error(r#""\'""#, "invalid escape `\\'`", span(1, 3));
    assert_error("\"\\é\"", "invalid escape `\\é`", span(1, 4));
    let control = "invalid escape: `\\` followed by a control character";
    assert_error("\"\\\n\"", control, span(1, 3));
    let bad_hex = "invalid unicode escape, expected 4 hex digits after `\\u`";
    assert_error(r#""\u12G4""#, bad_hex, span(1, 6));
    assert_error(r#""\u12""#, bad_hex, span(1, 6));
    assert_error(r#""\ud83d\u12""#, bad_hex, span(7, 12));
}

#[test]
fn lone_surrogates_are_rejected() {
    assert_error(
        r#""\uD800""#,
        "unpaired surrogate `\\uD800` in string",
        span(1, 7),
    );
    assert_error(
        r#""\udc00x""#,
        "unpaired surrogate `\\udc00` in string",
        span(1, 7),
    );
    assert_error(
        r#""\ud800\u0041""#,
        "unpaired surrogate `\\ud800` in string",
        span(1, 7),
    );
    assert_error(
        r#""x\ud800\n""#,
        "unpaired surrogate `\\ud800` in string",
        span(2, 8),
    );
    assert_error(
        r#""\ud800\ud800""#,
        "unpaired surrogate `\\ud800` in string",
        span(1, 7),
    );
}

#[test]
fn number_errors() {
    assert_error("01", "leading zeros are not allowed in numbers", span(0, 2));
    assert_error(
        "[-0123]",
        "leading zeros are not allowed in numbers",
        span(1, 6),
    );
    assert_error("-a", "expected a digit after `-`", span(1, 2));
    assert_error(
        "1.e5",
        "expected a digit after the decimal point",
        span(2, 3),
    );
    assert_error("1ex", "expected a digit in the exponent", span(2, 3));
    assert_error(
        "[1.5.3]",
        "expected `,` or `]` after array element",
        span(4, 5),
    );
    assert_error(
        "0x10",
        "unexpected content after the JSON value",
        span(1, 2),
    );
}

#[test]
fn literal_errors() {
    assert_error("NaN", "invalid literal `NaN`", span(0, 3));
    assert_error("[Infinity]", "invalid literal `Infinity`", span(1, 9));
    assert_error("True", "invalid literal `True`", span(0, 4));
    assert_error("nul", "invalid literal `nul`", span(0, 3));
    assert_error("{\"a\": truex}", "invalid literal `truex`", span(6, 11));
    let long = "x".repeat(1000);
    let error = err(&long);
    assert_eq!(error.span, span(0, 1000));
    assert_eq!(
        error.message,
        format!("invalid literal `{}…`", "x".repeat(32))
    );
}

#[test]
fn comments_are_rejected_wherever_they_appear() {
    let message = "comments are not allowed in JSON";
    assert_error("// c\n{}", message, span(0, 2));
    assert_error("{} /* c */", message, span(3, 5));
    assert_error("[1, /* two */ 2]", message, span(4, 6));
    assert_error("[1 // one\n]", message, span(3, 5));
    assert_error("{\"a\": 1 // c\n}", message, span(8, 10));
    assert_error("/", "expected a value", span(0, 1));
}

#[test]
fn nesting_is_limited_to_128_levels() {
    let deepest = format!("{}{}", "[".repeat(128), "]".repeat(128));
    assert!(parse(&deepest).is_ok());
    let objects = format!("{}1{}", "{\"a\":".repeat(128), "}".repeat(128));
    assert_eq!(
        to_serde(&ok(&objects).value).pointer(&"/a".repeat(128)),
        Some(&1.into())
    );
    let message = "nesting deeper than 128 levels";
    assert_error(&"[".repeat(129), message, span(128, 129));
    let too_deep_objects = format!("{}1{}", "{\"a\":".repeat(129), "}".repeat(129));
    assert_error(&too_deep_objects, message, span(5 * 128, 5 * 128 + 1));
    // Hostile input must fail fast instead of overflowing the stack.
    assert_error(
        &"[{\"a\":".repeat(100_000),
        message,
        span(6 * 64, 6 * 64 + 1),
    );
}

#[test]
fn error_spans_are_valid_for_every_truncation() {
    // SAMPLE ends in "}\n", so every shorter prefix is cut off inside the value.
    for end in (0..SAMPLE.len() - 1).filter(|&end| SAMPLE.is_char_boundary(end)) {
        let src = &SAMPLE[..end];
        let Err(error) = parse(src) else {
            panic!("prefix {src:?} parsed")
        };
        assert!(error.span.start <= error.span.end && error.span.end <= src.len());
        assert!(src.is_char_boundary(error.span.start) && src.is_char_boundary(error.span.end));
    }
}

#[test]
fn line_col_counts_lines_and_chars() {
    let src = "ab\ncdé😀x\n\nlast";
    assert_eq!(line_col(src, 0), (1, 1));
    assert_eq!(line_col(src, 2), (1, 3));
    assert_eq!(line_col(src, 3), (2, 1));
    assert_eq!(line_col(src, src.find('x').unwrap()), (2, 5));
    assert_eq!(line_col(src, src.find("last").unwrap()), (4, 1));
    assert_eq!(line_col(src, src.len()), (4, 5));
    assert_eq!(line_col(src, src.len() + 100), (4, 5));
    assert_eq!(line_col("", 0), (1, 1));
    assert_eq!(line_col("a\r\nb", 3), (2, 1));
    assert_eq!(line_col("\tx", 1), (1, 2));
    // An offset inside a multi-byte char reports that char's column.
    assert_eq!(line_col("é", 1), (1, 2));
}

#[test]
fn line_col_ignores_a_byte_order_mark() {
    let src = "\u{feff}{\n  \"a\": x}";
    for offset in 0..=3 {
        assert_eq!(line_col(src, offset), (1, 1));
    }
    assert_eq!(line_col(src, 4), (1, 2));
    let error = err(src);
    assert_eq!(line_col(src, error.span.start), (2, 8));
    assert_eq!(line_col("a\u{feff}", 4), (1, 3));
}

#[test]
fn encode_string_escapes_per_rfc_8259() {
    assert_eq!(encode_string(""), "\"\"");
    assert_eq!(encode_string("plain"), "\"plain\"");
    assert_eq!(encode_string("a\"b\\c/d"), r#""a\"b\\c/d""#);
    assert_eq!(encode_string("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
    assert_eq!(
        encode_string("\0\u{1}\u{1f}\u{7f}"),
        "\"\\u0000\\u0001\\u001f\u{7f}\""
    );
    assert_eq!(encode_string("é 日本 😀"), "\"é 日本 😀\"");
}

#[test]
fn encode_string_round_trips_through_parse() {
    let all_ascii: String = (0..=0x7F_u8).map(char::from).collect();
    for s in [all_ascii.as_str(), "é 日本 😀 \u{2028}", "\\u0041", "\"\""] {
        let encoded = encode_string(s);
        assert_eq!(ok(&encoded).value, Value::String(s.to_owned()));
        assert_eq!(serde_json::from_str::<String>(&encoded).unwrap(), s);
    }
}

fn edit(start: usize, end: usize, text: &str) -> Edit {
    Edit {
        span: span(start, end),
        text: text.to_owned(),
    }
}

#[test]
fn apply_edits_in_any_order() {
    let src = "0123456789";
    let edits = [
        edit(8, 9, "EIGHT"),
        edit(0, 1, ""),
        edit(3, 3, "+"),
        edit(4, 6, "<>"),
    ];
    assert_eq!(apply_edits(src, &edits), "12+3<>67EIGHT9");
    assert_eq!(apply_edits(src, &[edit(0, 10, "x")]), "x");
    assert_eq!(apply_edits(src, &[edit(10, 10, "!")]), "0123456789!");
    assert_eq!(apply_edits("", &[edit(0, 0, "{}")]), "{}");
}

#[test]
fn apply_edits_keeps_insertions_at_one_offset_in_order() {
    let src = "ab";
    let edits = [
        edit(1, 2, "B"),
        edit(1, 1, "1"),
        edit(1, 1, "2"),
        edit(0, 1, "A"),
    ];
    assert_eq!(apply_edits(src, &edits), "A12B");
    assert_eq!(apply_edits("é", &[edit(2, 2, "!"), edit(0, 0, "¡")]), "¡é!");
}

#[test]
#[should_panic(expected = "overlapping edits")]
fn apply_edits_rejects_overlaps() {
    apply_edits("0123456789", &[edit(2, 5, "x"), edit(4, 6, "y")]);
}

/// Sets `key` on the object at `pointer` (a `serde_json` pointer through objects)
/// and checks the result still parses.
fn set_at(src: &str, pointer: &[&str], key: &str, value_json: &str) -> String {
    let root = ok(src);
    let object = pointer
        .iter()
        .fold(&root, |node, k| node.value.get(k).unwrap());
    let result = apply_edits(src, &[set_member(src, object, key, value_json)]);
    let reparsed = ok(&result);
    assert_spans_reparse(&result, &reparsed);
    result
}

const TWO_SPACES: &str =
    "{\n  \"name\": \"demo\",\n  \"version\": 1,\n  \"modules\": [\n    {\"id\": \"a\"}\n  ]\n}\n";

#[test]
fn set_member_replaces_a_value_in_a_two_space_file() {
    let result = set_at(TWO_SPACES, &[], "version", "2");
    assert_eq!(
        result,
        TWO_SPACES.replace("\"version\": 1", "\"version\": 2")
    );
    let result = set_at(TWO_SPACES, &[], "modules", "[]");
    assert_eq!(
        result,
        "{\n  \"name\": \"demo\",\n  \"version\": 1,\n  \"modules\": []\n}\n"
    );
}

#[test]
fn set_member_inserts_into_a_two_space_file() {
    let result = set_at(TWO_SPACES, &[], "checked", "\"2024-01-01\"");
    let expected = "{\n  \"name\": \"demo\",\n  \"version\": 1,\n  \"modules\": [\n    {\"id\": \"a\"}\n  ],\n  \"checked\": \"2024-01-01\"\n}\n";
    assert_eq!(result, expected);
}

const FOUR_SPACES: &str =
    "{\n    \"name\" : \"demo\",\n    \"settings\": {\n        \"parallel\": true\n    }\n}";

#[test]
fn set_member_replaces_a_nested_value_in_a_four_space_file() {
    let result = set_at(FOUR_SPACES, &["settings"], "parallel", "false");
    assert_eq!(result, FOUR_SPACES.replace("true", "false"));
    let result = set_at(FOUR_SPACES, &[], "name", &encode_string("new \"name\""));
    assert_eq!(result, FOUR_SPACES.replace("\"demo\"", r#""new \"name\"""#));
}

#[test]
fn set_member_inserts_with_the_nested_indentation() {
    let result = set_at(FOUR_SPACES, &["settings"], "retries", "3");
    let expected = "{\n    \"name\" : \"demo\",\n    \"settings\": {\n        \"parallel\": true,\n        \"retries\": 3\n    }\n}";
    assert_eq!(result, expected);
    let result = set_at(FOUR_SPACES, &[], "extra", "null");
    let expected = "{\n    \"name\" : \"demo\",\n    \"settings\": {\n        \"parallel\": true\n    },\n    \"extra\": null\n}";
    assert_eq!(result, expected);
}

#[test]
fn set_member_preserves_tabs_crlf_and_colon_spacing() {
    let src = "{\r\n\t\"a\" : 1\r\n}\r\n";
    assert_eq!(
        set_at(src, &[], "b", "2"),
        "{\r\n\t\"a\" : 1,\r\n\t\"b\" : 2\r\n}\r\n"
    );
}

#[test]
fn set_member_inserts_on_a_single_line() {
    assert_eq!(set_at(r#"{"a": 1}"#, &[], "b", "2"), r#"{"a": 1, "b": 2}"#);
    assert_eq!(set_at(r#"{"a":1}"#, &[], "b", "2"), r#"{"a":1,"b":2}"#);
    assert_eq!(
        set_at(r#"{ "a": 1 }"#, &[], "b", "2"),
        r#"{ "a": 1, "b": 2 }"#
    );
    assert_eq!(
        set_at(r#"{"a": 1, "b": 2}"#, &[], "c", "[3]"),
        r#"{"a": 1, "b": 2, "c": [3]}"#
    );
}

#[test]
fn set_member_fills_empty_objects() {
    assert_eq!(set_at("{}", &[], "k", "1"), r#"{"k": 1}"#);
    assert_eq!(set_at("  { \n }  ", &[], "k", "true"), r#"  {"k": true}  "#);
    let src = "{\n  \"env\": {},\n  \"x\": 1\n}";
    assert_eq!(
        set_at(src, &["env"], "PATH", "\"/bin\""),
        "{\n  \"env\": {\"PATH\": \"/bin\"},\n  \"x\": 1\n}"
    );
}

#[test]
fn set_member_escapes_the_key_and_handles_unicode() {
    let src = "{\n  \"名前\": \"値\"\n}";
    assert_eq!(
        set_at(src, &[], "名前", "\"新\""),
        "{\n  \"名前\": \"新\"\n}"
    );
    let result = set_at(src, &[], "say \"hi\"\n", "\"😀\"");
    assert_eq!(
        result,
        "{\n  \"名前\": \"値\",\n  \"say \\\"hi\\\"\\n\": \"😀\"\n}"
    );
    assert_eq!(
        ok(&result).value.get("say \"hi\"\n").unwrap().value,
        Value::String("😀".to_owned())
    );
}

#[test]
fn set_member_replaces_the_first_duplicate() {
    assert_eq!(
        set_at(r#"{"a": 1, "a": 2}"#, &[], "a", "9"),
        r#"{"a": 9, "a": 2}"#
    );
}

#[test]
fn set_member_edits_combine_in_one_apply() {
    let root = ok(FOUR_SPACES);
    let settings = root.value.get("settings").unwrap();
    let edits = [
        set_member(FOUR_SPACES, settings, "retries", "3"),
        set_member(FOUR_SPACES, &root, "name", "\"renamed\""),
        set_member(FOUR_SPACES, settings, "parallel", "false"),
        set_member(FOUR_SPACES, &root, "extra", "{}"),
    ];
    let expected = "{\n    \"name\" : \"renamed\",\n    \"settings\": {\n        \"parallel\": false,\n        \"retries\": 3\n    },\n    \"extra\": {}\n}";
    assert_eq!(apply_edits(FOUR_SPACES, &edits), expected);
}

#[test]
fn set_member_inserts_several_keys_into_one_object() {
    let root = ok(TWO_SPACES);
    let edits = [
        set_member(TWO_SPACES, &root, "lastApplied", "\"2024\""),
        set_member(TWO_SPACES, &root, "version", "5"),
        set_member(TWO_SPACES, &root, "checksum", "\"abc\""),
        set_member(TWO_SPACES, &root, "modules", "[]"),
    ];
    let expected = "{\n  \"name\": \"demo\",\n  \"version\": 5,\n  \"modules\": [],\n  \"lastApplied\": \"2024\",\n  \"checksum\": \"abc\"\n}\n";
    assert_eq!(apply_edits(TWO_SPACES, &edits), expected);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "set_member called on array")]
fn set_member_requires_an_object() {
    let src = "[1]";
    set_member(src, &ok(src), "a", "1");
}

/// A 1,000-module manifest, the size the parser is expected to handle instantly.
fn big_manifest() -> String {
    let modules: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                "    {{\"id\": \"module-{i}\", \"command\": [\"/usr/bin/update\", \"--id\", \"{i}\"], \"timeout\": {i}.5, \"enabled\": true, \"env\": {{\"LANG\": \"C.UTF-8\"}}}}"
            )
        })
        .collect();
    format!(
        "{{\n  \"version\": 1,\n  \"modules\": [\n{}\n  ]\n}}\n",
        modules.join(",\n")
    )
}

#[test]
fn large_manifest_parses() {
    let src = big_manifest();
    let root = ok(&src);
    let Some(Value::Array(modules)) = root.value.get("modules").map(|m| &m.value) else {
        panic!("modules is not an array");
    };
    assert_eq!(modules.len(), 1000);
    assert_eq!(
        modules[999].value.get("id").unwrap().value,
        Value::String("module-999".to_owned())
    );
    assert_eq!(line_col(&src, modules[999].span.start), (1003, 5));
}

/// Deterministic xorshift, so the mutation test is reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n as u64).unwrap()
    }
}

fn mutate(rng: &mut Rng, chars: &mut Vec<char>) {
    const PIECES: &[&str] = &[
        ",", "]", "}", "{", "[", "\"", "\\", ":", "0", "-", "e", ".", " ", "\n", "\\u", "d800",
        "dc00", "'", "/", "t", "\u{1}", "é", "😀", "null", "1",
    ];
    let at = rng.below(chars.len() + 1);
    match rng.below(3) {
        0 if at < chars.len() => {
            chars.remove(at);
        }
        1 if at < chars.len() => {
            let len = rng.below(8).min(chars.len() - at);
            let copy: Vec<char> = chars[at..at + len].to_vec();
            chars.splice(at..at, copy);
        }
        _ => {
            let piece = PIECES[rng.below(PIECES.len())];
            chars.splice(at..at, piece.chars());
        }
    }
}

#[test]
fn mutated_documents_agree_with_serde_json() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let base: Vec<char> = SAMPLE.chars().collect();
    for _ in 0..20_000 {
        let mut chars = base.clone();
        for _ in 0..=rng.below(3) {
            mutate(&mut rng, &mut chars);
        }
        let src: String = chars.into_iter().collect();
        let serde = serde_json::from_str::<serde_json::Value>(&src);
        match (parse(&src), serde) {
            (Ok(ours), Ok(theirs)) => assert_eq!(to_serde(&ours.value), theirs, "{src}"),
            (Err(error), Err(_)) => {
                let Span { start, end } = error.span;
                assert!(start <= end && end <= src.len(), "{src}");
                assert!(
                    src.is_char_boundary(start) && src.is_char_boundary(end),
                    "{src}"
                );
            }
            // serde_json rejects numbers beyond f64; the raw text is still valid JSON.
            (Ok(_), Err(theirs)) if theirs.to_string().contains("number out of range") => {}
            (ours, theirs) => panic!("disagreement on {src:?}: {ours:?} vs {theirs:?}"),
        }
    }
}
