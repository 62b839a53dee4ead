//! The one way out to the user: every byte upkeep writes to its standard output or
//! standard error goes through the [`Printer`] (modelled on cargo's `core/shell.rs`).
//!
//! stdout carries data (tables, JSON), stderr carries everything said about the work:
//! status lines, warnings, errors, prompts and the progress bar. The printer decides once,
//! from the command line and the environment, whether status lines are shown (`--quiet`),
//! whether stderr is coloured (`--color`, `NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE`), how
//! wide tables may be (the terminal, `COLUMNS`, else [`FALLBACK_WIDTH`]) and whether output
//! is JSON. Nothing else in the binary touches the streams: `print!`-style macros are
//! linted (`clippy::print_stdout`, `clippy::print_stderr`) and `std::io::stdout`/`stderr`
//! are disallowed methods everywhere but [`console`] below.

use std::io::{self, Write};
use std::sync::OnceLock;
#[cfg(test)]
use std::sync::{Arc, Mutex};

/// What a test printer wrote to one side.
#[cfg(test)]
pub(crate) type Buffer = Arc<Mutex<Vec<u8>>>;

use crate::render::Layout;

/// The width tables are laid out for when stdout is not a terminal and `COLUMNS` is unset.
pub(crate) const FALLBACK_WIDTH: usize = 80;

/// `--color`: whether stderr's labels are coloured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// When stderr is a terminal, unless `NO_COLOR` is set or `CLICOLOR=0` (`CLICOLOR_FORCE=1` forces it)
    #[default]
    Auto,
    /// Always, even into a pipe or a file
    Always,
    /// Never
    Never,
}

/// What the command line asked of the printer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
    pub(crate) color: ColorChoice,
}

/// The environment variables the printer reads, read once (and given directly in tests).
#[derive(Debug, Clone, Default)]
pub(crate) struct Env {
    pub(crate) no_color: Option<String>,
    pub(crate) clicolor: Option<String>,
    pub(crate) clicolor_force: Option<String>,
    pub(crate) columns: Option<String>,
    pub(crate) term: Option<String>,
}

impl Env {
    fn read() -> Self {
        let var = |name| std::env::var(name).ok();
        Self {
            no_color: var("NO_COLOR"),
            clicolor: var("CLICOLOR"),
            clicolor_force: var("CLICOLOR_FORCE"),
            columns: var("COLUMNS"),
            term: var("TERM"),
        }
    }
}

/// Whether to colour a stream, in the order anstream (cargo's) decides it: an explicit
/// `--color always|never` wins; then a non-empty `NO_COLOR` turns colour off, a
/// `CLICOLOR_FORCE` other than `0` turns it on, `CLICOLOR=0` turns it off; otherwise a
/// terminal that is not `TERM=dumb` gets colour.
pub(crate) fn colour(choice: ColorChoice, terminal: bool, env: &Env) -> bool {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if set(&env.no_color) {
                false
            } else if set(&env.clicolor_force) && env.clicolor_force.as_deref() != Some("0") {
                true
            } else if env.clicolor.as_deref() == Some("0") {
                false
            } else {
                terminal && env.term.as_deref() != Some("dumb")
            }
        }
    }
}

/// The width tables may take: `COLUMNS` when it is a positive number (as `ls` reads it),
/// else the terminal's, else [`FALLBACK_WIDTH`].
pub(crate) fn width(env: &Env, terminal_width: Option<usize>) -> usize {
    env.columns
        .as_deref()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| *w > 0)
        .or(terminal_width)
        .unwrap_or(FALLBACK_WIDTH)
}

/// Where one side's bytes go: the process's stream, or memory (tests).
#[derive(Debug, Clone)]
enum Sink {
    Stream(console::Stream),
    #[cfg(test)]
    Memory(Buffer),
}

impl Sink {
    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stream(stream) => console::write(*stream, bytes),
            #[cfg(test)]
            Sink::Memory(buffer) => {
                buffer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(bytes);
                Ok(())
            }
        }
    }
}

/// Owner of stdout and stderr for the life of the process.
#[derive(Debug)]
pub(crate) struct Printer {
    out: Sink,
    err: Sink,
    options: Options,
    err_colour: bool,
    err_terminal: bool,
    layout: Layout,
}

static PRINTER: OnceLock<Printer> = OnceLock::new();

/// Make `printer` the process's printer; the first one installed stays.
pub(crate) fn install(printer: Printer) {
    let _ = PRINTER.set(printer);
}

/// The process's printer (a default one, as if no flag were given, before [`install`]).
///
/// stdout and stderr belong to the process, so their owner does too; a test builds its
/// own [`Printer::memory`] instead.
pub(crate) fn get() -> &'static Printer {
    PRINTER.get_or_init(|| Printer::new(Options::default()))
}

impl Printer {
    /// The printer for this process's streams and environment.
    pub(crate) fn new(options: Options) -> Self {
        let env = Env::read();
        let err_terminal = console::is_terminal(console::Stream::Err);
        let out_terminal = console::is_terminal(console::Stream::Out);
        Self {
            out: Sink::Stream(console::Stream::Out),
            err: Sink::Stream(console::Stream::Err),
            options,
            err_colour: colour(options.color, err_terminal, &env),
            err_terminal,
            layout: Layout {
                width: width(&env, console::terminal_width()),
                terminal: out_terminal,
            },
        }
    }

    /// A printer writing into memory, with stderr coloured or not; returns it with its
    /// stdout and stderr buffers.
    #[cfg(test)]
    pub(crate) fn memory(options: Options, colour: bool, layout: Layout) -> (Self, Buffer, Buffer) {
        let (out, err) = (Arc::default(), Arc::default());
        let printer = Self {
            out: Sink::Memory(Arc::clone(&out)),
            err: Sink::Memory(Arc::clone(&err)),
            options,
            err_colour: colour,
            err_terminal: false,
            layout,
        };
        (printer, out, err)
    }

    /// `--json`: data is JSON, and a run shows no progress.
    pub(crate) fn json(&self) -> bool {
        self.options.json
    }

    /// `--quiet`: status lines are not shown.
    pub(crate) fn quiet(&self) -> bool {
        self.options.quiet
    }

    /// How wide tables may be, and whether stdout is a terminal.
    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// Data on stdout, as given. A closed pipe (`upkeep plan | head`) comes back as
    /// `BrokenPipe`, which `error::report` turns into a quiet exit.
    pub(crate) fn data(&self, text: &str) -> io::Result<()> {
        self.out.write(text.as_bytes())
    }

    /// A value as pretty JSON on stdout, with a final newline.
    pub(crate) fn json_value(&self, value: &(impl serde::Serialize + ?Sized)) -> io::Result<()> {
        let mut text = serde_json::to_vec_pretty(value).map_err(io::Error::from)?;
        text.push(b'\n');
        self.out.write(&text)
    }

    /// A status line on stderr (what upkeep is doing); not shown with `--quiet`.
    pub(crate) fn status(&self, line: &str) {
        if !self.options.quiet {
            self.message(line);
        }
    }

    /// A line on stderr that is always shown: errors, warnings, what a question is about.
    /// A leading `error:`, `warning:`, `hint:` or `note:` on any of its lines is coloured
    /// when stderr is.
    pub(crate) fn message(&self, text: &str) {
        let mut line = String::with_capacity(text.len() + 1);
        for (i, part) in text.split('\n').enumerate() {
            if i > 0 {
                line.push('\n');
            }
            line.push_str(&self.paint(part));
        }
        line.push('\n');
        // One write per message, so messages from threads never interleave; a closed
        // stderr leaves nobody to tell.
        let _ = self.err.write(line.as_bytes());
    }

    /// A question on stderr, without a newline, for the answer to follow on the same line.
    pub(crate) fn prompt(&self, question: &str) {
        let _ = self.err.write(question.as_bytes());
    }

    /// Raw bytes on stderr (the diagnostics `UPKEEP_LOG` turns on).
    pub(crate) fn stderr_bytes(&self, bytes: &[u8]) -> io::Result<()> {
        self.err.write(bytes)
    }

    /// Whether stderr is coloured (for the diagnostics `UPKEEP_LOG` turns on).
    pub(crate) fn stderr_colour(&self) -> bool {
        self.err_colour
    }

    /// Whether a run shows an animated progress bar: on a terminal, without `--json` or
    /// `--quiet`.
    pub(crate) fn progress_bar(&self) -> bool {
        self.err_terminal && !self.options.json && !self.options.quiet
    }

    /// Where indicatif draws: stderr when a bar is shown, nowhere otherwise.
    pub(crate) fn progress_target(&self) -> indicatif::ProgressDrawTarget {
        match (&self.err, self.progress_bar()) {
            (Sink::Stream(_), true) => indicatif::ProgressDrawTarget::stderr(),
            _ => indicatif::ProgressDrawTarget::hidden(),
        }
    }

    fn paint<'a>(&self, line: &'a str) -> std::borrow::Cow<'a, str> {
        const LABELS: [(&str, &str); 4] = [
            ("error:", "\x1b[1;31m"),
            ("warning:", "\x1b[1;33m"),
            ("hint:", "\x1b[1;36m"),
            ("note:", "\x1b[1m"),
        ];
        if !self.err_colour {
            return line.into();
        }
        for (label, style) in LABELS {
            if let Some(rest) = line.strip_prefix(label) {
                return format!("{style}{label}\x1b[0m{rest}").into();
            }
        }
        line.into()
    }
}

/// `std::io::Write` onto the process printer's stderr, for tracing's subscriber.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StderrWriter;

impl Write for StderrWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        get().stderr_bytes(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The process's own streams: the only code allowed to name them.
#[expect(
    clippy::disallowed_methods,
    reason = "the printer owns stdout and stderr; everything else writes through it"
)]
mod console {
    use std::io::{self, IsTerminal, Write};

    #[derive(Debug, Clone, Copy)]
    pub(super) enum Stream {
        Out,
        Err,
    }

    /// Write all of `bytes` and flush, holding the stream's lock so a write is never
    /// split by another thread's.
    pub(super) fn write(stream: Stream, bytes: &[u8]) -> io::Result<()> {
        match stream {
            Stream::Out => {
                let mut out = io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Stream::Err => {
                let mut err = io::stderr().lock();
                err.write_all(bytes)?;
                err.flush()
            }
        }
    }

    pub(super) fn is_terminal(stream: Stream) -> bool {
        match stream {
            Stream::Out => io::stdout().is_terminal(),
            Stream::Err => io::stderr().is_terminal(),
        }
    }

    /// stdout's width when it is a terminal.
    pub(super) fn terminal_width() -> Option<usize> {
        terminal_size::terminal_size_of(io::stdout()).map(|(w, _)| usize::from(w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let mut env = Env::default();
        for (key, value) in pairs {
            let value = Some((*value).to_owned());
            match *key {
                "NO_COLOR" => env.no_color = value,
                "CLICOLOR" => env.clicolor = value,
                "CLICOLOR_FORCE" => env.clicolor_force = value,
                "COLUMNS" => env.columns = value,
                "TERM" => env.term = value,
                other => panic!("not read: {other}"),
            }
        }
        env
    }

    #[test]
    fn colour_follows_the_flag_then_no_color_then_clicolor() {
        use ColorChoice::{Always, Auto, Never};
        type Case = (
            ColorChoice,
            bool,
            &'static [(&'static str, &'static str)],
            bool,
        );
        let cases: &[Case] = &[
            (Auto, true, &[], true),
            (Auto, false, &[], false),
            (Auto, true, &[("NO_COLOR", "1")], false),
            // An empty NO_COLOR does not count, as no-color.org says.
            (Auto, true, &[("NO_COLOR", "")], true),
            (Auto, true, &[("CLICOLOR", "0")], false),
            (Auto, false, &[("CLICOLOR_FORCE", "1")], true),
            (Auto, false, &[("CLICOLOR_FORCE", "0")], false),
            (
                Auto,
                false,
                &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
                false,
            ),
            (Auto, true, &[("TERM", "dumb")], false),
            (Always, false, &[("NO_COLOR", "1")], true),
            (Never, true, &[("CLICOLOR_FORCE", "1")], false),
        ];
        for (choice, terminal, vars, expected) in cases {
            assert_eq!(
                colour(*choice, *terminal, &env(vars)),
                *expected,
                "{choice:?} terminal={terminal} {vars:?}"
            );
        }
    }

    #[test]
    fn width_is_columns_then_the_terminal_then_80() {
        assert_eq!(width(&env(&[("COLUMNS", "132")]), Some(100)), 132);
        assert_eq!(width(&env(&[("COLUMNS", "wide")]), Some(100)), 100);
        assert_eq!(width(&env(&[("COLUMNS", "0")]), None), FALLBACK_WIDTH);
        assert_eq!(width(&env(&[]), None), 80);
    }

    fn text(buffer: &Buffer) -> String {
        String::from_utf8(buffer.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn quiet_drops_status_lines_but_not_data_or_errors() {
        let layout = Layout {
            width: 80,
            terminal: false,
        };
        let options = Options {
            quiet: true,
            ..Options::default()
        };
        let (printer, out, err) = Printer::memory(options, false, layout);
        printer.status("backing up 2 path(s)...");
        printer.message("error: failed to back up");
        printer.data("table\n").unwrap();
        printer.json_value(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(text(&err), "error: failed to back up\n");
        assert_eq!(text(&out), "table\n{\n  \"a\": 1\n}\n");
        assert!(!printer.progress_bar());
    }

    #[test]
    fn colour_paints_only_the_leading_label_of_each_line() {
        let layout = Layout {
            width: 80,
            terminal: false,
        };
        let (printer, _, err) = Printer::memory(Options::default(), true, layout);
        printer.message("error: failed to x\n  caused by: y\nhint: z error: w");
        printer.status("checked 1 update source");
        assert_eq!(
            text(&err),
            "\x1b[1;31merror:\x1b[0m failed to x\n  caused by: y\n\x1b[1;36mhint:\x1b[0m z error: w\n\
             checked 1 update source\n"
        );
        let (plain, _, err) = Printer::memory(Options::default(), false, layout);
        plain.message("warning: w");
        assert_eq!(text(&err), "warning: w\n");
    }
}
