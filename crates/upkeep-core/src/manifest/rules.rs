//! Run rules: when a module's code runs (on every run, as the seeds' orchestrator runs
//! every enabled module, or only when something changed, as Plinth runs `setup` on a new
//! version), and who runs a module's children (its own code, as the seeds tell a module
//! to, or upkeep), each with where the decision came from so that `plan` can say it.
//!
//! Precedence, for both: a value written on the module, then the manifest's default
//! (the run rule only), then what upkeep reads from the module's code (seed JSON only),
//! then the format's default.

use std::path::{Path, PathBuf};

use super::diag::Reporter;
use super::{ManifestFormat, ModuleKind, ModuleSpec, RawKind, RawManifest, RawModule, Spanned};
use crate::text::did_you_mean;

/// When a module's code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunRule {
    /// On every run that selects it: the seeds' orchestrator, whose modules' `main(args)`
    /// do their own "is there anything new" work (refresh a blocklist, pull a release).
    EveryRun,
    /// Only when something changed: never applied, a new declared version, a new
    /// checksum, or an update its source offers and its policy allows (Plinth).
    OnChange,
}

impl RunRule {
    /// The names as manifests spell them.
    pub const NAMES: [&'static str; 2] = ["every-run", "on-change"];

    /// The name as manifests spell it.
    pub fn name(self) -> &'static str {
        match self {
            RunRule::EveryRun => Self::NAMES[0],
            RunRule::OnChange => Self::NAMES[1],
        }
    }

    /// The rule called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "every-run" => Some(RunRule::EveryRun),
            "on-change" => Some(RunRule::OnChange),
            _ => None,
        }
    }

    /// The format's default: the seeds' orchestrator ran every enabled module on every run;
    /// upkeep's own format keeps the behaviour it always had.
    pub fn default_for(format: ManifestFormat) -> Self {
        match format {
            ManifestFormat::SeedJson => RunRule::EveryRun,
            ManifestFormat::NativeToml => RunRule::OnChange,
        }
    }
}

/// A rule's value and where it came from. In JSON it carries the same in words
/// (`reason`), as `plan` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<T> {
    /// The value.
    pub value: T,
    /// What decided it.
    pub origin: RuleOrigin,
}

impl<T: serde::Serialize> serde::Serialize for Rule<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut rule = serializer.serialize_struct("Rule", 3)?;
        rule.serialize_field("value", &self.value)?;
        rule.serialize_field("origin", &self.origin)?;
        rule.serialize_field("reason", &self.origin.describe())?;
        rule.end()
    }
}

/// Who runs a module's children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChildrenRunner {
    /// The module's own code (the seeds: "each submodule is responsible for invoking its
    /// own children"); upkeep does not run them as steps of their own.
    Parent,
    /// upkeep, one step per child, in its order and with its failure isolation.
    Upkeep,
}

impl ModuleSpec {
    /// Whether the module's own code runs its children (a group has no code, so upkeep
    /// runs a group's children whatever it says).
    pub fn runs_own_children(&self) -> bool {
        self.runs_children.value && !matches!(self.kind, ModuleKind::Group)
    }

    /// Who runs the module's children, and what decided it; `None` without children.
    pub fn children_runner(&self) -> Option<Rule<ChildrenRunner>> {
        if self.children.is_empty() {
            return None;
        }
        Some(Rule {
            value: if self.runs_own_children() {
                ChildrenRunner::Parent
            } else {
                ChildrenRunner::Upkeep
            },
            origin: self.runs_children.origin.clone(),
        })
    }
}

/// What decided a module's rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RuleOrigin {
    /// Written on the module.
    Module,
    /// The manifest's default (seed: top-level `run`; native: `[defaults] run`).
    ManifestDefault,
    /// The default of the manifest's format.
    FormatDefault {
        /// The format.
        format: ManifestFormat,
    },
    /// Its code defines `setup(old_version)` at the top level (Plinth): it runs on a change.
    DefinesSetup {
        /// The file, relative to the manifest's directory.
        file: String,
        /// The line (1-based).
        line: usize,
    },
    /// Its code mentions its children (`children`, a child's module or an import of a
    /// child by name): it runs them itself.
    Mentions {
        /// The file, relative to the manifest's directory.
        file: String,
        /// The line (1-based).
        line: usize,
        /// What it mentions, e.g. "`children`".
        what: String,
    },
    /// Its code was read and mentions none of its children: upkeep runs them.
    NoMention,
}

impl RuleOrigin {
    /// Why, in a few words, for `plan`.
    pub fn describe(&self) -> String {
        match self {
            RuleOrigin::Module => "set on the module".to_owned(),
            RuleOrigin::ManifestDefault => "the manifest's default".to_owned(),
            RuleOrigin::FormatDefault { format } => format!(
                "default of {}",
                match format {
                    ManifestFormat::SeedJson => "manifest.json",
                    ManifestFormat::NativeToml => "upkeep.toml",
                }
            ),
            RuleOrigin::DefinesSetup { file, line } => {
                format!("{file}:{line} defines setup(old_version)")
            }
            RuleOrigin::Mentions { file, line, what } => format!("{file}:{line} mentions {what}"),
            RuleOrigin::NoMention => "its code does not mention its children".to_owned(),
        }
    }
}

/// Files larger than this are not read for rules: module code is small, and a large file
/// is data.
const MAX_SCANNED_BYTES: u64 = 1024 * 1024;
/// At most this many files of a module's folder are read.
const MAX_SCANNED_FILES: usize = 256;

/// The module's run rule.
pub(super) fn run_rule(
    m: &RawModule,
    kind: &ModuleKind,
    raw: &RawManifest,
    root: &Path,
    reporter: &mut Reporter<'_>,
) -> Rule<RunRule> {
    let field = format!("{}.run", m.path);
    if let Some(rule) = m.run.as_ref().and_then(|r| parse(r, &field, reporter)) {
        return Rule {
            value: rule,
            origin: RuleOrigin::Module,
        };
    }
    // Reported once, by `default_run`.
    if let Some(rule) = raw
        .default_run
        .as_ref()
        .and_then(|r| RunRule::from_name(&r.value))
    {
        return Rule {
            value: rule,
            origin: RuleOrigin::ManifestDefault,
        };
    }
    if raw.format == ManifestFormat::SeedJson
        && let ModuleKind::Python { module, .. } = kind
        && let Some(file) = python_file(root, module)
        && let Some(line) = defines_setup(&file)
    {
        return Rule {
            value: RunRule::OnChange,
            origin: RuleOrigin::DefinesSetup {
                file: relative(&file, root),
                line,
            },
        };
    }
    Rule {
        value: RunRule::default_for(raw.format),
        origin: RuleOrigin::FormatDefault { format: raw.format },
    }
}

/// Check the manifest's default run rule (reported once, here).
pub(super) fn check_default_run(raw: &RawManifest, reporter: &mut Reporter<'_>) {
    if let Some(rule) = &raw.default_run {
        parse(rule, raw.spelling.default_run, reporter);
    }
}

fn parse(rule: &Spanned<String>, field: &str, reporter: &mut Reporter<'_>) -> Option<RunRule> {
    let parsed = RunRule::from_name(&rule.value);
    if parsed.is_none() {
        let hint = did_you_mean(&rule.value, RunRule::NAMES.iter().copied()).map_or_else(
            || "use \"every-run\" (the seeds' orchestrator) or \"on-change\" (Plinth)".to_owned(),
            |s| format!("did you mean `{s}`?"),
        );
        reporter.error(
            Some(rule.span),
            Some(field.to_owned()),
            format!("unknown run rule `{}`", rule.value),
            Some(hint),
        );
    }
    parsed
}

/// Whether the module's own code runs its children.
pub(super) fn runs_children(
    m: &RawModule,
    kind: &ModuleKind,
    dir: Option<&Path>,
    raw: &RawManifest,
    root: &Path,
    reporter: &mut Reporter<'_>,
) -> Rule<bool> {
    let format_default = Rule {
        value: false,
        origin: RuleOrigin::FormatDefault { format: raw.format },
    };
    if let Some(explicit) = &m.runs_children {
        if explicit.value && matches!(kind, ModuleKind::Group) {
            let field = format!("{}.{}", m.path, raw.spelling.runs_children);
            let hint =
                "a group has no code to run its children with; remove it, or give the module code";
            reporter.error(
                Some(explicit.span),
                Some(field),
                "a group cannot run its children itself",
                Some(hint.into()),
            );
        }
        return Rule {
            value: explicit.value,
            origin: RuleOrigin::Module,
        };
    }
    let (ModuleKind::Python { module, .. }, Some(dir), ManifestFormat::SeedJson, false) =
        (kind, dir, raw.format, m.children.is_empty())
    else {
        return format_default;
    };
    let words = mention_words(m, raw);
    let first = python_file(root, module);
    match find_mention(dir, first.as_deref(), &words) {
        Some((file, line, what)) => Rule {
            value: true,
            origin: RuleOrigin::Mentions {
                file: relative(&file, root),
                line,
                what,
            },
        },
        None => Rule {
            value: false,
            origin: RuleOrigin::NoMention,
        },
    }
}

/// What counts as mentioning a child: the word `children` anywhere in the code, a child's
/// dotted module anywhere, and a child's name on an import line (`import`, `from`,
/// `import_module(`, `__import__(`). A name alone elsewhere (a log message, a variable)
/// is not enough: a false mention would leave the child to a parent that never runs it.
struct Words {
    anywhere: Vec<String>,
    imported: Vec<String>,
}

fn mention_words(m: &RawModule, raw: &RawManifest) -> Words {
    let mut words = Words {
        anywhere: vec!["children".to_owned()],
        imported: Vec::new(),
    };
    for child in &m.children {
        let Some(entry) = raw.modules.iter().find(|r| r.name.value == child.value) else {
            continue;
        };
        match &entry.kind {
            RawKind::Python(dotted) => {
                let dotted = dotted
                    .value
                    .strip_suffix(".py")
                    .map_or_else(|| dotted.value.clone(), |p| p.replace('/', "."));
                words.anywhere.push(dotted);
            }
            RawKind::Implicit => words.anywhere.push(format!("{}.index", child.value)),
            _ => {}
        }
        words.imported.push(child.value.clone());
    }
    words
}

/// The first line of the module folder's Python code that mentions a child: the module's
/// own file first, then the folder's other `.py` files in name order.
fn find_mention(
    dir: &Path,
    first: Option<&Path>,
    words: &Words,
) -> Option<(PathBuf, usize, String)> {
    let mut files = Vec::new();
    python_files(dir, 0, &mut files);
    files.sort();
    if let Some(first) = first {
        files.retain(|f| f != first);
        files.insert(0, first.to_path_buf());
    }
    files.into_iter().find_map(|file| {
        let text = read_small(&file)?;
        let (line, what) = text.lines().enumerate().find_map(|(i, line)| {
            let code = line.trim_start();
            if code.starts_with('#') {
                return None;
            }
            let importing = ["import ", "from ", "import_module(", "__import__("]
                .iter()
                .any(|k| code.contains(k));
            let found = words
                .anywhere
                .iter()
                .find(|w| contains_word(code, w))
                .or_else(|| {
                    importing
                        .then(|| words.imported.iter().find(|w| contains_word(code, w)))
                        .flatten()
                })?;
            Some((i + 1, format!("`{found}`")))
        })?;
        Some((file, line, what))
    })
}

/// The `.py` files under `dir`, a few levels deep, skipping hidden folders, caches and
/// virtualenvs.
fn python_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if out.len() >= MAX_SCANNED_FILES {
            return;
        }
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let skipped = name.starts_with('.')
                || ["__pycache__", "venv", "node_modules", "site-packages"].contains(&&*name);
            if depth < 4 && !skipped {
                python_files(&path, depth + 1, out);
            }
        } else if kind.is_file() && name.ends_with(".py") {
            out.push(path);
        }
    }
}

/// Whether `text` holds `word` with no identifier character on either side.
fn contains_word(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// The file a dotted Python module is imported from, relative to `root`.
fn python_file(root: &Path, dotted: &str) -> Option<PathBuf> {
    let base = dotted
        .split('.')
        .fold(root.to_path_buf(), |p, part| p.join(part));
    let file = base.with_extension("py");
    if file.is_file() {
        return Some(file);
    }
    let init = base.join("__init__.py");
    init.is_file().then_some(init)
}

/// The line of a top-level `def setup(` in `file`, the function upkeep's bootstrap calls
/// instead of `main` (see [`crate::exec::python`]).
fn defines_setup(file: &Path) -> Option<usize> {
    let text = read_small(file)?;
    text.lines()
        .position(|line| {
            line.strip_prefix("def ")
                .is_some_and(|rest| rest.trim_start().starts_with("setup("))
        })
        .map(|i| i + 1)
}

fn read_small(file: &Path) -> Option<String> {
    let meta = fs_err::metadata(file).ok()?;
    if meta.len() > MAX_SCANNED_BYTES {
        return None;
    }
    let bytes = fs_err::read(file).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn relative(file: &Path, root: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_whole_identifiers() {
        assert!(contains_word("for c in entry[\"children\"]:", "children"));
        assert!(!contains_word("grandchildren = 1", "children"));
        assert!(!contains_word("children_count = 1", "children"));
        assert!(contains_word("from ..lists import index", "lists"));
        assert!(!contains_word("from ..blocklists import index", "lists"));
    }

    #[test]
    fn only_a_top_level_setup_makes_a_plinth_module() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("index.py");
        fs_err::write(&file, "def main(args):\n    def setup(x):\n        pass\n").unwrap();
        assert_eq!(defines_setup(&file), None);
        fs_err::write(&file, "import os\n\ndef setup(old_version):\n    pass\n").unwrap();
        assert_eq!(defines_setup(&file), Some(3));
    }

    #[test]
    fn a_childs_name_counts_only_where_it_is_imported() {
        let dir = tempfile::tempdir().unwrap();
        let words = Words {
            anywhere: vec!["children".to_owned(), "lists.index".to_owned()],
            imported: vec!["lists".to_owned()],
        };
        let file = dir.path().join("index.py");
        fs_err::write(&file, "# children are run by upkeep\nprint('lists')\n").unwrap();
        assert_eq!(find_mention(dir.path(), Some(&file), &words), None);
        fs_err::write(&file, "import os\nfrom ..lists import index\n").unwrap();
        let (found, line, what) = find_mention(dir.path(), Some(&file), &words).unwrap();
        assert_eq!((found, line, what.as_str()), (file.clone(), 2, "`lists`"));
        fs_err::write(&file, "def main(args):\n    for c in entry['children']:\n").unwrap();
        let (_, line, what) = find_mention(dir.path(), Some(&file), &words).unwrap();
        assert_eq!((line, what.as_str()), (2, "`children`"));
    }
}
