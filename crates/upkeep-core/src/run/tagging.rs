//! Tagging a healthy update in the updates directory's git repository, the seeds'
//! `<module>-v<version>-<timestamp>`, on the commit whose tree is the code that ran.
//!
//! The code that ran is the module folder as it is in the work tree (the integrity gate
//! verified those files before the module started), which need not be `HEAD`'s: after a
//! rollback the folder holds an older tag's files while `HEAD` stays where it was, and a
//! person may have edited and approved files without committing them. Tagging `HEAD` then
//! would name the wrong code. So the tree is built from `HEAD` with the module folder taken
//! from the work tree, through a scratch index (the user's index is left alone); when it is
//! `HEAD`'s tree the tag goes on `HEAD`, otherwise on a new commit of that tree whose parent
//! is `HEAD` (reachable only through the tag), and a warning names the files that differ.
//! The ledger records the tagged commit, and rollback trusts only such recorded commits.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use super::safety::{Safety, blocking};
use super::{Reporter, RunEvent};
use crate::exec;
use crate::state::tags::GitTagRow;
use crate::state::writer::LedgerOp;

/// Where and how healthy updates are tagged.
#[derive(Clone)]
pub(super) struct Tagging {
    /// The manifest directory, the top of a git work tree.
    pub(super) root: PathBuf,
    /// The tag name format.
    pub(super) format: String,
    /// The module's code folder (`None`: a command module, whose code is not in the tree).
    pub(super) code_dir: Option<PathBuf>,
    /// Where the warnings of tagging go: the run's reporter, as a warning of the run.
    pub(super) reporter: Arc<dyn Reporter>,
}

impl std::fmt::Debug for Tagging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tagging")
            .field("root", &self.root)
            .field("format", &self.format)
            .field("code_dir", &self.code_dir)
            .finish_non_exhaustive()
    }
}

/// Tag a healthy versioned update; a failure is a warning, never the module's.
pub(super) async fn tag_release(safety: &Safety) {
    let (Some(tagging), Some(version)) = (&safety.git, &safety.version_after) else {
        return;
    };
    let (tagging, version) = (tagging.clone(), version.clone());
    let reporter = tagging.reporter.clone();
    let (module, run_id, ledger) = (safety.module.clone(), safety.run_id, safety.ledger.clone());
    let scratch = safety.state_dir.join(format!(
        ".git-index-{}-{}",
        std::process::id(),
        crate::state::now_ms()
    ));
    let tagged = blocking(move || {
        let commit = commit_that_ran(&tagging, &module, &version, &scratch);
        let _ = fs_err::remove_file(&scratch);
        let Some(commit) = commit? else {
            return Ok(());
        };
        let timestamp = jiff::Timestamp::now().strftime("%Y%m%d%H%M%S").to_string();
        let tag = tagging
            .format
            .replace("{module}", &module)
            .replace("{version}", &version)
            .replace("{timestamp}", &timestamp);
        let created = git(&tagging.root, &[], &["tag", &tag, &commit])?;
        if !created.success() {
            return Err(format!("git tag {tag}: {}", created.stderr.trim()));
        }
        let row = GitTagRow {
            tag,
            module,
            version,
            commit_id: commit,
            created_ms: crate::state::now_ms(),
        };
        // Queued with the run's records; a failure to write it fails the run's writer.
        ledger.send(LedgerOp::GitTag { row, run_id });
        Ok(())
    })
    .await;
    if let Err(err) = tagged {
        reporter.event(&RunEvent::Warning(format!(
            "could not tag the healthy update of `{}`: {err}",
            safety.module
        )));
    }
}

/// The commit whose tree is `HEAD`'s with the module folder as it is in the work tree:
/// `HEAD` itself when they agree, else a new commit on top of it. `None` when the
/// repository has no commit yet.
fn commit_that_ran(
    tagging: &Tagging,
    module: &str,
    version: &str,
    scratch: &std::path::Path,
) -> Result<Option<String>, String> {
    let root = &tagging.root;
    let head = git(root, &[], &["rev-parse", "--verify", "HEAD^{commit}"])?;
    if !head.success() {
        return Ok(None);
    }
    let head = head.stdout.trim().to_owned();
    let Some(rel) = tagging
        .code_dir
        .as_ref()
        .and_then(|dir| dir.strip_prefix(root).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .map(|rel| rel.to_string_lossy().into_owned())
    else {
        return Ok(Some(head));
    };
    let index: &[(String, OsString)] = &[("GIT_INDEX_FILE".to_owned(), scratch.into())];
    let exclude = format!(":(exclude){rel}/**/__pycache__");
    for args in [
        &["read-tree", "HEAD"][..],
        &["add", "--all", "--", &rel, &exclude][..],
    ] {
        let done = git(root, index, args)?;
        if !done.success() {
            return Err(format!("git {}: {}", args.join(" "), done.stderr.trim()));
        }
    }
    let tree = git(root, index, &["write-tree"])?;
    let head_tree = git(root, &[], &["rev-parse", "HEAD^{tree}"])?;
    let tree = tree.stdout.trim().to_owned();
    if tree == head_tree.stdout.trim() {
        return Ok(Some(head));
    }
    commit_on_head(tagging, module, version, &head, &tree, &rel).map(Some)
}

/// A commit of `tree` on top of `head`, after a warning naming the files of the module
/// folder `rel` that differ from `head`.
fn commit_on_head(
    tagging: &Tagging,
    module: &str,
    version: &str,
    head: &str,
    tree: &str,
    rel: &str,
) -> Result<String, String> {
    let root = &tagging.root;
    let changed = git(root, &[], &["diff", "--name-only", head, tree, "--", rel])?;
    let changed: Vec<&str> = changed.stdout.lines().collect();
    tagging.reporter.event(&RunEvent::Warning(format!(
        "the code of `{module}` that ran differs from HEAD in {}; its tag goes on a commit of that code made on top of HEAD",
        changed.join(", ")
    )));
    let message = format!(
        "upkeep: {module} {version} as it ran\n\nIt differs from its parent in:\n{}\n",
        changed.join("\n")
    );
    let identity = [
        ("GIT_AUTHOR_NAME", "upkeep"),
        ("GIT_AUTHOR_EMAIL", "upkeep@localhost"),
        ("GIT_COMMITTER_NAME", "upkeep"),
        ("GIT_COMMITTER_EMAIL", "upkeep@localhost"),
    ]
    .map(|(k, v)| (k.to_owned(), OsString::from(v)));
    let commit = git(
        root,
        &identity,
        &["commit-tree", tree, "-p", head, "-m", &message],
    )?;
    if !commit.success() {
        return Err(format!("git commit-tree: {}", commit.stderr.trim()));
    }
    Ok(commit.stdout.trim().to_owned())
}

fn git(
    root: &std::path::Path,
    env: &[(String, OsString)],
    words: &[&str],
) -> Result<exec::Captured, String> {
    let mut argv = vec!["git"];
    argv.extend_from_slice(words);
    exec::capture_with(&argv, root, env, Duration::from_secs(30)).map_err(|e| e.to_string())
}
