//! Making text fit: display widths, padding, cutting long text, and tables laid out for a
//! width.
//!
//! Padding never goes through a runtime format width (`{:<w$}`): the standard library
//! panics on a width above 65,535 ("Formatting argument out of range"), which is how a
//! long refusal detail once crashed the run summary. Every cell is padded with
//! [`pad`] instead, and every free-text cell is cut (see [`Layout::detail_floor`]).

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// The mark left where text was cut.
pub(crate) const ELLIPSIS: &str = "…";

/// The most a cell shows when stdout is not a terminal: long enough for any ordinary
/// detail with a path and a hint in a log or a mail, short enough that a list of thousands
/// of files does not make a line of megabytes.
pub(crate) const DETAIL_BOUND: usize = 500;

/// The fewest characters a detail is cut to on a terminal, however narrow.
const DETAIL_FLOOR_TERMINAL: usize = 24;

/// Where tables are printed: how wide they may be, and whether stdout is a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) width: usize,
    pub(crate) terminal: bool,
}

impl Layout {
    /// An 80-column pipe: what tests and `upkeep ... | less` get.
    #[cfg(test)]
    pub(crate) const PIPE: Layout = Layout {
        width: 80,
        terminal: false,
    };

    /// The fewest characters a detail column gives way to: on a terminal a detail is cut
    /// to fit the screen; elsewhere (a pipe, a file, a cron mail) there is no screen edge,
    /// and a reader greps for the text, so it is cut only past [`DETAIL_BOUND`].
    pub(crate) fn detail_floor(self) -> usize {
        if self.terminal {
            DETAIL_FLOOR_TERMINAL
        } else {
            DETAIL_BOUND
        }
    }

    /// `text` cut to what is left of the width after `used` columns (never below
    /// [`Layout::detail_floor`]), in its middle; whether it was cut.
    pub(crate) fn detail(self, text: &str, used: usize) -> (String, bool) {
        let room = self
            .width
            .saturating_sub(used)
            .max(self.detail_floor())
            .min(DETAIL_BOUND);
        let text = one_line(text);
        if width(&text) <= room {
            (text, false)
        } else {
            (cut_middle(&text, room), true)
        }
    }
}

/// Columns `text` takes on a terminal.
pub(crate) fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// `text` followed by spaces up to `columns` (nothing added when it is already as wide).
pub(crate) fn pad(out: &mut String, text: &str, columns: usize) {
    out.push_str(text);
    for _ in width(text)..columns {
        out.push(' ');
    }
}

/// Spaces before `text` up to `columns` (right alignment).
pub(crate) fn pad_left(out: &mut String, text: &str, columns: usize) {
    for _ in width(text)..columns {
        out.push(' ');
    }
    out.push_str(text);
}

/// Line breaks, tabs and other control characters made spaces, so a cell stays one line.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The longest start of `text` that takes at most `columns`.
fn head(text: &str, columns: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += c.width().unwrap_or(0);
        if used > columns {
            return &text[..i];
        }
    }
    text
}

/// The longest end of `text` that takes at most `columns`.
fn tail(text: &str, columns: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices().rev() {
        used += c.width().unwrap_or(0);
        if used > columns {
            return &text[i + c.len_utf8()..];
        }
    }
    text
}

/// `text` cut at its end to take at most `columns`, with [`ELLIPSIS`] when cut.
pub(crate) fn cut_end(text: &str, columns: usize) -> String {
    if width(text) <= columns {
        return text.to_owned();
    }
    let kept = head(text, columns.saturating_sub(1));
    format!("{kept}{ELLIPSIS}")
}

/// `text` cut in its middle to take at most `columns`, keeping about two thirds of the
/// room for its start and the rest for its end (where a detail says what to do: "approve
/// it with `upkeep checksum --write app`", "held until `upkeep clear`").
pub(crate) fn cut_middle(text: &str, columns: usize) -> String {
    if width(text) <= columns {
        return text.to_owned();
    }
    let room = columns.saturating_sub(1);
    let end = room / 3;
    let start = head(text, room - end);
    let finish = tail(text, end);
    format!("{start}{ELLIPSIS}{finish}")
}

/// How a column gives way when its table is wider than the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Give {
    /// Never cut (numbers, times, outcomes); other cells are bounded by [`DETAIL_BOUND`].
    Keep,
    /// Cut at its end, down to this many columns (descriptions, versions).
    End(usize),
    /// Cut in its middle, down to this many columns (names: both ends tell them apart).
    Middle(usize),
    /// A detail: cut in its middle down to [`Layout::detail_floor`].
    Detail,
}

/// A column: its header, and how it gives way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub(crate) header: &'static str,
    pub(crate) give: Give,
}

impl Column {
    pub(crate) const fn keep(header: &'static str) -> Self {
        Self {
            header,
            give: Give::Keep,
        }
    }

    pub(crate) const fn new(header: &'static str, give: Give) -> Self {
        Self { header, give }
    }
}

/// Columns between cells.
const GAP: usize = 2;

/// A laid-out table and whether any cell was cut.
#[derive(Debug)]
pub(crate) struct Fitted {
    pub(crate) text: String,
    pub(crate) cut: bool,
}

/// Lay out `rows` under `columns` within `layout.width`: columns that give way are
/// narrowed from the last to the first, each down to its floor, until the table fits
/// (a table whose floors alone are wider than the layout is as narrow as they allow).
/// Every cell is one line and at most [`DETAIL_BOUND`] wide.
pub(crate) fn fit(columns: &[Column], rows: &[Vec<String>], layout: Layout) -> Fitted {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| one_line(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| width(c.header)).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell).min(DETAIL_BOUND));
        }
    }
    let total =
        |widths: &[usize]| widths.iter().sum::<usize>() + GAP * widths.len().saturating_sub(1);
    for i in (0..columns.len()).rev() {
        let over = total(&widths).saturating_sub(layout.width);
        if over == 0 {
            break;
        }
        let floor = match columns[i].give {
            Give::Keep => continue,
            Give::End(floor) | Give::Middle(floor) => floor,
            Give::Detail => layout.detail_floor(),
        };
        let floor = floor.max(width(columns[i].header));
        widths[i] = widths[i].saturating_sub(over).max(floor.min(widths[i]));
    }
    let mut out = String::new();
    let mut cut = false;
    let mut line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            let shown = if width(cell) <= widths[i] {
                std::borrow::Cow::Borrowed(cell)
            } else {
                cut = true;
                match columns[i].give {
                    Give::End(_) => cut_end(cell, widths[i]).into(),
                    Give::Keep | Give::Middle(_) | Give::Detail => {
                        cut_middle(cell, widths[i]).into()
                    }
                }
            };
            pad(&mut text, &shown, widths[i] + GAP);
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, &mut columns.iter().map(|c| c.header));
    for row in &cells {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    Fitted { text: out, cut }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_keep_char_boundaries_and_display_widths() {
        // Two-byte, three-byte and double-width characters: cutting by bytes would panic
        // or split a character; cutting by chars would overflow the columns.
        let text = "é".repeat(30) + &"→".repeat(30) + &"漢".repeat(30);
        for columns in 0..100 {
            let end = cut_end(&text, columns);
            let middle = cut_middle(&text, columns);
            assert!(width(&end) <= columns.max(1), "{columns}: {end}");
            assert!(width(&middle) <= columns.max(1), "{columns}: {middle}");
        }
        assert_eq!(cut_end("ééééé", 3), "éé…");
        assert_eq!(cut_middle("abcdefghij", 7), "abcd…ij");
        assert_eq!(cut_middle("漢字漢字漢字漢字", 7), "漢字…字");
        assert_eq!(cut_middle("short", 10), "short");
    }

    #[test]
    fn a_huge_cell_neither_panics_nor_makes_a_huge_line() {
        let huge = "x".repeat(200_000);
        let rows = vec![vec!["m".to_owned(), huge.clone()]];
        let columns = [Column::keep("MODULE"), Column::new("DETAIL", Give::Detail)];
        let fitted = fit(&columns, &rows, Layout::PIPE);
        assert!(fitted.cut);
        let longest = fitted.text.lines().map(width).max().unwrap();
        assert_eq!(longest, "MODULE".len() + GAP + DETAIL_BOUND);
        // Even a column that never gives way is bounded.
        let fitted = fit(&[Column::keep("A")], &[vec![huge]], Layout::PIPE);
        assert!(fitted.text.lines().all(|l| width(l) <= DETAIL_BOUND));
    }

    #[test]
    fn columns_give_way_from_the_last_down_to_their_floors() {
        let columns = [
            Column::new("NAME", Give::Middle(8)),
            Column::keep("N"),
            Column::new("TEXT", Give::End(6)),
        ];
        let rows = vec![vec![
            "a-rather-long-module-name".to_owned(),
            "1".to_owned(),
            "a description of some length".to_owned(),
        ]];
        let narrow = Layout {
            width: 30,
            terminal: true,
        };
        let fitted = fit(&columns, &rows, narrow);
        assert_eq!(
            fitted.text,
            "NAME                 N  TEXT\na-rather-lon…e-name  1  a des…\n"
        );
        assert!(fitted.text.lines().all(|l| width(l) <= 30));
        let wide = Layout {
            width: 200,
            terminal: true,
        };
        assert!(!fit(&columns, &rows, wide).cut);
    }

    #[test]
    fn details_fit_a_terminal_but_only_the_bound_in_a_pipe() {
        let text = "files of `app` do not match their checksum (added: ".to_owned()
            + &"f.txt, ".repeat(200)
            + "g.txt); approve it with `upkeep checksum --write app`";
        let terminal = Layout {
            width: 80,
            terminal: true,
        };
        let (shown, cut) = terminal.detail(&text, 30);
        assert!(cut);
        assert_eq!(width(&shown), 50);
        assert!(shown.starts_with("files of `app`") && shown.ends_with("--write app`"));
        let (shown, cut) = Layout::PIPE.detail(&text, 30);
        assert!(cut);
        assert_eq!(width(&shown), DETAIL_BOUND);
        let (shown, cut) = Layout::PIPE.detail("exit code 1\nand more", 30);
        assert_eq!((shown.as_str(), cut), ("exit code 1 and more", false));
    }
}
