//! ae.base's `defuse`/`dedefuse`: special ASCII characters stand in a folder name as
//! look-alike Unicode characters, so a path such as `{usr}/my app` can be written into a
//! single folder-name argument (`ToPath__﹛usr﹜⁄my␣app`).
//!
//! The table is ae.base's `ASCII_UNICODE` (ae.base 0.3.83, `ae/base.py`), plus `://` as
//! the single character `⫻` (U+2AFB) and the control characters 0..=31 as U+2400 + code.

/// `(ascii, unicode)` pairs of ae.base's `ASCII_UNICODE` table, in its order.
pub const ASCII_UNICODE: &[(char, char)] = &[
    ('/', '\u{2044}'),      // ⁄ fraction slash
    ('|', '\u{0964}'),      // । devanagari danda
    ('\\', '\u{FE68}'),     // ﹨ small reverse solidus
    (':', '\u{FE55}'),      // ﹕ small colon
    ('*', '\u{FE61}'),      // ﹡ small asterisk
    ('?', '\u{FE56}'),      // ﹖ small question mark
    ('"', '\u{FF02}'),      // ＂ fullwidth quotation mark
    ('\'', '\u{2018}'),     // ‘ left single quotation mark
    ('<', '\u{27E8}'),      // ⟨ left angle bracket
    ('>', '\u{27E9}'),      // ⟩ right angle bracket
    ('(', '\u{27EE}'),      // ⟮ left flattened parenthesis
    (')', '\u{27EF}'),      // ⟯ right flattened parenthesis
    ('[', '\u{27E6}'),      // ⟦ left white square bracket
    (']', '\u{27E7}'),      // ⟧ right white square bracket
    ('{', '\u{FE5B}'),      // ﹛ small left curly bracket
    ('}', '\u{FE5C}'),      // ﹜ small right curly bracket
    ('#', '\u{FE5F}'),      // ﹟ small number sign
    (';', '\u{FE54}'),      // ﹔ small semicolon
    ('@', '\u{FE6B}'),      // ﹫ small commercial at
    ('&', '\u{FE60}'),      // ﹠ small ampersand
    ('=', '\u{FE66}'),      // ﹦ small equals sign
    ('+', '\u{FE62}'),      // ﹢ small plus sign
    ('$', '\u{FE69}'),      // ﹩ small dollar sign
    ('%', '\u{FE6A}'),      // ﹪ small percent sign
    ('^', '\u{FF3E}'),      // ＾ fullwidth circumflex accent
    (',', '\u{FE50}'),      // ﹐ small comma
    (' ', '\u{2423}'),      // ␣ open box
    ('\u{7F}', '\u{2421}'), // ␡ symbol for delete
];

/// The one character `://` becomes (U+2AFB triple solidus binary relation).
pub const URI_SEP: char = '\u{2AFB}';

/// Turn a path or URI into a form usable as one file or folder name (ae.base `defuse`).
pub fn defuse(value: &str) -> String {
    let value = value.replace("://", &URI_SEP.to_string());
    value
        .chars()
        .map(|c| {
            if let Some((_, u)) = ASCII_UNICODE.iter().find(|(a, _)| *a == c) {
                *u
            } else if (c as u32) < 32 {
                char::from_u32(0x2400 + c as u32).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

/// Undo [`defuse`] (ae.base `dedefuse`): every look-alike character becomes its ASCII
/// original again, `⫻` becomes `://`, U+2400..=U+241F become the control characters
/// 0..=31. Everything else is kept as it is.
pub fn dedefuse(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == URI_SEP {
            out.push_str("://");
        } else if let Some((a, _)) = ASCII_UNICODE.iter().find(|(_, u)| *u == c) {
            out.push(*a);
        } else if ('\u{2400}'..='\u{241F}').contains(&c) {
            out.push(char::from_u32(c as u32 - 0x2400).unwrap_or(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedefuses_ae_base_examples() {
        assert_eq!(
            dedefuse("\u{FE5B}usr\u{FE5C}\u{2044}my\u{2423}app"),
            "{usr}/my app"
        );
        assert_eq!(dedefuse("https\u{2AFB}host\u{2044}x"), "https://host/x");
        assert_eq!(dedefuse("a\u{240A}b\u{2400}"), "a\nb\0");
        assert_eq!(dedefuse("plain_name-1.0"), "plain_name-1.0");
    }

    #[test]
    fn defuse_round_trips() {
        for text in [
            "{usr}/a b/c:d",
            "/etc/x\n",
            "https://e.x/p?q=1&r=2",
            "C:\\x|y",
        ] {
            let fused = defuse(text);
            assert!(!fused.contains(['/', '\n', '{', ':']), "{fused}");
            assert_eq!(dedefuse(&fused), text);
        }
    }
}
