//! `checksum --write | --check`: the seeds' checksummer.

use super::{Context, Error};
use crate::checksum::{self, ModuleChecksum};

/// Verify (`write` false) or approve (`write` true) the folder checksums of `modules`
/// (empty: every module with a folder), hashing with `threads` threads (`None`: one per
/// core).
///
/// # Errors
/// The manifest, an unknown module, the lock (approving), or the ledger.
pub fn checksum(
    ctx: &Context,
    modules: &[String],
    write: bool,
    threads: Option<usize>,
) -> Result<Vec<ModuleChecksum>, Error> {
    let manifest = ctx.manifest()?;
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get));
    Ok(if write {
        checksum::write(&manifest, ctx.state_dir(), modules, threads)?
    } else {
        checksum::check(&manifest, ctx.state_dir(), modules, threads)?
    })
}
