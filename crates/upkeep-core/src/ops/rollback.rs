//! `rollback`: a module back to its last safe version, a named version, or a backup.

use super::{Confirm, Context, Error, ask};
use crate::lock::RunLock;
use crate::rollback::{self, Report, Target};
use crate::run::RunError;

/// Roll `module` back to `target` (after `confirm` says yes): its code from the git tag
/// the ledger vouches for, its data from the backup of that version (a backup of the
/// current content is taken first, with the user's backup settings), then its health
/// check with the same variables a run gives it. Notifications are delivered before it
/// returns (bounded).
///
/// # Errors
/// An unknown module, nothing to go back to, a moved tag, not confirmed, the lock is
/// held, or a restore fails. A backup whose recorded paths the module no longer declares
/// is refused unless `allow_changed_paths`.
pub fn rollback(
    ctx: &Context,
    module: &str,
    target: &Target,
    allow_changed_paths: bool,
    confirm: &dyn Confirm,
) -> Result<Report, Error> {
    let manifest = ctx.manifest()?;
    let what = match target {
        Target::LastSafe => "its last safe version".to_owned(),
        Target::Version(v) => format!("version {v}"),
        Target::Backup(id) => format!("the version and data of backup {id}"),
    };
    let _lock =
        RunLock::acquire(ctx.state_dir(), false).map_err(|e| Error::Run(RunError::from(e)))?;
    let mut ledger = ctx.ledger()?;
    ask(confirm, format!("roll `{module}` back to {what}"))?;
    let delivery = super::run::Delivery::start(ctx);
    let report = rollback::rollback(
        &manifest,
        &mut ledger,
        ctx.state_dir(),
        &rollback::RollbackRequest {
            module,
            target,
            allow_changed_paths,
        },
        &ctx.resolved().backup,
        &ctx.resolved().routing,
    );
    delivery.notifier(ctx).wake();
    delivery.finish();
    Ok(report?)
}
