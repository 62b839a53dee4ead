//! Source folders: their names, their arguments and the platform they ask for.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::defuse::dedefuse;

/// Separator between a folder's kind and its arguments (ae.updater `UPDATER_ARGS_SEP`).
pub const ARGS_SEP: &str = "___";
/// Argument naming the destination (ae.updater `UPDATER_ARG_DST_PATH`).
pub const ARG_DST_PATH: &str = "ToPath__";
/// Argument naming the platform (ae.updater `UPDATER_ARG_OS_PLATFORM`).
pub const ARG_OS_PLATFORM: &str = "OnOS__";
/// The destination when a folder names none (ae.updater's default `dst_folder`).
pub const DEFAULT_DESTINATION: &str = "{usr}";

/// Platform ids as ae.base's `os_platform` reports them (`sys.platform`, extended for
/// Android and iOS).
pub const PLATFORMS: &[&str] = &[
    "android", "cygwin", "darwin", "freebsd", "ios", "linux", "win32",
];

/// What a source folder does with its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FolderKind {
    /// `ae_updater_copies`: copy files missing at the destination.
    Copies,
    /// `ae_updater_over_copies`: copy and overwrite.
    OverCopies,
    /// `ae_updater_moves`: move files missing at the destination.
    Moves,
    /// `ae_updater_over_moves`: move and overwrite.
    OverMoves,
}

impl FolderKind {
    /// Every kind, in the order ae.updater's `check_all` processes them.
    pub const ALL: [FolderKind; 4] = [
        FolderKind::Copies,
        FolderKind::OverCopies,
        FolderKind::Moves,
        FolderKind::OverMoves,
    ];

    /// The folder name (without arguments).
    pub fn folder_name(self) -> &'static str {
        match self {
            FolderKind::Copies => "ae_updater_copies",
            FolderKind::OverCopies => "ae_updater_over_copies",
            FolderKind::Moves => "ae_updater_moves",
            FolderKind::OverMoves => "ae_updater_over_moves",
        }
    }

    /// Whether files leave their source folder.
    pub fn moves(self) -> bool {
        matches!(self, FolderKind::Moves | FolderKind::OverMoves)
    }

    /// Whether an existing destination file is replaced.
    pub fn overwrites(self) -> bool {
        matches!(self, FolderKind::OverCopies | FolderKind::OverMoves)
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.folder_name() == name)
    }
}

/// A source folder found under the root, with its arguments decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceFolder {
    /// The folder.
    #[serde(serialize_with = "super::lossy::path")]
    pub path: PathBuf,
    /// What it does.
    pub kind: FolderKind,
    /// `OnOS__` value, if given.
    pub platform: Option<String>,
    /// `ToPath__` value after dedefusing, if given.
    pub to_path: Option<String>,
    /// Why the folder's name is refused (every file in it is then refused).
    pub problem: Option<String>,
}

impl SourceFolder {
    /// The destination template: the `ToPath__` argument or `default`.
    pub fn destination_template<'a>(&'a self, default: &'a str) -> &'a str {
        self.to_path.as_deref().unwrap_or(default)
    }

    /// Whether the folder applies on `platform`.
    pub fn applies_on(&self, platform: &str) -> bool {
        self.platform.as_deref().is_none_or(|p| p == platform)
    }
}

/// The running platform's ae.base id.
pub fn current_platform() -> &'static str {
    if std::env::var_os("ANDROID_ARGUMENT").is_some() {
        return "android";
    }
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        "android" => "android",
        "ios" => "ios",
        "freebsd" => "freebsd",
        _ => "linux",
    }
}

/// Parse a directory name. `None` when it is not a source folder at all.
pub fn parse_name(name: &str) -> Option<(FolderKind, Arguments)> {
    let mut parts = name.split(ARGS_SEP);
    let kind = FolderKind::from_name(parts.next()?)?;
    let mut args = Arguments::default();
    for arg in parts {
        args.take(arg);
    }
    Some((kind, args))
}

/// A folder name's decoded arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Arguments {
    /// `OnOS__` value.
    pub platform: Option<String>,
    /// `ToPath__` value, dedefused.
    pub to_path: Option<String>,
    /// The first problem found.
    pub problem: Option<String>,
}

impl Arguments {
    fn take(&mut self, arg: &str) {
        let problem = if let Some(value) = arg.strip_prefix(ARG_DST_PATH) {
            set_once(&mut self.to_path, dedefuse(value), ARG_DST_PATH)
        } else if let Some(value) = arg.strip_prefix(ARG_OS_PLATFORM) {
            check_platform(value)
                .or_else(|| set_once(&mut self.platform, value.to_owned(), ARG_OS_PLATFORM))
        } else {
            Some(format!(
                "unknown folder argument `{arg}` (known: `{ARG_OS_PLATFORM}<platform>`, `{ARG_DST_PATH}<path>`)"
            ))
        };
        if self.problem.is_none() {
            self.problem = problem;
        }
    }
}

fn set_once(slot: &mut Option<String>, value: String, name: &str) -> Option<String> {
    if slot.is_some() {
        return Some(format!("argument `{name}` given twice"));
    }
    if value.is_empty() {
        return Some(format!("argument `{name}` has no value"));
    }
    *slot = Some(value);
    None
}

fn check_platform(value: &str) -> Option<String> {
    if PLATFORMS.contains(&value) {
        return None;
    }
    let hint = match value.to_ascii_lowercase().as_str() {
        "windows" | "win" | "win64" => "; did you mean `win32`?",
        "mac" | "macos" | "osx" => "; did you mean `darwin`?",
        _ => "",
    };
    Some(format!(
        "unknown platform `{value}` (ae.base's ids: {}){hint}",
        PLATFORMS.join(", ")
    ))
}

/// The source folders directly under `root`, sorted by kind (in [`FolderKind::ALL`]
/// order) and then by name. Symbolic links and files with a source-folder name are not
/// source folders.
///
/// # Errors
/// `root` cannot be listed (a missing root has no source folders).
pub fn discover(root: &Path) -> std::io::Result<Vec<SourceFolder>> {
    let entries = match fs_err::read_dir(root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !name.starts_with("ae_updater_") || !entry.file_type()?.is_dir() {
            continue;
        }
        if let Some((kind, args)) = parse_name(&name) {
            found.push(SourceFolder {
                path: entry.path(),
                kind,
                platform: args.platform,
                to_path: args.to_path,
                problem: args.problem,
            });
        }
    }
    found.sort_by(|a, b| (a.kind as u8, &a.path).cmp(&(b.kind as u8, &b.path)));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_arguments() {
        assert_eq!(parse_name("ae_updater_moves").unwrap().0, FolderKind::Moves);
        let (kind, args) = parse_name("ae_updater_over_copies___OnOS__linux").unwrap();
        assert_eq!(kind, FolderKind::OverCopies);
        assert_eq!(args.platform.as_deref(), Some("linux"));
        let (_, args) =
            parse_name("ae_updater_copies___ToPath__\u{FE5B}home\u{FE5C}\u{2044}x___OnOS__darwin")
                .unwrap();
        assert_eq!(args.to_path.as_deref(), Some("{home}/x"));
        assert_eq!(args.platform.as_deref(), Some("darwin"));
        assert!(parse_name("ae_updater_copies_old").is_none());
        assert!(parse_name("something").is_none());
    }

    #[test]
    fn refuses_bad_arguments() {
        for (name, reason) in [
            ("ae_updater_copies___OnOS__windows", "did you mean `win32`"),
            ("ae_updater_copies___OnOS__mac", "did you mean `darwin`"),
            ("ae_updater_copies___Bogus__x", "unknown folder argument"),
            (
                "ae_updater_copies___OnOS__linux___OnOS__linux",
                "given twice",
            ),
            ("ae_updater_copies___ToPath__", "has no value"),
        ] {
            let problem = parse_name(name).unwrap().1.problem.unwrap();
            assert!(problem.contains(reason), "{name}: {problem}");
        }
    }
}
