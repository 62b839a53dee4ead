//! Atomic file replacement: temp file in the same directory, fsync, rename, fsync the
//! directory. `tempfile::persist` alone does not fsync, so this is the one place that
//! replaces files the user or the ledger relies on.

use std::io::Write;
use std::path::Path;

static TMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Replace `path` with `contents` so that a crash leaves either the old or the new bytes.
///
/// # Errors
/// Any I/O error, naming the path it happened on.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    // Unique per process and call, so concurrent writers in one process never share a temp.
    let n = TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(
        ".{file_name}.upkeep-{}-{n}.tmp",
        std::process::id()
    ));
    let result = (|| {
        let mut file = fs_err::File::create(&tmp)?;
        if let Ok(meta) = fs_err::metadata(path) {
            // Keep the mode of the file being replaced (an executable script stays one).
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs_err::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs_err::remove_file(&tmp);
    }
    result
}

/// [`write_atomic`], creating the file's directory first if needed.
///
/// # Errors
/// Any I/O error, naming the path it happened on.
pub fn write_new_or_replace(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    write_atomic(path, contents)
}

/// fsync a directory so a rename inside it is durable.
///
/// # Errors
/// Any I/O error, naming the directory.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs_err::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_contents_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        fs_err::write(&path, "old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs_err::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = fs_err::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
