//! Carrying out a plan: every file atomically, each on its own.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::folders::FolderKind;
use super::operations::{Action, Plan, PlannedFile};
use super::safe_fs::{self, Placed};

/// A file deployed: what a caller records as owned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Processed {
    /// The kind of its source folder.
    pub kind: FolderKind,
    /// Where it came from (gone after a move).
    #[serde(serialize_with = "super::lossy::path")]
    pub source: PathBuf,
    /// Where it is now.
    #[serde(serialize_with = "super::lossy::path")]
    pub destination: PathBuf,
    /// SHA-256 of the content written.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// `create` or `overwrite`.
    pub action: Action,
    /// Its permission bits (kept from the source).
    pub mode: u32,
}

/// A planned file that was not written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The source file.
    #[serde(serialize_with = "super::lossy::path")]
    pub source: PathBuf,
    /// Its destination, when known.
    #[serde(serialize_with = "super::lossy::option")]
    pub destination: Option<PathBuf>,
    /// Why it was not written (the plan's verdict, or what apply found).
    #[serde(flatten)]
    pub action: Action,
}

/// A file whose deployment failed; its source and destination are as they were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    /// The source file.
    #[serde(serialize_with = "super::lossy::path")]
    pub source: PathBuf,
    /// Its destination, when known.
    #[serde(serialize_with = "super::lossy::option")]
    pub destination: Option<PathBuf>,
    /// What went wrong.
    pub reason: String,
}

/// The result of [`apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Files written, in plan order.
    pub processed: Vec<Processed>,
    /// Files left alone.
    pub skipped: Vec<Skipped>,
    /// Files that failed.
    pub failed: Vec<Failed>,
}

/// How to apply a plan.
#[derive(Default)]
pub struct ApplyOptions<'a> {
    /// Overwrite files in conflict (changed since upkeep wrote them).
    pub force: bool,
    /// Called for every processed file once its destination is durable and, for a move,
    /// before its source is removed: the place to record ownership.
    pub on_processed: Option<&'a mut dyn FnMut(&Processed)>,
}

impl std::fmt::Debug for ApplyOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("force", &self.force)
            .field("on_processed", &self.on_processed.is_some())
            .finish()
    }
}

/// Do what `plan` says, file by file. A file that fails is reported and the others go
/// on; nothing that the plan did not list as `create` or `overwrite` (or `conflict`, with
/// `force`) is touched.
pub fn apply(plan: &Plan, options: &mut ApplyOptions<'_>) -> Applied {
    let mut applied = Applied::default();
    // Destinations whose earlier file in this plan failed: a later file planned on top of
    // it (an over-copy after a copy) would find something else than the plan expects.
    let mut failed_destinations = std::collections::HashSet::new();
    for file in &plan.files {
        let write = file.action.writes() || (options.force && file.action == Action::Conflict);
        let (Some(destination), Some(root), true) = (&file.destination, &file.root, write) else {
            applied.skipped.push(Skipped {
                source: file.source.clone(),
                destination: file.destination.clone(),
                action: file.action.clone(),
            });
            continue;
        };
        if failed_destinations.contains(destination) {
            applied.failed.push(Failed {
                source: file.source.clone(),
                destination: Some(destination.clone()),
                reason: "not deployed: an earlier file for this destination failed".into(),
            });
            continue;
        }
        match deploy_file(file, root, destination, options) {
            Ok(Some(processed)) => applied.processed.push(processed),
            Ok(None) => applied.skipped.push(Skipped {
                source: file.source.clone(),
                destination: Some(destination.clone()),
                action: Action::SkipExists,
            }),
            Err(reason) => {
                failed_destinations.insert(destination.clone());
                applied.failed.push(Failed {
                    source: file.source.clone(),
                    destination: Some(destination.clone()),
                    reason,
                });
            }
        }
    }
    applied
}

/// Deploy one file; `Ok(None)` when a file to create appeared since the plan.
fn deploy_file(
    file: &PlannedFile,
    root: &Path,
    destination: &Path,
    options: &mut ApplyOptions<'_>,
) -> Result<Option<Processed>, String> {
    let (Some(parent), Some(name)) = (destination.parent(), destination.file_name()) else {
        return Err("destination has no file name".into());
    };
    let relative = parent
        .strip_prefix(root)
        .map_err(|_| "destination is not beneath its root")?;
    let dir = safe_fs::open_beneath(root, relative)?;
    let replace = file.action != Action::Create;
    if replace {
        let current = safe_fs::hash_at(&dir, name)?.map(|(sha, _)| sha);
        if current != file.destination_sha256 {
            return Err("destination changed since the plan".into());
        }
    }
    let (source, stat) = safe_fs::open_source(&file.source)?;
    let mut processed = Processed {
        kind: file.kind,
        source: file.source.clone(),
        destination: destination.to_path_buf(),
        sha256: String::new(),
        size: 0,
        action: if replace {
            Action::Overwrite
        } else {
            Action::Create
        },
        mode: stat.st_mode & 0o7777,
    };
    if file.kind.moves() {
        return move_file(file, &source, &dir, name, processed, options);
    }
    let (sha, size) = (file.sha256.clone().unwrap_or_default(), file.size);
    if !copy_into(file, &source, &dir, name, &stat, replace)? {
        return Ok(None);
    }
    (processed.sha256, processed.size) = (sha, size);
    notify(options, &processed);
    Ok(Some(processed))
}

/// Move one file: a rename on one file system; across file systems copy, make durable,
/// report, and only then remove the source.
fn move_file(
    file: &PlannedFile,
    source: &OwnedFd,
    dir: &OwnedFd,
    name: &OsStr,
    mut processed: Processed,
    options: &mut ApplyOptions<'_>,
) -> Result<Option<Processed>, String> {
    let replace = processed.action != Action::Create;
    let src_dir = safe_fs::open_dir(file.source.parent().unwrap_or(Path::new(".")))?;
    let src_name = file.source.file_name().unwrap_or_default();
    let (sha, size) = safe_fs::stream(source, None)?;
    check_source(file, &sha)?;
    (processed.sha256, processed.size) = (sha, size);
    match safe_fs::rename_at(&src_dir, src_name, dir, name, replace)? {
        Placed::Done => {
            safe_fs::sync(dir, "the destination directory")?;
            safe_fs::sync(&src_dir, "the source directory")?;
            notify(options, &processed);
            return Ok(Some(processed));
        }
        Placed::Exists => return Ok(None),
        Placed::CrossDevice => {}
    }
    let (source, stat) = safe_fs::open_source(&file.source)?;
    if !copy_into(file, &source, dir, name, &stat, replace)? {
        return Ok(None);
    }
    notify(options, &processed);
    safe_fs::remove_at(&src_dir, src_name)?;
    safe_fs::sync(&src_dir, "the source directory")?;
    Ok(Some(processed))
}

fn notify(options: &mut ApplyOptions<'_>, processed: &Processed) {
    if let Some(callback) = options.on_processed.as_mut() {
        callback(processed);
    }
}

fn check_source(file: &PlannedFile, sha: &str) -> Result<(), String> {
    if file.sha256.as_deref() == Some(sha) {
        Ok(())
    } else {
        Err("source changed since the plan".into())
    }
}

/// Copy `source` to a temporary file in `dir` with the source's mode and times (as
/// `shutil.copy2`), check it against the plan, fsync, rename into place, fsync `dir`.
/// `false` when a file to create appeared meanwhile.
fn copy_into(
    file: &PlannedFile,
    source: &OwnedFd,
    dir: &OwnedFd,
    name: &OsStr,
    stat: &nix::sys::stat::FileStat,
    replace: bool,
) -> Result<bool, String> {
    let temp = safe_fs::create_temp(dir, name)?;
    let result = (|| {
        let (sha, _) = safe_fs::stream(source, Some(&temp.fd))?;
        check_source(file, &sha)?;
        safe_fs::set_mode(&temp.fd, stat.st_mode)?;
        safe_fs::copy_times(&temp.fd, stat)?;
        safe_fs::sync(&temp.fd, "the new file")?;
        safe_fs::rename_at(dir, OsStr::new(&temp.name), dir, name, replace)
    })();
    match result {
        Ok(Placed::Done) => {
            safe_fs::sync(dir, "the destination directory")?;
            Ok(true)
        }
        Ok(_) => {
            safe_fs::remove_at(dir, OsStr::new(&temp.name))?;
            Ok(false)
        }
        Err(reason) => {
            let _ = safe_fs::remove_at(dir, OsStr::new(&temp.name));
            Err(reason)
        }
    }
}
