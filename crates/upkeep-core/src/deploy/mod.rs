//! Data-driven file deployment, one-time scripts and pre-run scripts: ae.updater's model,
//! with its folder and file names, made safe.
//!
//! # Source folders
//!
//! Directly under a root directory (by default the current directory, as in ae.updater),
//! folders with these names hold files to deploy. Files keep their path relative to the
//! source folder; empty directories are not deployed, and names starting with `.` (files
//! and directories, such as a `.gitkeep`) are skipped as ae.paths' glob skips them.
//! Names need not be UTF-8.
//!
//! | folder | does |
//! |---|---|
//! | `ae_updater_copies` | copies files missing at the destination |
//! | `ae_updater_over_copies` | copies and overwrites |
//! | `ae_updater_moves` | moves files missing at the destination |
//! | `ae_updater_over_moves` | moves and overwrites |
//!
//! The folders are processed in that order, as ae.updater's `check_all` does, and each
//! sees what the ones before it wrote in the same call: a default in `ae_updater_copies`
//! and its override in `ae_updater_over_copies___OnOS__linux` end as the override, in one
//! call. A source folder stays where it is: after a move it is empty (files that were
//! skipped stay in it).
//!
//! A folder name may carry arguments, each after `___`:
//!
//! - `OnOS__<platform>`: only on that platform. The ids are ae.base's `os_platform` values:
//!   `android`, `cygwin`, `darwin` (macOS), `freebsd`, `ios`, `linux`, `win32` (Windows).
//!   On other platforms every file of the folder is listed as `skip: other OS`.
//! - `ToPath__<defused path>`: the destination folder, instead of the default `{usr}`.
//!   The value is a path or placeholder template written with ae.base's `defuse`, because
//!   a folder name cannot hold `/` (see below). A relative destination is relative to the
//!   root.
//!
//! Example: `ae_updater_copies___OnOS__linux___ToPath__﹛config﹜⁄myapp` copies its files
//! into `{config}/myapp` on Linux only.
//!
//! # Defusing
//!
//! ae.base's `defuse()` (ae.base 0.3.83, `ae/base.py`, table `ASCII_UNICODE`) replaces the
//! characters that a file name cannot or should not hold with look-alike Unicode
//! characters; `dedefuse()` ([`defuse::dedefuse`]) turns them back. The table:
//!
//! | ASCII | defused | | ASCII | defused | | ASCII | defused |
//! |---|---|---|---|---|---|---|---|
//! | `/` | `⁄` U+2044 | | `\|` | `।` U+0964 | | `\` | `﹨` U+FE68 |
//! | `:` | `﹕` U+FE55 | | `*` | `﹡` U+FE61 | | `?` | `﹖` U+FE56 |
//! | `"` | `＂` U+FF02 | | `'` | `‘` U+2018 | | `<` `>` | `⟨` `⟩` U+27E8/9 |
//! | `(` `)` | `⟮` `⟯` U+27EE/F | | `[` `]` | `⟦` `⟧` U+27E6/7 | | `{` `}` | `﹛` `﹜` U+FE5B/C |
//! | `#` | `﹟` U+FE5F | | `;` | `﹔` U+FE54 | | `@` | `﹫` U+FE6B |
//! | `&` | `﹠` U+FE60 | | `=` | `﹦` U+FE66 | | `+` | `﹢` U+FE62 |
//! | `$` | `﹩` U+FE69 | | `%` | `﹪` U+FE6A | | `^` | `＾` U+FF3E |
//! | `,` | `﹐` U+FE50 | | space | `␣` U+2423 | | DEL | `␡` U+2421 |
//!
//! and `://` as the one character `⫻` (U+2AFB), and the control characters 0 to 31 as
//! U+2400 to U+241F. Every other character stands for itself. Undoing it can produce NUL,
//! newlines and `..`: the placeholder rules below refuse those.
//!
//! # Destinations and placeholders
//!
//! A destination template may use ae.paths' ids as an application sees them on Linux
//! ([`ae_paths`]: `{usr}` = `$XDG_CONFIG_HOME` or `~/.config`, `{cwd}` = the root,
//! `{app_name}`, `{app}`, `{doc}`, `{ado}`), and upkeep's platform ids `{home}`, `{data}`,
//! `{tmp}`, `{config}`, `{cache}`, `{downloads}`, `{documents}`, `{desktop}`, `{music}`,
//! `{pictures}`, `{videos}` (the `dirs` crate), and placeholders the caller defines
//! ([`PlanOptions::placeholders`], which win over both). A leading `~` is the home
//! directory, as ae.base's `norm_path` expands it. A relative destination is relative to
//! the root. A file's path below its source folder takes ae.paths' ids too (`{app_name}.ini`),
//! as ae.paths' `copy_files` formats it; other braces in a name stay as they are. Expansion
//! of a destination refuses an unknown id, a value or result with NUL or a newline, and a
//! `..` component anywhere. Every destination must then lie beneath an allowed root
//! ([`PlanOptions::allowed_roots`]; by default the folder's own expanded destination
//! folder). Refused files are listed with the reason; the others go on.
//!
//! The allowed root is trusted as given. Below it nothing is followed: each directory is
//! opened from its parent's descriptor with `O_NOFOLLOW | O_DIRECTORY`, missing ones are
//! created with `mkdirat`, and files are created and renamed relative to that descriptor.
//! A symbolic link planted in a destination's parents, even while a deployment runs, makes
//! that file fail; it never redirects a write. A destination that is itself a link is not
//! overwritten; links and special files in a source folder are not deployed.
//!
//! # Plan, then apply
//!
//! [`plan`] lists every file with its action: `create`, `overwrite`, `skip: exists`,
//! `skip: other OS`, `conflict: changed since upkeep wrote it` or `refused: <reason>`. It
//! writes nothing. [`apply`] does exactly that plan:
//!
//! - a copy writes a temporary file in the destination directory, gives it the source's
//!   permission bits and access and modification times (as `shutil.copy2`), fsyncs it,
//!   renames it into place and fsyncs the directory;
//! - a move renames the file (atomic: after a crash it is in its source or its
//!   destination); across file systems it copies as above, reports the file
//!   ([`ApplyOptions::on_processed`]), and only then removes the source;
//! - a file to create is never put over a file that appeared since the plan
//!   (`RENAME_NOREPLACE`), and a file to overwrite whose content changed since the plan,
//!   or whose source changed, fails;
//! - one failing file is reported and the others go on (a later file planned on top of
//!   it, such as its override, fails with it).
//!
//! The processed files (source, destination, SHA-256, size, action, mode) are returned,
//! as ae.updater's `check_all` returns its processed files, so a caller can record what
//! it owns. Given the checksums upkeep last wrote ([`PlanOptions::owned`]), an overwrite
//! of a file whose content differs (changed by someone else) is a `conflict`, written
//! only with [`ApplyOptions::force`].
//!
//! # Scripts
//!
//! - `ae_pre_app_run.py` beside the source folders: its `run_updater()` runs every time.
//! - `ae_updater.py`: its `run_updater()` runs once; after success (an exit without an
//!   exception and a true return value, as ae.updater requires) the script is deleted, or
//!   kept with [`ScriptOptions::keep_after_success`] and then never run again with the
//!   same checksum. A failure keeps it, and it runs again next time.
//! - `once/`: executables in any language, each run once per (name, SHA-256) and then
//!   deleted (or kept) like `ae_updater.py`. Files that are not executable are listed as
//!   ignored.
//!
//! Scripts run with the root as working directory, through [`crate::exec`] (own process
//! group, optional timeout, output in a log file). Which have run is the caller's record:
//! [`Scripts::due`] takes the set of `(name, sha256)` already run.
//!
//! # `check_all`
//!
//! [`check_all`] is what an application calls at start-up: the pre-run script, then the
//! one-time scripts, then the file operations. With nothing to do it costs a directory
//! listing and a few `stat`s and starts no process.
//!
//! # Where upkeep differs from ae.updater, and why
//!
//! - **A failing step does not stop the others.** ae.updater lets an exception in a script
//!   or a copy end `check_all`; here a failed script or file is reported and the rest goes
//!   on, so one bad file cannot hold back every other update.
//! - **Order of scripts.** ae.updater 0.3.17's `check_all` runs `ae_updater.py` before
//!   `ae_pre_app_run.py`; upkeep runs the pre-run script first, so that a one-time update
//!   runs in the environment the pre-run script prepares on every start.
//! - **Exact folder names.** ae.updater collects `ae_updater_copies*`, so a folder such as
//!   `ae_updater_copies_old` is deployed too; upkeep takes only the exact names, with
//!   arguments after `___`.
//! - **Fail closed on folder arguments.** ae.updater ignores unknown arguments and takes
//!   the last of repeated ones, and an unknown platform id silently never matches; upkeep
//!   refuses the folder's files and names the problem (with `win32`/`darwin` hints for
//!   `windows`/`mac`).
//! - **No links followed below the root, no `..`, nothing outside the allowed roots.**
//!   ae.updater copies through links and writes wherever a `ToPath__` value points.
//! - **A plan, checksums and conflicts.** ae.updater has no dry run and no record of what
//!   it wrote; it overwrites a file the user changed, where upkeep reports a conflict.
//! - **One listing per call.** The source folders are listed once, when the plan is made:
//!   a file an earlier folder deploys into a later source folder (a `ToPath__` pointing
//!   into one) is deployed by the next call, where ae.updater's later glob finds it.
//! - **Folders of one kind in name order.** ae.updater takes them in the order the file
//!   system lists them; upkeep sorts them by name, so overlaps among them are repeatable.
//! - **Unknown placeholders and `~user`.** ae.updater leaves an unknown `{id}` (and a
//!   `~user` that does not exist) in the path, making a directory of that name; upkeep
//!   refuses the folder's files.
//! - **Bytecode.** Python scripts run with `-B`, so no `__pycache__` is left in the root.

pub mod ae_paths;
mod apply;
pub mod defuse;
pub mod folders;
pub mod ledgered;
mod operations;
mod safe_fs;
pub mod scripts;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use apply::{Applied, ApplyOptions, Failed, Processed, Skipped, apply};
pub use folders::{FolderKind, SourceFolder};
pub use operations::{Action, Plan, PlanOptions, PlannedFile, plan};
pub use scripts::{Script, ScriptKind, ScriptOptions, ScriptOutcome, ScriptRun, Scripts};

/// Paths in JSON as text: a name that is not UTF-8 (deployed as it is) is shown with
/// U+FFFD in its place instead of failing the whole output.
pub(crate) mod lossy {
    use std::path::{Path, PathBuf};

    pub(crate) fn path<S: serde::Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&path.to_string_lossy())
    }

    #[expect(clippy::ref_option, reason = "serde's serialize_with passes &Option")]
    pub(crate) fn option<S: serde::Serializer>(
        path: &Option<PathBuf>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match path {
            Some(path) => s.serialize_some(&path.to_string_lossy()),
            None => s.serialize_none(),
        }
    }
}

/// Why a deployment could not even be planned. Messages read after "failed to ".
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The root directory could not be listed.
    #[error("list {root}")]
    ListRoot {
        /// The root.
        root: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The scripts could not be looked for.
    #[error("look for scripts in {root}")]
    Scripts {
        /// The root.
        root: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// What [`check_all`] does.
#[derive(Debug, Clone, Default)]
pub struct CheckAllOptions {
    /// Destinations, placeholders, roots, platform, owned checksums.
    pub plan: PlanOptions,
    /// Interpreter, logs, timeout, keeping one-time scripts.
    pub scripts: ScriptOptions,
    /// `(name, sha256)` of the one-time scripts already run.
    pub already_run: HashSet<(String, String)>,
    /// Overwrite files in conflict.
    pub force: bool,
}

/// What [`check_all`] did.
#[derive(Debug, Clone, Default)]
pub struct CheckAll {
    /// Scripts run, in order.
    pub scripts: Vec<ScriptRun>,
    /// The plan the file operations followed.
    pub plan: Plan,
    /// What happened to the files.
    pub applied: Applied,
}

impl CheckAll {
    /// The files copied, moved or overwritten (ae.updater's return value).
    pub fn processed(&self) -> &[Processed] {
        &self.applied.processed
    }
}

/// ae.updater's `check_all`, done safely: the pre-run script, then the due one-time
/// scripts, then plan and apply the source folders under `root`.
///
/// # Errors
/// `root` cannot be listed or a script cannot be read. Failed scripts and files are
/// reported in the result.
pub fn check_all(root: &Path, options: &CheckAllOptions) -> Result<CheckAll, DeployError> {
    let found = scripts::discover(root).map_err(|source| DeployError::Scripts {
        root: root.to_path_buf(),
        source,
    })?;
    let runs = found
        .due(&options.already_run)
        .into_iter()
        .map(|script| scripts::run(root, script, &options.scripts))
        .collect();
    let plan = plan(root, &options.plan)?;
    // Without files to write, apply only lists the skipped ones: no system call.
    let applied = apply(
        &plan,
        &mut ApplyOptions {
            force: options.force,
            on_processed: None,
        },
    );
    Ok(CheckAll {
        scripts: runs,
        plan,
        applied,
    })
}
