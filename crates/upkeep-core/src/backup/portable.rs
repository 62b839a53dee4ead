//! Portable archives of any backup: `backup export` writes the tar archive of a backup (the
//! archive format of [`crate::archive`], readable by `backup import` and by plain tar);
//! `backup import` reads one as hostile input (every rule of a restore), extracts it into
//! a private scratch directory and records it as a store backup of the roots the manifest
//! declares now under the same labels.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use fs_err::os::unix::fs::OpenOptionsExt;

use super::{BackupConfig, BackupError, Opened, Request, io};
use crate::archive::{self, Compression, Expected, Root};
use crate::state::backups::{BackupFormat, BackupRoot, BackupRow};
use crate::state::writer::LedgerAccess;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write the tar archive of `row` to `dest` (compressed with `compression`): to a temp file
/// beside it, fsynced, then renamed into place. Every chunk of a store backup is checked
/// against its id on the way, and the stream against the recorded entries first.
///
/// # Errors
/// A backup that does not verify, or a file error; `dest` is not created then.
pub fn export(
    ledger: &mut impl LedgerAccess,
    state_dir: &Path,
    row: &BackupRow,
    dest: &Path,
    compression: Compression,
) -> Result<u64, BackupError> {
    if row.format == crate::state::backups::BackupFormat::Snapshot {
        // A snapshot's content is a subvolume, not entries upkeep recorded: `btrfs send`
        // (or tar of the read-only snapshot) carries it off the host.
        return Err(BackupError::Nothing {
            action: "export",
            reason: format!(
                "backup {} is a btrfs snapshot ({}); copy it with `btrfs send {}`",
                row.id, row.file, row.file
            ),
        });
    }
    let opened = Opened::new(ledger, state_dir, row)?;
    opened.with_source(row, true, |source, expected| {
        archive::verify_from(source, expected)
    })?;
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".upkeep-export-{}-{n}.tmp", std::process::id()));
    let written = write_to(&opened, row, &tmp, compression).and_then(|bytes| {
        fs_err::rename(&tmp, dest).map_err(io("rename the export", &tmp))?;
        crate::atomic::sync_dir(dir).map_err(io("sync", dir))?;
        Ok(bytes)
    });
    if written.is_err() {
        let _ = fs_err::remove_file(&tmp);
    }
    written
}

fn write_to(
    opened: &Opened,
    row: &BackupRow,
    tmp: &Path,
    compression: Compression,
) -> Result<u64, BackupError> {
    let file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(io("create the export", tmp))?;
    let out = io::BufWriter::with_capacity(1 << 20, file);
    let copied = opened.with_source(row, true, |source, _| match source {
        archive::Source::File(path) => {
            // An archive backup is exported as it is, in its own compression.
            let mut from = fs_err::File::open(path)?;
            let mut out = out;
            io::copy(&mut from, &mut out)?;
            finish(out)
        }
        archive::Source::Stream(open) => {
            let mut stream = open(true)?;
            match compression {
                Compression::Zstd => {
                    let mut enc = zstd::stream::write::Encoder::new(out, 3)?;
                    enc.include_checksum(true)?;
                    io::copy(&mut stream, &mut enc)?;
                    finish(enc.finish()?)
                }
                Compression::Gzip => {
                    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(6));
                    io::copy(&mut stream, &mut enc)?;
                    finish(enc.finish()?)
                }
                Compression::None => {
                    let mut out = out;
                    io::copy(&mut stream, &mut out)?;
                    finish(out)
                }
            }
        }
    });
    copied.map_err(io("write the export", tmp))
}

fn finish(out: io::BufWriter<fs_err::File>) -> io::Result<u64> {
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

/// Import the archive `file` as a store backup of `declared` (the roots the manifest
/// declares now): the archive is verified as hostile input, every label must be declared,
/// and its content is extracted into a private scratch directory and backed up from there.
///
/// # Errors
/// An archive that fails a rule, a label no module declares, or a write failure.
pub fn import(
    ledger: &mut impl LedgerAccess,
    state_dir: &Path,
    file: &Path,
    declared: &[BackupRoot],
    request: &Request,
) -> Result<BackupRow, BackupError> {
    let mut buf = vec![0; 1 << 20];
    let mut reader = fs_err::File::open(file).map_err(io("open", file))?;
    let sha256 = crate::digest::read_to_end(&mut reader, &mut buf).map_err(io("read", file))?;
    let sha256 = crate::digest::to_hex(&sha256);
    let expected = Expected {
        sha256: &sha256,
        entries: None,
        max_bytes: u64::MAX / 4,
    };
    let verified = archive::verify(file, &expected)?;
    let labels: Vec<String> = verified
        .present
        .iter()
        .chain(&verified.missing)
        .cloned()
        .collect();
    let mut roots = Vec::new();
    for label in &labels {
        let root =
            declared
                .iter()
                .find(|r| &r.label == label)
                .ok_or_else(|| BackupError::Nothing {
                    action: "import",
                    reason: format!("no module declares the archive's root `{label}` now"),
                })?;
        roots.push(root.clone());
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let scratch = state_dir
        .join("scratch")
        .join(format!("import-{}-{n}", std::process::id()));
    fs_err::create_dir_all(&scratch).map_err(io("create the scratch directory", &scratch))?;
    let result = import_via(
        ledger, state_dir, file, &expected, &roots, request, &scratch,
    );
    let _ = fs_err::remove_dir_all(&scratch);
    result
}

fn import_via(
    ledger: &mut impl LedgerAccess,
    state_dir: &Path,
    file: &Path,
    expected: &Expected<'_>,
    roots: &[BackupRoot],
    request: &Request,
    scratch: &Path,
) -> Result<BackupRow, BackupError> {
    let targets: Vec<Root> = roots
        .iter()
        .map(|r| Root {
            label: r.label.clone(),
            path: scratch.join(&r.label),
        })
        .collect();
    let mut staged = archive::extract(file, expected, &targets, None)?;
    for root in roots {
        staged.swap(&root.label)?.discard()?;
    }
    let config = BackupConfig {
        min_free_bytes: 0,
        format: BackupFormat::Store,
        ..BackupConfig::default()
    };
    // The content is read from the scratch copies; the roots recorded are the declared
    // host paths, where a restore puts it.
    super::stored::create(ledger, state_dir, request, roots, &config, Some(scratch))
}
