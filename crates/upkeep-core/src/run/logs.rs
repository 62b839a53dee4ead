//! Retention of the log directories under `STATE/logs/`: `run-N` (a run's module logs),
//! `rollback-MS` and `prerun-MS`. A run keeps the newest few of each kind (the setting
//! `logging.max_log_files`, counting itself) and deletes the older ones while its modules
//! run. Only output goes: the ledger keeps every run and outcome, and an outcome whose log
//! was pruned still names the path it had.
//!
//! Anything else in `logs/` (a name without a numeric suffix, a file) is left alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What [`prune`] did.
#[derive(Debug, Default)]
pub(crate) struct Pruned {
    /// Directories deleted.
    pub(crate) removed: usize,
    /// Why the others it tried could not be (each names its path).
    pub(crate) failures: Vec<String>,
}

/// Delete the log directories of each kind beyond the newest `keep`, counting `current`
/// (the running run's number) among the `run-N` ones even before its directory exists.
/// One that cannot be deleted is skipped and reported.
pub(crate) fn prune(logs_dir: &Path, keep: usize, current: Option<u64>) -> Pruned {
    let mut pruned = Pruned::default();
    let Ok(entries) = fs_err::read_dir(logs_dir) else {
        return pruned;
    };
    let mut kinds: BTreeMap<String, Vec<(u64, Option<PathBuf>)>> = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((kind, number)) = name.to_str().and_then(parse) else {
            continue;
        };
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            kinds
                .entry(kind.to_owned())
                .or_default()
                .push((number, Some(entry.path())));
        }
    }
    if let Some(current) = current {
        let runs = kinds.entry("run".to_owned()).or_default();
        if !runs.iter().any(|(number, _)| *number == current) {
            runs.push((current, None));
        }
    }
    for dirs in kinds.values_mut() {
        dirs.sort_unstable_by_key(|dir| std::cmp::Reverse(dir.0));
        for (_, path) in dirs.iter().skip(keep) {
            let Some(path) = path else { continue };
            match fs_err::remove_dir_all(path) {
                Ok(()) => pruned.removed += 1,
                Err(err) => pruned.failures.push(err.to_string()),
            }
        }
    }
    pruned
}

/// `run-12` -> (`run`, 12); `None` for names of other shapes.
fn parse(name: &str) -> Option<(&str, u64)> {
    let (kind, number) = name.rsplit_once('-')?;
    if !matches!(kind, "run" | "rollback" | "prerun") || !number.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // An empty or overlong number fails to parse.
    number.parse().ok().map(|n| (kind, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs_err::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn keeps_the_newest_of_each_kind_by_number_not_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        for name in [
            "run-2",
            "run-9",
            "run-10",
            "run-11",
            "prerun-100",
            "prerun-200",
            "prerun-300",
            "rollback-5",
            "notes-x",
            "run-",
        ] {
            fs_err::create_dir(tmp.path().join(name)).unwrap();
        }
        fs_err::write(tmp.path().join("run-1"), "a file, not a run's directory").unwrap();
        fs_err::write(tmp.path().join("run-10").join("a.log"), "output").unwrap();
        assert_eq!(prune(tmp.path(), 2, None).removed, 3);
        assert_eq!(
            dirs(tmp.path()),
            [
                "notes-x",
                "prerun-200",
                "prerun-300",
                "rollback-5",
                "run-",
                "run-1",
                "run-10",
                "run-11"
            ]
        );
    }

    #[test]
    fn the_running_run_counts_before_its_directory_exists() {
        let tmp = tempfile::tempdir().unwrap();
        for name in ["run-1", "run-2", "run-3"] {
            fs_err::create_dir(tmp.path().join(name)).unwrap();
        }
        assert_eq!(prune(tmp.path(), 2, Some(4)).removed, 2);
        assert_eq!(dirs(tmp.path()), ["run-3"]);
        assert_eq!(prune(&tmp.path().join("missing"), 2, Some(4)).removed, 0);
    }
}
