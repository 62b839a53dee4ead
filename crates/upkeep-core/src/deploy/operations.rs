//! What a deployment would do, file by file, without changing anything.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::DeployError;
use super::folders::{self, FolderKind, SourceFolder};

/// What the caller decides about a deployment.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Destination of folders without `ToPath__` (ae.updater: `{usr}`).
    pub default_destination: String,
    /// User-defined placeholders (`{app}` → a path); they take precedence over the
    /// platform's ids.
    pub placeholders: BTreeMap<String, PathBuf>,
    /// Every destination must lie beneath one of these. `None`: each source folder's own
    /// expanded destination folder is its only allowed root.
    pub allowed_roots: Option<Vec<PathBuf>>,
    /// The platform id `OnOS__` is compared with (default: [`folders::current_platform`]).
    pub platform: String,
    /// Per destination, the SHA-256 upkeep last wrote there (from the ownership ledger).
    pub owned: HashMap<PathBuf, String>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            default_destination: folders::DEFAULT_DESTINATION.to_owned(),
            placeholders: BTreeMap::new(),
            allowed_roots: None,
            platform: folders::current_platform().to_owned(),
            owned: HashMap::new(),
        }
    }
}

/// What happens to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "reason", rename_all = "kebab-case")]
pub enum Action {
    /// The destination is missing: the file is copied or moved there.
    Create,
    /// The destination exists and the folder overwrites.
    Overwrite,
    /// The destination exists and the folder does not overwrite.
    SkipExists,
    /// The folder is for another platform.
    SkipOtherOs,
    /// The destination changed since upkeep wrote it; only `force` overwrites it.
    Conflict,
    /// The file is not deployed, for this reason.
    Refused(String),
}

impl Action {
    /// Whether applying the plan touches this file (a conflict only with `force`).
    pub fn writes(&self) -> bool {
        matches!(self, Action::Create | Action::Overwrite)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Create => f.write_str("create"),
            Action::Overwrite => f.write_str("overwrite"),
            Action::SkipExists => f.write_str("skip: exists"),
            Action::SkipOtherOs => f.write_str("skip: other OS"),
            Action::Conflict => f.write_str("conflict: changed since upkeep wrote it"),
            Action::Refused(reason) => write!(f, "refused: {reason}"),
        }
    }
}

/// One file of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedFile {
    /// The kind of its source folder.
    pub kind: FolderKind,
    /// The source file.
    #[serde(serialize_with = "super::lossy::path")]
    pub source: PathBuf,
    /// Its path below the source folder (and below the destination folder).
    #[serde(serialize_with = "super::lossy::path")]
    pub relative: PathBuf,
    /// Where it goes (`None` when the destination could not be worked out).
    #[serde(serialize_with = "super::lossy::option")]
    pub destination: Option<PathBuf>,
    /// The allowed root the destination lies beneath.
    #[serde(serialize_with = "super::lossy::option")]
    pub root: Option<PathBuf>,
    /// Size of the source in bytes.
    pub size: u64,
    /// SHA-256 of the source (for files that would be written).
    pub sha256: Option<String>,
    /// SHA-256 of the destination's current content (for overwrites and conflicts).
    pub destination_sha256: Option<String>,
    /// What happens to it.
    #[serde(flatten)]
    pub action: Action,
}

/// Every file under a root's source folders with what applying would do to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The directory holding the source folders.
    #[serde(serialize_with = "super::lossy::path")]
    pub root: PathBuf,
    /// The platform the plan was made for.
    pub platform: String,
    /// The source folders found.
    pub folders: Vec<SourceFolder>,
    /// Every file, folder by folder, in name order.
    pub files: Vec<PlannedFile>,
}

impl Plan {
    /// Whether applying would write anything (conflicts count: `force` writes them).
    pub fn has_work(&self) -> bool {
        self.files
            .iter()
            .any(|f| f.action.writes() || f.action == Action::Conflict)
    }
}

/// Work out what deploying the source folders under `root` would do.
///
/// Folders are planned in ae.updater's order (copies, over-copies, moves, over-moves),
/// each seeing what the folders before it in the same call will have written: a file an
/// earlier folder creates exists for a later one (which skips it, or overwrites it when it
/// overwrites), so one call ends as ae.updater's `check_all` leaves the destination.
///
/// # Errors
/// Only when `root` cannot be listed; everything about single files is an
/// [`Action::Refused`] in the plan.
pub fn plan(root: &Path, options: &PlanOptions) -> Result<Plan, DeployError> {
    let found = folders::discover(root).map_err(|source| DeployError::ListRoot {
        root: root.to_path_buf(),
        source,
    })?;
    let ids = super::ae_paths::placeholders(root, &options.placeholders);
    let mut planning = Planning {
        root,
        options,
        ids: &ids,
        written: HashMap::new(),
        files: Vec::new(),
    };
    for folder in &found {
        planning.folder(folder);
    }
    Ok(Plan {
        root: root.to_path_buf(),
        platform: options.platform.clone(),
        folders: found,
        files: planning.files,
    })
}

/// A plan being made: the files so far, and what they will have written.
struct Planning<'a> {
    root: &'a Path,
    options: &'a PlanOptions,
    /// ae.paths' placeholders for this root, with the caller's.
    ids: &'a BTreeMap<String, PathBuf>,
    /// Per destination, the SHA-256 an earlier file of this plan writes there.
    written: HashMap<PathBuf, String>,
    files: Vec<PlannedFile>,
}

impl Planning<'_> {
    fn folder(&mut self, folder: &SourceFolder) {
        let mut entries = Vec::new();
        walk(&folder.path, Path::new(""), &mut entries);
        let target = self.destination_folder(folder);
        for (relative, listing) in entries {
            let mut file = PlannedFile {
                kind: folder.kind,
                source: folder.path.join(&relative),
                relative,
                destination: None,
                root: None,
                size: 0,
                sha256: None,
                destination_sha256: None,
                action: Action::SkipOtherOs,
            };
            file.action = match (&listing, &target) {
                (Err(reason), _) => Action::Refused(reason.clone()),
                _ if folder.problem.is_none() && !folder.applies_on(&self.options.platform) => {
                    Action::SkipOtherOs
                }
                (_, Err(reason)) => Action::Refused(reason.clone()),
                (Ok(size), Ok((dir, roots))) => {
                    file.size = *size;
                    self.decide(&mut file, dir, roots)
                }
            };
            if let (None, Ok((dir, _))) = (&file.destination, &target) {
                file.destination = Some(dir.join(&file.relative));
            }
            if let (true, Some(dest), Some(sha)) =
                (file.action.writes(), &file.destination, &file.sha256)
            {
                self.written.insert(dest.clone(), sha.clone());
            }
            self.files.push(file);
        }
    }

    /// The expanded destination folder and the roots allowed for it.
    fn destination_folder(&self, folder: &SourceFolder) -> Result<(PathBuf, Vec<PathBuf>), String> {
        if let Some(problem) = &folder.problem {
            return Err(format!("folder name: {problem}"));
        }
        let template = folder.destination_template(&self.options.default_destination);
        let dir = crate::placeholders::expand_deploy(template, self.ids, self.root)
            .map_err(|e| format!("destination {e}"))?;
        let roots = self
            .options
            .allowed_roots
            .clone()
            .unwrap_or_else(|| vec![dir.clone()]);
        Ok((dir, roots))
    }

    fn decide(&self, file: &mut PlannedFile, dir: &Path, roots: &[PathBuf]) -> Action {
        let destination = dir.join(format_given(&file.relative, self.ids));
        file.destination = Some(destination.clone());
        let Some(root) = crate::placeholders::beneath(&destination, roots) else {
            return Action::Refused(format!(
                "destination `{}` is not beneath an allowed root",
                destination.display()
            ));
        };
        file.root = Some(root.to_path_buf());
        if let Err(reason) = check_parents(root, &destination) {
            return Action::Refused(reason);
        }
        let action = if let Some(earlier) = self.written.get(&destination) {
            // Written by an earlier folder of this call: it exists by then, and it is
            // upkeep's own content, so overwriting it is no conflict.
            if !file.kind.overwrites() {
                return Action::SkipExists;
            }
            file.destination_sha256 = Some(earlier.clone());
            Action::Overwrite
        } else {
            match on_disk(file, &destination, &self.options.owned) {
                Ok(action) => action,
                Err(action) => return action,
            }
        };
        match hash_path(&file.source) {
            Ok(sha) => file.sha256 = Some(sha),
            Err(reason) => return Action::Refused(reason),
        }
        action
    }
}

/// What the destination as it is on disk asks for; `Err` for a verdict that needs no
/// hash of the source.
fn on_disk(
    file: &mut PlannedFile,
    destination: &Path,
    owned: &HashMap<PathBuf, String>,
) -> Result<Action, Action> {
    match fs_err::symlink_metadata(destination) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Action::Create),
        Err(e) => Err(Action::Refused(format!("inspect destination: {e}"))),
        Ok(_) if !file.kind.overwrites() => Err(Action::SkipExists),
        Ok(meta) if meta.file_type().is_symlink() => Err(Action::Refused(
            "destination is a symbolic link; it is not overwritten".into(),
        )),
        Ok(meta) if !meta.is_file() => {
            Err(Action::Refused("destination is not a regular file".into()))
        }
        Ok(_) => match hash_path(destination) {
            Ok(current) => {
                let changed = owned.get(destination).is_some_and(|w| *w != current);
                file.destination_sha256 = Some(current);
                Ok(if changed {
                    Action::Conflict
                } else {
                    Action::Overwrite
                })
            }
            Err(reason) => Err(Action::Refused(format!("destination: {reason}"))),
        },
    }
}

/// ae.base's `format_given` on a file's path below its source folder, as ae.paths'
/// `copy_files` applies it: `{id}` with an id of `ids` becomes its value, `{{` and `}}`
/// become `{` and `}`, any other `{...}` stays as it is, and a path whose braces do not
/// pair stays unchanged as a whole. Bytes, so names that are not UTF-8 pass through.
fn format_given(relative: &Path, ids: &BTreeMap<String, PathBuf>) -> PathBuf {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let text = relative.as_os_str().as_bytes();
    if !text.contains(&b'{') && !text.contains(&b'}') {
        return relative.to_path_buf();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'{' if text.get(i + 1) == Some(&b'{') => {
                out.push(b'{');
                i += 2;
            }
            b'}' if text.get(i + 1) == Some(&b'}') => {
                out.push(b'}');
                i += 2;
            }
            b'}' => return relative.to_path_buf(),
            b'{' => {
                let Some(len) = text[i + 1..].iter().position(|&b| b == b'}') else {
                    return relative.to_path_buf();
                };
                let field = &text[i + 1..i + 1 + len];
                // `{` inside a field is a parse error, and `{}` or `{0}` look for a
                // positional argument that is never given: format_given then keeps the
                // whole text.
                if field.contains(&b'{') || field.iter().all(u8::is_ascii_digit) {
                    return relative.to_path_buf();
                }
                let known = std::str::from_utf8(field).ok().and_then(|id| ids.get(id));
                match known {
                    Some(value) => out.extend_from_slice(value.as_os_str().as_bytes()),
                    None => out.extend_from_slice(&text[i..=i + len + 1]),
                }
                i += len + 2;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Refuse a destination whose existing parents below `root` include a link or a file.
fn check_parents(root: &Path, destination: &Path) -> Result<(), String> {
    let Some(parent) = destination.parent() else {
        return Ok(());
    };
    let relative = parent.strip_prefix(root).unwrap_or(Path::new(""));
    let mut path = root.to_path_buf();
    for component in relative.components() {
        path.push(component);
        match fs_err::symlink_metadata(&path) {
            Err(_) => return Ok(()),
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "`{}` is a symbolic link; links in a destination's parents are not followed",
                    path.display()
                ));
            }
            Ok(meta) if !meta.is_dir() => {
                return Err(format!("`{}` is not a directory", path.display()));
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

fn hash_path(path: &Path) -> Result<String, String> {
    let (fd, _) = super::safe_fs::open_source(path)?;
    super::safe_fs::stream(&fd, None).map(|(sha, _)| sha)
}

/// Every file below `dir` (relative paths, sorted), with its size or why it is refused.
/// Names starting with `.` are skipped, files and directories alike, as the glob of
/// ae.paths' `copy_files` (`glob.glob(src + '/**', recursive=True)`) skips them. Links
/// and special files are listed (and refused), never followed. Names need not be UTF-8.
fn walk(dir: &Path, prefix: &Path, out: &mut Vec<(PathBuf, Result<u64, String>)>) {
    use std::os::unix::ffi::OsStrExt;
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            out.push((
                prefix.to_path_buf(),
                Err(format!("list source folder: {e}")),
            ));
            return;
        }
    };
    let mut entries: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().as_bytes().starts_with(b"."))
        .collect();
    entries.sort_by_key(fs_err::DirEntry::file_name);
    for entry in entries {
        let relative = prefix.join(entry.file_name());
        let Ok(meta) = fs_err::symlink_metadata(entry.path()) else {
            continue;
        };
        let verdict = if meta.file_type().is_symlink() {
            Err("source is a symbolic link; links are not deployed".to_owned())
        } else if meta.is_dir() {
            walk(&entry.path(), &relative, out);
            continue;
        } else if !meta.is_file() {
            Err("source is not a regular file".to_owned())
        } else {
            Ok(meta.size())
        };
        out.push((relative, verdict));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_given_as_ae_base() {
        let ids: BTreeMap<String, PathBuf> = [("app_name".to_owned(), PathBuf::from("demo"))]
            .into_iter()
            .collect();
        for (name, expected) in [
            ("{app_name}.ini", "demo.ini"),
            ("conf/{app_name}/x", "conf/demo/x"),
            ("{other}.ini", "{other}.ini"),
            ("{{app_name}}", "{app_name}"),
            ("a}b{app_name}", "a}b{app_name}"),
            ("open{app_name", "open{app_name"),
            ("plain", "plain"),
        ] {
            assert_eq!(
                format_given(Path::new(name), &ids),
                Path::new(expected),
                "{name}"
            );
        }
    }
}
