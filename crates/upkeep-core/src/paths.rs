//! Where upkeep keeps its state when not told: `--state-dir`, then `UPKEEP_STATE_DIR`, then
//! `/var/lib/upkeep` for root, else the user's XDG state directory (`~/.local/state/upkeep`).

use std::path::PathBuf;

/// The state directory to use, given an explicit choice (flag or environment) if any.
pub fn state_dir(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = explicit {
        // Absolute, because modules run in their own folders and get this path (and paths
        // under it) in their environment.
        return std::path::absolute(&dir).unwrap_or(dir);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/upkeep");
    }
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local").join("state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("upkeep")
}

/// Create the state directory (private to its owner) if it does not exist.
///
/// # Errors
/// The operating system's error, as it is: the callers' errors name the directory and the
/// action, so the cause does not repeat them.
pub fn ensure_state_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Bytes used under each entry of the state directory (`upkeep.db`, `backups`, `logs`,
/// `work`, ...), largest first; symbolic links are not followed.
pub fn disk_usage(state_dir: &std::path::Path) -> Vec<(String, u64)> {
    let Ok(entries) = fs_err::read_dir(state_dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, u64)> = entries
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                tree_size(&e.path()),
            )
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// Bytes an unprivileged writer may still use on the file system holding `dir`.
///
/// # Errors
/// What `statvfs` fails with.
pub fn available_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let stat = nix::sys::statvfs::statvfs(dir)?;
    #[expect(
        clippy::useless_conversion,
        reason = "the field types differ between platforms"
    )]
    Ok(u64::from(stat.blocks_available()) * u64::from(stat.fragment_size()))
}

/// Bytes of regular files under `path`, not following symlinks.
pub fn tree_size(path: &std::path::Path) -> u64 {
    let Ok(meta) = fs_err::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return if meta.is_file() { meta.len() } else { 0 };
    }
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                total += entry.metadata().map_or(0, |m| m.len());
            }
        }
    }
    total
}
