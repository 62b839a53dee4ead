//! The free-space floor a backup keeps: refuse to start one that would leave less.

use std::path::Path;

use super::{BackupError, BackupRoot, io};

/// `dedup`: the backup goes to the chunk store, which writes compressed chunks and no
/// temporary copy (and checks the floor again before each pack it starts).
pub(super) fn check_space(
    dir: &Path,
    roots: &[BackupRoot],
    floor: u64,
    dedup: bool,
) -> Result<(), BackupError> {
    let available =
        crate::paths::available_bytes(dir).map_err(io("ask for the free space of", dir))?;
    // Walking the roots to size them costs a stat per file. When the space left over the
    // floor exceeds twice everything stored on the roots' file systems, no archive of them
    // can need more, and the walk is skipped. (A file system mounted inside a root is not
    // counted; a backup that still runs out of space fails and leaves nothing behind.)
    // The store checks the floor again before each pack it starts, so it only needs the
    // walk to say by how much a backup is refused.
    let bound: u64 = used_bytes(roots);
    if available.saturating_sub(floor) > bound.saturating_mul(2) || (dedup && available > floor) {
        return Ok(());
    }
    let estimate: u64 = roots
        .iter()
        .map(|r| crate::paths::tree_size(Path::new(&r.path)))
        .sum();
    let needed = estimate.saturating_add(floor);
    if available < needed {
        return Err(BackupError::LowSpace {
            dir: dir.to_path_buf(),
            available,
            needed,
            estimate,
            floor,
        });
    }
    Ok(())
}

/// Bytes in use on the distinct file systems holding the roots (or their parents, for
/// roots that do not exist yet); `u64::MAX` when one cannot be asked.
fn used_bytes(roots: &[BackupRoot]) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total: u64 = 0;
    for root in roots {
        let path = Path::new(&root.path);
        let probe = if path.exists() {
            path
        } else {
            path.parent().unwrap_or(path)
        };
        let Ok(stat) = nix::sys::statvfs::statvfs(probe) else {
            return u64::MAX;
        };
        if seen.insert(stat.filesystem_id()) {
            #[expect(
                clippy::useless_conversion,
                reason = "the field types differ between platforms"
            )]
            let used = u64::from(stat.blocks().saturating_sub(stat.blocks_free()))
                * u64::from(stat.fragment_size());
            total = total.saturating_add(used);
        }
    }
    total
}

/// The store found the floor reached before starting a pack: the same refusal as the
/// check before the walk.
pub(super) fn store_refusal(err: BackupError, dir: &Path, floor: u64) -> BackupError {
    match err {
        BackupError::Store(crate::store::StoreError::LowSpace {
            available,
            written,
            needed,
        }) => BackupError::LowSpace {
            dir: dir.to_path_buf(),
            available,
            needed: needed.saturating_add(floor),
            estimate: written.saturating_add(needed),
            floor,
        },
        err => err,
    }
}
