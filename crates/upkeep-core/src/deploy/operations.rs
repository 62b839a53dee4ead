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
    pub source: PathBuf,
    /// Its path below the source folder (and below the destination folder).
    pub relative: PathBuf,
    /// Where it goes (`None` when the destination could not be worked out).
    pub destination: Option<PathBuf>,
    /// The allowed root the destination lies beneath.
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
/// # Errors
/// Only when `root` cannot be listed; everything about single files is an
/// [`Action::Refused`] in the plan.
pub fn plan(root: &Path, options: &PlanOptions) -> Result<Plan, DeployError> {
    let found = folders::discover(root).map_err(|source| DeployError::ListRoot {
        root: root.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for folder in &found {
        plan_folder(root, folder, options, &mut files);
    }
    Ok(Plan {
        root: root.to_path_buf(),
        platform: options.platform.clone(),
        folders: found,
        files,
    })
}

fn plan_folder(
    root: &Path,
    folder: &SourceFolder,
    options: &PlanOptions,
    out: &mut Vec<PlannedFile>,
) {
    let mut entries = Vec::new();
    walk(&folder.path, Path::new(""), &mut entries);
    let target = destination_folder(root, folder, options);
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
            _ if folder.problem.is_none() && !folder.applies_on(&options.platform) => {
                Action::SkipOtherOs
            }
            (_, Err(reason)) => Action::Refused(reason.clone()),
            (Ok(size), Ok((dir, roots))) => {
                file.size = *size;
                decide(&mut file, dir, roots, options)
            }
        };
        if let (None, Ok((dir, _))) = (&file.destination, &target) {
            file.destination = Some(dir.join(&file.relative));
        }
        out.push(file);
    }
}

/// The expanded destination folder and the roots allowed for it.
fn destination_folder(
    root: &Path,
    folder: &SourceFolder,
    options: &PlanOptions,
) -> Result<(PathBuf, Vec<PathBuf>), String> {
    if let Some(problem) = &folder.problem {
        return Err(format!("folder name: {problem}"));
    }
    let template = folder.destination_template(&options.default_destination);
    let dir = crate::placeholders::expand_deploy(template, &options.placeholders, root)
        .map_err(|e| format!("destination {e}"))?;
    let roots = options
        .allowed_roots
        .clone()
        .unwrap_or_else(|| vec![dir.clone()]);
    Ok((dir, roots))
}

fn decide(file: &mut PlannedFile, dir: &Path, roots: &[PathBuf], options: &PlanOptions) -> Action {
    let destination = dir.join(&file.relative);
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
    let action = match fs_err::symlink_metadata(&destination) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Action::Create,
        Err(e) => return Action::Refused(format!("inspect destination: {e}")),
        Ok(_) if !file.kind.overwrites() => return Action::SkipExists,
        Ok(meta) if meta.file_type().is_symlink() => {
            return Action::Refused("destination is a symbolic link; it is not overwritten".into());
        }
        Ok(meta) if !meta.is_file() => {
            return Action::Refused("destination is not a regular file".into());
        }
        Ok(_) => match hash_path(&destination) {
            Ok(current) => {
                let changed = options
                    .owned
                    .get(&destination)
                    .is_some_and(|w| *w != current);
                file.destination_sha256 = Some(current);
                if changed {
                    Action::Conflict
                } else {
                    Action::Overwrite
                }
            }
            Err(reason) => return Action::Refused(format!("destination: {reason}")),
        },
    };
    match hash_path(&file.source) {
        Ok(sha) => file.sha256 = Some(sha),
        Err(reason) => return Action::Refused(reason),
    }
    action
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
/// Links and special files are listed (and refused), never followed.
fn walk(dir: &Path, prefix: &Path, out: &mut Vec<(PathBuf, Result<u64, String>)>) {
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
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(fs_err::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        let relative = prefix.join(&name);
        let Ok(meta) = fs_err::symlink_metadata(entry.path()) else {
            continue;
        };
        let verdict = if name.to_str().is_none() {
            Err("file name is not valid UTF-8".to_owned())
        } else if meta.file_type().is_symlink() {
            Err("source is a symbolic link; links are not deployed".to_owned())
        } else if meta.is_dir() {
            walk(&entry.path(), &relative, out);
            continue;
        } else if !meta.is_file() {
            Err("source is not a regular file".to_owned())
        } else {
            Ok(meta.size())
        };
        let relative = PathBuf::from(relative.to_string_lossy().into_owned());
        out.push((relative, verdict));
    }
}
