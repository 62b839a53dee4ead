//! Manifests: the seeds' `manifest.json` (both of its forms) and the native `upkeep.toml`,
//! parsed into one validated [`Manifest`].
//!
//! Parsing is two steps. A format parser (`seed`, `native`) turns source text into
//! [`RawModule`]s that keep the byte span of every field, reporting syntax, type and
//! unknown-field errors. [`validate`] then checks what crosses entries (duplicate names,
//! unknown children and dependencies, cycles, missing module folders, bad versions) and
//! builds the model. Every problem becomes a [`Diagnostic`]; any diagnostic fails the load,
//! so nothing runs from an invalid manifest.

mod diag;
mod health;
pub(crate) mod json_syntax;
mod native;
mod rules;
mod seed;
mod sources;
mod validate;
pub mod writeback;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use diag::{Diagnostic, Severity, Snippet, Span};
pub use rules::{ChildrenRunner, Rule, RuleOrigin, RunRule};
pub use sources::{Channel, Policy, Source, SourceKind, UpdateType};

use crate::version::Version;

/// Manifests larger than this are refused before parsing.
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// Which format a manifest was read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManifestFormat {
    /// The seeds' `manifest.json`.
    #[default]
    SeedJson,
    /// upkeep's own `upkeep.toml`.
    NativeToml,
}

/// A validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// The directory holding it: module folders and `venv/` are looked up here.
    pub root: PathBuf,
    /// The format it was read from.
    pub format: ManifestFormat,
    /// The module a run starts from when no targets are named.
    pub entrypoint: Option<String>,
    /// The configured Python interpreter, if any.
    pub python: Option<String>,
    /// The default per-module timeout.
    pub default_timeout: Option<Duration>,
    /// The modules in declaration order.
    pub modules: Vec<ModuleSpec>,
    /// Whether a healthy update tags the updates directory's git repository, and how.
    pub git_tags: GitTags,
    /// What loading found worth saying without refusing the manifest (keys of the user's
    /// own in a seed manifest), in source order; `plan` and `doctor` show them.
    pub warnings: Vec<Diagnostic>,
}

/// Tagging a healthy update in git, the seeds' `<module>-v<version>-<timestamp>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitTags {
    /// Tag at all (only ever when the manifest's directory is in a git work tree).
    pub enabled: bool,
    /// The tag name with `{module}`, `{version}` and `{timestamp}` (UTC `YYYYMMDDhhmmss`).
    pub format: String,
}

impl GitTags {
    /// The seeds' convention.
    pub const DEFAULT_FORMAT: &'static str = "{module}-v{version}-{timestamp}";
}

impl Default for GitTags {
    fn default() -> Self {
        Self {
            enabled: true,
            format: Self::DEFAULT_FORMAT.to_owned(),
        }
    }
}

/// What an owned path holds; backups and restores can select by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathCategory {
    /// Configuration files.
    Config,
    /// Data (the default for a plain list of paths).
    Data,
    /// Logs, only backed up when asked for.
    Logs,
    /// Data that several modules own together (backed up and restored like data). Two
    /// modules may own overlapping paths only when both list them here; a rollback of
    /// either then restores them, which both have agreed to.
    Shared,
}

impl PathCategory {
    /// Every category, in the order they are written.
    pub const ALL: [PathCategory; 4] = [
        PathCategory::Config,
        PathCategory::Data,
        PathCategory::Logs,
        PathCategory::Shared,
    ];

    /// The name as manifests and the command line spell it.
    pub fn name(self) -> &'static str {
        match self {
            PathCategory::Config => "config",
            PathCategory::Data => "data",
            PathCategory::Logs => "logs",
            PathCategory::Shared => "shared",
        }
    }

    /// The category called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A path a module owns, as written (placeholders are expanded when a run knows its state
/// directory; see [`crate::placeholders`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedPath {
    /// What it holds.
    pub category: PathCategory,
    /// The template, e.g. `{data}/gogs` or `/etc/gogs/app.ini`.
    pub template: String,
}

/// A check run after a module's update; only a pass promotes its version to last safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The program and its arguments (a string in the manifest runs through `sh -c`).
    pub argv: Vec<String>,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Attempts after the first failing one.
    pub retries: u32,
    /// Pause between attempts.
    pub interval: Duration,
    /// What makes restored files take effect (e.g. `systemctl reload nginx`): run after a
    /// rollback's restore and before the check runs again, so that a service that
    /// re-reads its configuration only when told is judged on the restored one.
    pub reload: Option<Vec<String>>,
}

impl HealthCheck {
    /// Timeout of an attempt when neither the module nor the defaults set one.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Pause between attempts when neither the module nor the defaults set one.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
}

/// One module of a manifest.
#[derive(Debug, Clone)]
pub struct ModuleSpec {
    /// Unique name.
    pub name: String,
    /// What running it means.
    pub kind: ModuleKind,
    /// Declared version, if any.
    pub version: Option<Version>,
    /// Human description, shown before the module is ever set up.
    pub description: Option<String>,
    /// Disabled modules (and their children) are not run.
    pub enabled: bool,
    /// Critical modules, and what they need, run before everything else.
    pub critical: bool,
    /// Modules run after this one and only if it succeeded or was already up to date.
    pub children: Vec<String>,
    /// Modules anywhere in the manifest that must be in place before this one runs.
    pub depends_on: Vec<String>,
    /// Per-module timeout overriding the manifest default.
    pub timeout: Option<Duration>,
    /// The directory whose checksum guards this module's code, if it has one.
    pub dir: Option<PathBuf>,
    /// The checksum declared in the manifest (seed `checksum` field), if any.
    pub manifest_checksum: Option<String>,
    /// Files and directories the module owns: backed up before it runs, restored when its
    /// update fails.
    pub paths: Vec<OwnedPath>,
    /// The check run after its update.
    pub health: Option<HealthCheck>,
    /// Restore its paths when its update or health check fails.
    pub rollback: bool,
    /// Where its updates come from, if it says (see `updates`).
    pub source: Option<Source>,
    /// What its updates may move it to.
    pub policy: Policy,
    /// When its code runs: on every run, or when something changed (see [`RunRule`]).
    pub run: Rule<RunRule>,
    /// Whether its own code runs its children (`true`), so upkeep does not run them as
    /// steps of their own, or upkeep does (`false`).
    pub runs_children: Rule<bool>,
}

impl ModuleSpec {
    /// The checksum the module declares: the manifest field, else its `checksum` file.
    pub fn declared_checksum(&self) -> Option<String> {
        self.manifest_checksum.clone().or_else(|| {
            let dir = self.dir.as_deref()?;
            crate::integrity::read_checksum_file(dir).ok().flatten()
        })
    }

    /// Whether upkeep makes the module's work directory (`<state>/work/<name>`) before it
    /// starts: only when its `paths` name it (`{work}`), because its backups and rollbacks
    /// cover what is there. Any other module that keeps files creates the directory on its
    /// first use (`mkdir -p "$UPKEEP_WORK_DIR"`), so a run does not make an empty directory
    /// for every module.
    pub fn makes_work_dir(&self) -> bool {
        self.paths.iter().any(|p| p.template.contains("{work}"))
    }
}

/// What a module runs.
#[derive(Debug, Clone, PartialEq)]
pub enum ModuleKind {
    /// A Python module with `main(args)` or `setup(old_version)`, imported by dotted path
    /// relative to the manifest's directory (which is treated as a package).
    Python {
        /// Dotted import path such as `adblock.index`.
        module: String,
        /// Arguments passed to `main(args)`.
        args: Vec<serde_json::Value>,
    },
    /// An executable and its arguments, run without a shell.
    Command {
        /// The program followed by its arguments.
        argv: Vec<String>,
    },
    /// No code: only orders its children.
    Group,
    /// A file deployment: ae.updater's source folders and scripts under `root` (see
    /// `deploy`), applied in-process with the ownership ledger.
    Files {
        /// The directory holding the `ae_updater_*` folders and scripts.
        root: PathBuf,
        /// Destination of folders without `ToPath__` (default `{usr}`).
        destination: Option<String>,
        /// The manifest's own placeholders for destinations.
        placeholders: std::collections::BTreeMap<String, PathBuf>,
    },
}

impl ModuleKind {
    /// [`ModuleKind::label`] of Python modules.
    pub const PYTHON: &'static str = "python";
    /// [`ModuleKind::label`] of command modules.
    pub const COMMAND: &'static str = "command";
    /// [`ModuleKind::label`] of groups.
    pub const GROUP: &'static str = "group";
    /// [`ModuleKind::label`] of file deployments.
    pub const FILES: &'static str = "files";

    /// A short name for tables and JSON: `python`, `command` or `group`.
    pub fn label(&self) -> &'static str {
        match self {
            ModuleKind::Python { .. } => Self::PYTHON,
            ModuleKind::Command { .. } => Self::COMMAND,
            ModuleKind::Group => Self::GROUP,
            ModuleKind::Files { .. } => Self::FILES,
        }
    }
}

impl Manifest {
    /// The module called `name`.
    pub fn module(&self, name: &str) -> Option<&ModuleSpec> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// Module names, in declaration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.modules.iter().map(|m| m.name.as_str())
    }
}

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("read manifest {path}")]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest given does not exist. It has its own variant because the size check
    /// stats the file before reading it, and `fs_err` would otherwise name that step
    /// ("query resolved metadata") as the cause instead of saying the file is missing.
    #[error("read manifest {path}: no such file")]
    Missing {
        /// The manifest path.
        path: PathBuf,
    },
    /// No manifest was given and none was found in the current directory.
    #[error("find a manifest: neither ./upkeep.toml nor ./manifest.json exists")]
    NotFound,
    /// The manifest has problems; each is a diagnostic.
    #[error("load manifest {path}: {}", crate::message::count(diagnostics.len(), "problem", "problems"))]
    Invalid {
        /// The manifest path.
        path: PathBuf,
        /// Every problem found, in source order.
        diagnostics: Vec<Diagnostic>,
    },
}

/// A module as a format parser saw it, with the span of every field for diagnostics.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawModule {
    /// Field path of the entry, e.g. `updates[3]` or `module[3]`.
    pub(crate) path: String,
    pub(crate) name: Spanned<String>,
    pub(crate) kind: RawKind,
    pub(crate) args: Vec<serde_json::Value>,
    pub(crate) version: Option<Spanned<String>>,
    pub(crate) description: Option<String>,
    pub(crate) enabled: bool,
    pub(crate) critical: bool,
    pub(crate) children: Vec<Spanned<String>>,
    pub(crate) depends_on: Vec<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<String>>,
    pub(crate) checksum: Option<Spanned<String>>,
    pub(crate) dir: Option<Spanned<String>>,
    pub(crate) paths: Vec<(PathCategory, Spanned<String>)>,
    pub(crate) health: Option<RawHealth>,
    pub(crate) rollback: Option<bool>,
    /// `destination` of a `files` module.
    pub(crate) destination: Option<Spanned<String>>,
    /// `placeholders` of a `files` module: name → path.
    pub(crate) placeholders: Vec<(Spanned<String>, String)>,
    /// Where its updates come from.
    pub(crate) source: Option<sources::RawSource>,
    /// What its updates may move it to.
    pub(crate) policy: Option<sources::RawPolicy>,
    /// `run`: `every-run` or `on-change`.
    pub(crate) run: Option<Spanned<String>>,
    /// `runsChildren` / `runs_children`.
    pub(crate) runs_children: Option<Spanned<bool>>,
}

/// A health check as written; in `defaults` it has no command.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawHealth {
    /// Where the `health` value is, for diagnostics about it as a whole.
    pub(crate) span: Span,
    pub(crate) command: Option<Spanned<Vec<String>>>,
    pub(crate) timeout: Option<Spanned<String>>,
    pub(crate) retries: Option<u32>,
    pub(crate) interval: Option<Spanned<String>>,
    pub(crate) reload: Option<Spanned<Vec<String>>>,
}

/// The kind as written, before module folders are checked.
#[derive(Debug, Clone, Default)]
pub(crate) enum RawKind {
    /// Nothing said: a seed entry that is a Python module `<name>/index.py` if that file
    /// exists, otherwise a group when it has children.
    #[default]
    Implicit,
    /// Explicitly a group (`"module": ""`).
    Group,
    /// A dotted module path or a `.py` file path.
    Python(Spanned<String>),
    /// An argv list.
    Command(Spanned<Vec<String>>),
    /// A script path relative to the manifest.
    Script(Spanned<String>),
    /// A file deployment root relative to the manifest.
    Files(Spanned<String>),
}

/// A value and where it was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// Manifest-wide settings as a format parser saw them.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawManifest {
    pub(crate) entrypoint: Option<Spanned<String>>,
    pub(crate) python: Option<String>,
    pub(crate) timeout: Option<Spanned<String>>,
    pub(crate) modules: Vec<RawModule>,
    /// `defaults.rollback`.
    pub(crate) default_rollback: Option<bool>,
    /// `defaults.health` (timeout, retries, interval).
    pub(crate) default_health: Option<RawHealth>,
    /// Git tagging switch.
    pub(crate) git_tags: Option<bool>,
    /// Git tag name format.
    pub(crate) tag_format: Option<Spanned<String>>,
    /// The manifest's default run rule (seed: top-level `run`; native: `defaults.run`).
    pub(crate) default_run: Option<Spanned<String>>,
    /// The format, whose defaults apply where the manifest says nothing.
    pub(crate) format: ManifestFormat,
    /// Field names as this format spells them, for diagnostics.
    pub(crate) spelling: Spelling,
}

/// How a format spells the fields that diagnostics name.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Spelling {
    pub(crate) depends_on: &'static str,
    pub(crate) module: &'static str,
    /// `tagFormat` or `tag_format`.
    pub(crate) tag_format: &'static str,
    /// Prefix of manifest-wide settings: `""` for JSON (`timeout`), `"upkeep."` for TOML.
    pub(crate) settings_prefix: &'static str,
    /// `source` and `policy` fields in camel case (`tagPattern`) rather than snake case.
    pub(crate) camel_case: bool,
    /// Where the manifest's default run rule is written: `run` or `defaults.run`.
    pub(crate) default_run: &'static str,
    /// `runsChildren` or `runs_children`.
    pub(crate) runs_children: &'static str,
}

/// Find the manifest to use: the given path, else `./upkeep.toml`, else `./manifest.json`.
///
/// # Errors
/// [`ManifestError::NotFound`] when nothing is given and neither default exists.
pub fn locate(given: Option<&Path>) -> Result<PathBuf, ManifestError> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    ["upkeep.toml", "manifest.json"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(ManifestError::NotFound)
}

/// Read, parse and validate a manifest. The format follows the file extension (`.toml` is
/// native, anything else is read as the seeds' JSON).
///
/// # Errors
/// [`ManifestError::Read`] when the file cannot be read, [`ManifestError::Invalid`] with
/// every diagnostic when it is not a valid manifest.
pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let read_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ManifestError::Missing {
                path: path.to_path_buf(),
            }
        } else {
            ManifestError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let meta = fs_err::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_MANIFEST_BYTES {
        let message = format!(
            "manifest is {} bytes, more than the {} MiB limit",
            meta.len(),
            MAX_MANIFEST_BYTES / (1024 * 1024)
        );
        let diagnostic = diag::at(path, "", None, None, message, None);
        return Err(ManifestError::Invalid {
            path: path.to_path_buf(),
            diagnostics: vec![diagnostic],
        });
    }
    let bytes = fs_err::read(path).map_err(read_err)?;
    let source = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let offset = err.utf8_error().valid_up_to();
            let span = Some(Span::new(offset, offset + 1));
            let lossy = String::from_utf8_lossy(err.as_bytes()).into_owned();
            let diagnostic = diag::at(
                path,
                &lossy,
                span,
                None,
                "manifest is not valid UTF-8".into(),
                None,
            );
            return Err(ManifestError::Invalid {
                path: path.to_path_buf(),
                diagnostics: vec![diagnostic],
            });
        }
    };
    parse(path, &source)
}

/// Parse and validate manifest text that was read from `path`.
///
/// # Errors
/// [`ManifestError::Invalid`] with every diagnostic.
pub fn parse(path: &Path, source: &str) -> Result<Manifest, ManifestError> {
    let mut reporter = diag::Reporter::new(path, source);
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let format = if is_toml {
        ManifestFormat::NativeToml
    } else {
        ManifestFormat::SeedJson
    };
    let raw = if is_toml {
        native::parse(source, &mut reporter)
    } else {
        seed::parse(source, &mut reporter)
    };
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let manifest = raw.map(|raw| validate::validate(raw, &root, &mut reporter));
    match manifest {
        Some(mut manifest) if reporter.diagnostics.is_empty() => {
            manifest.path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            manifest.format = format;
            manifest.warnings = reporter.warnings;
            manifest.warnings.sort_by_key(|d| (d.line, d.column));
            Ok(manifest)
        }
        _ => {
            // The warnings go along: a key of the user's own next to a missing field is
            // often the field under another name.
            let mut diagnostics = reporter.diagnostics;
            diagnostics.extend(reporter.warnings);
            diagnostics.sort_by_key(|d| (d.line, d.column));
            Err(ManifestError::Invalid {
                path: path.to_path_buf(),
                diagnostics,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_JSON: &str = include_str!("../../../../examples/seed-updates/manifest.json");
    const NATIVE_TOML: &str = include_str!("../../../../fuzz/corpus/manifest/native.toml");
    const SOURCES_JSON: &str = include_str!("../../../../examples/sources/manifest.json");
    const SOURCES_TOML: &str = include_str!("../../../../examples/sources/upkeep.toml");

    /// A small deterministic generator, so a failure reproduces from the iteration number.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % (n as u64)).unwrap_or(0)
        }
    }

    fn mutate(source: &str, rng: &mut XorShift) -> String {
        const PIECES: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\\",
            "=",
            "\n",
            "..",
            "../",
            "\u{0}",
            "[[module]]",
            "\"children\": [\"a\"]",
            "depends_on = [\"x\"]",
            "-1",
            "1e999",
            "\u{fffd}",
            "null",
        ];
        let mut bytes = source.as_bytes().to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(3) {
                0 => {
                    let end = (at + rng.below(16)).min(bytes.len());
                    bytes.drain(at..end);
                }
                1 => {
                    let piece = PIECES[rng.below(PIECES.len())];
                    bytes.splice(at..at, piece.bytes());
                }
                _ => {
                    let from = rng.below(bytes.len());
                    let chunk: Vec<u8> =
                        bytes[from..(from + rng.below(64)).min(bytes.len())].to_vec();
                    bytes.splice(at.min(bytes.len())..at.min(bytes.len()), chunk);
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The stable-toolchain cousin of `fuzz/`: mutated manifests of both formats must
    /// give a manifest or diagnostics with positions inside the text, never a panic.
    #[test]
    fn mutated_manifests_never_panic() {
        let mut rng = XorShift(0x5eed_cafe_f00d_d00d);
        for (name, source) in [
            ("/none/manifest.json", SEED_JSON),
            ("/none/upkeep.toml", NATIVE_TOML),
            ("/none/sources/manifest.json", SOURCES_JSON),
            ("/none/sources/upkeep.toml", SOURCES_TOML),
        ] {
            let lines = source.lines().count() + 64;
            for _ in 0..1500 {
                let text = mutate(source, &mut rng);
                if let Err(ManifestError::Invalid { diagnostics, .. }) =
                    parse(Path::new(name), &text)
                {
                    assert!(!diagnostics.is_empty());
                    for d in diagnostics {
                        assert!(d.line <= lines + text.lines().count(), "{d:?}");
                    }
                }
            }
        }
    }
}
