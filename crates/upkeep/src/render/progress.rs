//! Live progress of a run on stderr, through the printer: an indicatif bar on a terminal,
//! plain lines otherwise; nothing with `--json`, only warnings and streamed module output
//! with `--quiet`.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use upkeep_core::duration::format_duration;
use upkeep_core::exec::Stream;
use upkeep_core::run::{ModuleResult, Outcome, Reporter, RunEvent};

use crate::printer::{self, Printer};

/// Renders run events for a person.
pub(crate) struct ProgressReporter {
    printer: &'static Printer,
    /// `--json`: stderr is kept for errors only.
    silent: bool,
    bar: Option<ProgressBar>,
    running: Mutex<BTreeSet<String>>,
}

impl ProgressReporter {
    /// A reporter; `quiet` (for `--json`) keeps stderr for errors only.
    pub(crate) fn new(quiet: bool) -> Self {
        let printer = printer::get();
        let silent = quiet || printer.json();
        let bar = (!silent && printer.progress_bar()).then(|| {
            // Hidden until the run starts and the number of modules is known.
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self {
            printer,
            silent,
            bar,
            running: Mutex::new(BTreeSet::new()),
        }
    }

    /// A status line (not shown with `--quiet`).
    fn line(&self, text: &str) {
        if !self.printer.quiet() {
            self.always(text);
        }
    }

    /// A line shown even with `--quiet`: warnings, and module output asked for with `-v`.
    fn always(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.println(text);
        } else {
            self.printer.message(text);
        }
    }

    fn finished(&self, result: &ModuleResult) {
        let ran = result.log_path.is_some();
        if let Ok(mut running) = self.running.lock() {
            running.remove(&result.module);
        }
        if let (true, Some(bar)) = (ran, &self.bar) {
            bar.inc(1);
        }
        // Up-to-date modules are not news; everything that ran or was held back is.
        if ran || !matches!(result.outcome, Outcome::Skipped { .. }) {
            let took = format_duration(Duration::from_millis(result.duration_ms()));
            let (mark, module, name) =
                (mark(&result.outcome), &result.module, result.outcome.name());
            // A detail can be a list of thousands of files: cut it like the summary does.
            let used = 7 + module.len() + 1 + name.len() + 2 + took.len() + 3;
            let detail = result
                .outcome
                .detail()
                .map(|d| format!(": {}", self.printer.layout().detail(&d, used).0))
                .unwrap_or_default();
            self.line(&format!("{mark:<6} {module} {name}{detail} ({took})"));
        }
        self.show_running();
    }

    fn recovered(&self, runs: &[i64], restored: &[upkeep_core::backup::Recovered]) {
        if !runs.is_empty() {
            let ids: Vec<String> = runs.iter().map(ToString::to_string).collect();
            let noun = if runs.len() == 1 { "run" } else { "runs" };
            self.line(&format!(
                "note: {noun} {} never finished (upkeep was stopped); marked interrupted",
                ids.join(", ")
            ));
        }
        for r in restored {
            self.line(&format!("note: {}", r.detail));
        }
    }

    /// What the update sources said before a run; a failed source always shows.
    fn checked(&self, checked: usize, updates: usize, failed: &[(String, String)]) {
        let sources = upkeep_core::message::count(checked, "update source", "update sources");
        let offered = upkeep_core::message::count(updates, "update", "updates");
        self.line(&format!(
            "checked {sources}: {offered} available, {} failed",
            failed.len()
        ));
        for (module, error) in failed {
            self.always(&format!("  {module}: {error}"));
        }
    }

    fn show_running(&self) {
        if let (Some(bar), Ok(running)) = (&self.bar, self.running.lock()) {
            let names: Vec<&str> = running.iter().map(String::as_str).collect();
            bar.set_message(names.join(", "));
        }
    }
}

impl Reporter for ProgressReporter {
    fn event(&self, event: &RunEvent) {
        if self.silent {
            return;
        }
        match event {
            RunEvent::Recovered { runs, restored } => self.recovered(runs, restored),
            RunEvent::Checked {
                checked,
                updates,
                failed,
            } => self.checked(*checked, *updates, failed),
            RunEvent::Started {
                run_id,
                total,
                to_run,
                jobs,
            } => {
                let run = run_id.map_or_else(|| "dry run".to_owned(), |id| format!("run {id}"));
                if let Some(bar) = &self.bar {
                    bar.set_length(*to_run as u64);
                    bar.set_draw_target(self.printer.progress_target());
                    bar.enable_steady_tick(Duration::from_millis(120));
                }
                self.line(&format!(
                    "{run}: {to_run} of {total} modules to run, {jobs} at a time"
                ));
            }
            RunEvent::ModuleStarted { module, action } => {
                if let Ok(mut running) = self.running.lock() {
                    running.insert(module.clone());
                }
                if self.bar.is_none() {
                    self.line(&format!("start  {module} ({})", action.describe()));
                }
                self.show_running();
            }
            RunEvent::ModuleOutput {
                module,
                stream,
                line,
            } => {
                let mark = if *stream == Stream::Stderr { "!" } else { "|" };
                self.always(&format!("{module} {mark} {line}"));
            }
            RunEvent::ModuleFinished(result) => self.finished(result),
            RunEvent::Warning(message) => self.always(&format!("warning: {message}")),
            RunEvent::Finished(_) => {
                if let Some(bar) = &self.bar {
                    bar.finish_and_clear();
                }
            }
        }
    }
}

fn mark(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded | Outcome::WouldRun => "ok",
        Outcome::Skipped { .. } => "skip",
        Outcome::Blocked { .. } => "block",
        Outcome::Cancelled { .. } => "cancel",
        Outcome::IntegrityRefused { .. } => "REFUSE",
        Outcome::Failed { .. }
        | Outcome::TimedOut { .. }
        | Outcome::BackupFailed { .. }
        | Outcome::HealthFailed { .. } => "FAIL",
        Outcome::RolledBack { .. } => "ROLLBACK",
        Outcome::NeedsIntervention { .. } => "HELD!",
        Outcome::Held { .. } => "held",
    }
}
