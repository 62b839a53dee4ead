//! Manifest diagnostics: what is wrong, where (file, line, column, field) and how to fix it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A byte range in a manifest's source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from byte offsets.
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
}

/// How much a diagnostic matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The manifest is refused: nothing runs.
    #[default]
    Error,
    /// Worth saying, but the manifest loads and runs (a key of the user's own that upkeep
    /// ignores).
    Warning,
}

/// One problem found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Whether it refuses the manifest or is only a warning.
    pub severity: Severity,
    /// The manifest file.
    pub file: PathBuf,
    /// 1-based line, 0 when the problem has no position (an unreadable file).
    pub line: usize,
    /// 1-based column in characters, 0 when unknown.
    pub column: usize,
    /// The field the problem is in, as a path such as `updates[4].children[1]`.
    pub field: Option<String>,
    /// What is wrong: a lowercase fragment.
    pub message: String,
    /// How to fix it, when upkeep can tell.
    pub hint: Option<String>,
    /// The offending source line and the marked range, for rendering.
    #[serde(skip)]
    pub snippet: Option<Snippet>,
}

/// The source line a diagnostic points into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The whole line, without its newline.
    pub text: String,
    /// 0-based character column where the mark starts.
    pub mark_start: usize,
    /// Marked width in characters, at least 1.
    pub mark_width: usize,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(field) = &self.field {
            write!(f, " (field `{field}`)")?;
        }
        Ok(())
    }
}

/// Builds diagnostics against one source text.
#[derive(Debug)]
pub(crate) struct Reporter<'a> {
    file: &'a Path,
    source: &'a str,
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// Warnings: they do not fail the load, and travel on the manifest.
    pub(crate) warnings: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(file: &'a Path, source: &'a str) -> Self {
        Self {
            file,
            source,
            diagnostics: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Record something worth saying at `span` that does not stop the manifest loading.
    pub(crate) fn warn(
        &mut self,
        span: Option<Span>,
        field: Option<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let mut diagnostic = at(self.file, self.source, span, field, message.into(), hint);
        diagnostic.severity = Severity::Warning;
        self.warnings.push(diagnostic);
    }

    /// Record a problem at `span`.
    pub(crate) fn error(
        &mut self,
        span: Option<Span>,
        field: Option<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let diagnostic = at(self.file, self.source, span, field, message.into(), hint);
        self.diagnostics.push(diagnostic);
    }
}

/// Make a diagnostic pointing at `span` in `source`.
pub(crate) fn at(
    file: &Path,
    source: &str,
    span: Option<Span>,
    field: Option<String>,
    message: String,
    hint: Option<String>,
) -> Diagnostic {
    let (line, column, snippet) = match span {
        Some(span) => locate(source, span),
        None => (0, 0, None),
    };
    Diagnostic {
        severity: Severity::Error,
        file: file.to_path_buf(),
        line,
        column,
        field,
        message,
        hint,
        snippet,
    }
}

fn locate(source: &str, span: Span) -> (usize, usize, Option<Snippet>) {
    let start = floor_char_boundary(source, span.start.min(source.len()));
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line = source[..start].matches('\n').count() + 1;
    let column = source[line_start..start].chars().count();
    let end = floor_char_boundary(source, span.end.clamp(start, line_end));
    let mark_width = source[start..end].chars().count().max(1);
    let text: Vec<char> = source[line_start..line_end]
        .trim_end_matches('\r')
        .chars()
        .collect();
    // Show a window around the mark: a minified or hostile manifest can have one huge line.
    let from = column.saturating_sub(SNIPPET_BEFORE);
    let to = (column + mark_width.max(1) + SNIPPET_AFTER).min(text.len());
    let mut shown: String = text[from.min(text.len())..to].iter().collect();
    let mut mark_start = column - from;
    if from > 0 {
        shown.insert(0, '…');
        mark_start += 1;
    }
    if to < text.len() {
        shown.push('…');
    }
    let mark_width = mark_width.min(SNIPPET_AFTER);
    (
        line,
        column + 1,
        Some(Snippet {
            text: shown,
            mark_start,
            mark_width,
        }),
    )
}

/// Characters of context shown before and after a diagnostic's mark.
const SNIPPET_BEFORE: usize = 40;
const SNIPPET_AFTER: usize = 80;

fn floor_char_boundary(source: &str, mut index: usize) -> usize {
    while index > 0 && !source.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column() {
        let src = "{\n  \"a\": 1,\n  \"bé\": x\n}";
        let offset = src.find('x').unwrap();
        let d = at(
            Path::new("m.json"),
            src,
            Some(Span::new(offset, offset + 1)),
            None,
            "bad".into(),
            None,
        );
        assert_eq!((d.line, d.column), (3, 9));
        let snippet = d.snippet.unwrap();
        assert_eq!(snippet.text, "  \"bé\": x");
        assert_eq!((snippet.mark_start, snippet.mark_width), (8, 1));
    }
}
