//! The `UPKEEP_*` variables module code runs with, made in one place.
//!
//! A module's process, its health check (after an update, after an automatic rollback,
//! after a manual `upkeep rollback`), its update-source command and its one-time scripts
//! all see the module through these variables, so a check written against a run (say
//! `grep -q PORT "$UPKEEP_WORK_DIR/app.ini"`) behaves the same wherever it runs. Only the
//! values that describe the occasion differ: `UPKEEP_ACTION`, `UPKEEP_RUN_ID`, the
//! versions and an update's target. Every variable is always set (empty when it has no
//! value), so code can tell "unset" from "not given" the same way everywhere.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::manifest::{ModuleKind, ModuleSpec};

/// What the variables describe: one module on one occasion.
#[derive(Debug, Clone)]
pub struct ModuleContext<'a> {
    /// The module.
    pub spec: &'a ModuleSpec,
    /// The manifest's directory.
    pub manifest_root: &'a Path,
    /// The state directory.
    pub state_dir: &'a Path,
    /// The run it happens in, if any (a manual rollback or a check has none).
    pub run_id: Option<i64>,
    /// Why the code runs: `setup`, `upgrade`, `update`, `forced`, `every-run`, `checksum-changed`,
    /// `check-files`, `rollback`, `check`, ...
    pub action: &'a str,
    /// The version being applied (declared, or the one rolled back to).
    pub version: Option<String>,
    /// The version applied before.
    pub old_version: Option<String>,
    /// What an update source offers and the policy lets the run take.
    pub update: Option<Target>,
}

/// An update a module is asked to take.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The release version to move to.
    pub version: Option<String>,
    /// The version the source says is installed.
    pub current: Option<String>,
    /// Packages to upgrade, as JSON (`[{"name":...,"to":...}]`), for package sources.
    pub packages_json: Option<String>,
}

/// The module's work directory: `<state>/work/<module>`.
pub fn work_dir(state_dir: &Path, module: &str) -> PathBuf {
    state_dir.join("work").join(module)
}

/// The variables for `ctx`, in a fixed order.
pub fn variables(ctx: &ModuleContext<'_>) -> Vec<(String, OsString)> {
    let spec = ctx.spec;
    let text = |path: &Path| Some(path.to_string_lossy().into_owned());
    let args_json = match &spec.kind {
        ModuleKind::Python { args, .. } => serde_json::Value::from(args.clone()).to_string(),
        _ => "[]".to_owned(),
    };
    let old_json = ctx
        .old_version
        .as_deref()
        .and_then(|v| crate::version::Version::parse(v).ok())
        .map_or(serde_json::Value::Null, |v| v.to_json())
        .to_string();
    let update = ctx.update.clone().unwrap_or_default();
    let pairs: [(&str, Option<String>); 14] = [
        ("UPKEEP_MODULE", Some(spec.name.clone())),
        ("UPKEEP_VERSION", ctx.version.clone()),
        ("UPKEEP_OLD_VERSION", ctx.old_version.clone()),
        ("UPKEEP_ACTION", Some(ctx.action.to_owned())),
        ("UPKEEP_RUN_ID", ctx.run_id.map(|r| r.to_string())),
        ("UPKEEP_STATE_DIR", text(ctx.state_dir)),
        ("UPKEEP_MANIFEST_DIR", text(ctx.manifest_root)),
        ("UPKEEP_MODULE_DIR", spec.dir.as_deref().and_then(text)),
        (
            "UPKEEP_WORK_DIR",
            text(&work_dir(ctx.state_dir, &spec.name)),
        ),
        ("UPKEEP_ARGS", Some(args_json)),
        ("UPKEEP_SETUP_OLD_VERSION", Some(old_json)),
        ("UPKEEP_TARGET_VERSION", update.version),
        ("UPKEEP_CURRENT_VERSION", update.current),
        ("UPKEEP_TARGET_PACKAGES", update.packages_json),
    ];
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), OsString::from(value.unwrap_or_default())))
        .collect()
}

/// Make the module's work directory when upkeep promises it exists
/// ([`ModuleSpec::makes_work_dir`]); one stat when it is already there.
pub fn ensure_work_dir(ctx: &ModuleContext<'_>) {
    let dir = work_dir(ctx.state_dir, &ctx.spec.name);
    if ctx.spec.makes_work_dir() && !dir.is_dir() {
        let _ = fs_err::create_dir_all(&dir);
    }
}
