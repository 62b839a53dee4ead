//! `backup verify --deep`: the hash checks of [`super::verify`], then a trial restore of
//! the whole backup into a scratch directory under the state directory
//! (`<state>/scratch/verify-PID-N`), compared entry by entry with the record and removed
//! afterwards. A scratch directory a killed verification left is swept by the next one
//! (and by [`super::sweep_temporaries`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{BackupError, io, verify};
use crate::archive;
use crate::state::Ledger;
use crate::state::backups::BackupRow;

static SCRATCH_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where trial restores go.
fn scratch_root(state_dir: &Path) -> PathBuf {
    state_dir.join("scratch")
}

/// Verify a backup's archive, then restore all of it on trial into a scratch directory and
/// compare what landed with the recorded entries. The scratch directory is removed
/// whatever happens. A failed hash check marks the backup `corrupt`; a failed trial is
/// reported without changing its status (the cause may be the disk the trial wrote to).
///
/// # Errors
/// The first check that failed.
pub fn verify_deep(
    ledger: &mut Ledger,
    state_dir: &Path,
    row: &BackupRow,
) -> Result<(), BackupError> {
    verify(ledger, state_dir, row)?;
    if row.format == crate::state::backups::BackupFormat::Snapshot {
        // A snapshot is read back by the filesystem itself: the checks of `verify` (the
        // recorded subvolume, read-only) are all there is to trial.
        return Ok(());
    }
    let opened = super::Opened::new(ledger, state_dir, row)?;
    let labels: Vec<String> = ledger
        .backup_roots(row.id)?
        .into_iter()
        .map(|r| r.label)
        .collect();
    sweep_scratch(state_dir);
    let n = SCRATCH_COUNTER.fetch_add(1, Ordering::Relaxed);
    let scratch = scratch_root(state_dir).join(format!("verify-{}-{n}", std::process::id()));
    make_private(&scratch)?;
    let result = opened.with_source(row, false, |source, expected| {
        archive::trial_from(source, expected, &labels, &scratch)
    });
    let removed = fs_err::remove_dir_all(&scratch);
    result?;
    removed.map_err(io("remove the trial restore", &scratch))
}

fn make_private(dir: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    let parent = dir.parent().unwrap_or(dir);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(io("create the scratch directory", parent))?;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(io("create the scratch directory", dir))
}

/// Remove trial restores whose process is gone (a verification killed mid-way).
pub(super) fn sweep_scratch(state_dir: &Path) {
    let Ok(entries) = fs_err::read_dir(scratch_root(state_dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix("verify-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok());
        let Some(pid) = pid else {
            continue;
        };
        let alive = match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
            Ok(()) | Err(nix::errno::Errno::EPERM) => true,
            Err(_) => false,
        };
        if !alive {
            let _ = fs_err::remove_dir_all(entry.path());
        }
    }
}
