//! Path placeholders such as `{data}/gogs`: the ids ae.updater uses (`{usr}`, `{cwd}`,
//! `{home}`, `{tmp}`, ...) resolved per platform, plus upkeep's own (`{state}`, `{work}`,
//! `{manifest}`).
//!
//! A template is text with `{id}` parts. Expansion is strict: an unknown id, an unclosed
//! brace, a value or result containing NUL or a newline, a `..` component anywhere in the
//! result, or a result that is not absolute is an error naming the template and the reason.
//! Templates are checked when a manifest loads ([`check`]) and expanded when the state
//! directory and module are known ([`expand`]).
//!
//! `{usr}` is ae.paths' `user_data_path()` on Linux: `$XDG_CONFIG_HOME` (a relative value
//! below the home directory), else `~/.config`; `{data}` is the XDG data directory.
//!
//! File deployment (`deploy`) expands destinations with [`expand_deploy`]: the
//! platform ids plus ids the caller defines (which win over the platform's; `deploy`
//! passes ae.paths' `{cwd}`, `{app}`, ... this way), a leading `~` or `~user` expanded as
//! Python's `expanduser`, relative results taken relative to a base directory, and the
//! same refusals. [`beneath`] checks that a result lies beneath one of the allowed roots.

use std::path::{Component, Path, PathBuf};

/// Ids that resolve from the platform's directories (the `dirs` crate) or the process.
const PLATFORM_IDS: &[&str] = &[
    "home",
    "usr",
    "cwd",
    "tmp",
    "config",
    "data",
    "cache",
    "downloads",
    "documents",
    "desktop",
    "music",
    "pictures",
    "videos",
];

/// Ids that resolve from the run's context.
const CONTEXT_IDS: &[&str] = &["state", "work", "manifest"];

/// What the context ids resolve to.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// upkeep's state directory (`{state}`).
    pub state_dir: &'a Path,
    /// The module's name, for `{work}` (`<state>/work/<module>`).
    pub module: &'a str,
    /// The manifest's directory (`{manifest}`).
    pub manifest_dir: &'a Path,
}

/// Why a template cannot be expanded. Its message says what is wrong with the template,
/// not what failed: it is a manifest diagnostic, and otherwise only ever the cause of an
/// error that names the action (`BackupError::Placeholder`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path `{template}`: {reason}")]
pub struct PlaceholderError {
    /// The template as written.
    pub template: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Every id a template may use.
pub fn known_ids() -> impl Iterator<Item = &'static str> {
    PLATFORM_IDS.iter().chain(CONTEXT_IDS).copied()
}

/// Check a template's syntax and ids without resolving anything.
///
/// # Errors
/// The first problem found.
pub fn check(template: &str) -> Result<(), PlaceholderError> {
    let fail = |reason: String| PlaceholderError {
        template: template.to_owned(),
        reason,
    };
    let ids = split(template).map_err(fail)?;
    for id in ids {
        if !known_ids().any(|k| k == id) {
            let hint = crate::text::suggest(id, known_ids())
                .map_or_else(String::new, |s| format!("; did you mean `{{{s}}}`?"));
            return Err(fail(format!("unknown placeholder `{{{id}}}`{hint}")));
        }
    }
    if !template.starts_with('/') && !template.starts_with('{') {
        return Err(fail(
            "must be an absolute path or start with a placeholder such as `{data}`".into(),
        ));
    }
    if template.split('/').any(|c| c == "..") {
        return Err(fail("contains `..`; name the directory itself".into()));
    }
    if template.contains(['\0', '\n', '\r']) {
        return Err(fail("contains a NUL or newline".into()));
    }
    Ok(())
}

/// Expand a template into an absolute path.
///
/// # Errors
/// An unknown or unresolvable id, or a result that breaks the rules in the module docs.
pub fn expand(template: &str, context: &Context<'_>) -> Result<PathBuf, PlaceholderError> {
    let fail = |reason: String| PlaceholderError {
        template: template.to_owned(),
        reason,
    };
    check(template)?;
    let out = substitute(template, &|id| resolve(id, context))?;
    let path = PathBuf::from(&out);
    if !path.is_absolute() {
        return Err(fail(format!("expands to `{out}`, which is not absolute")));
    }
    Ok(path)
}

/// Replace every `{id}` in `template` with `lookup(id)`, refusing values and results
/// that carry a NUL, a newline or a `..` component.
fn substitute(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<PathBuf>,
) -> Result<String, PlaceholderError> {
    let fail = |reason: String| PlaceholderError {
        template: template.to_owned(),
        reason,
    };
    split(template).map_err(fail)?;
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let id = &rest[open + 1..close];
        let value =
            lookup(id).ok_or_else(|| fail(format!("`{{{id}}}` has no value on this host")))?;
        let text = value
            .to_str()
            .ok_or_else(|| fail(format!("`{{{id}}}` is not valid UTF-8")))?;
        if text.contains(['\0', '\n', '\r']) {
            return Err(fail(format!("`{{{id}}}` expands to a NUL or newline")));
        }
        if Path::new(text)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            return Err(fail(format!(
                "`{{{id}}}` expands to `{text}`, which contains `..`"
            )));
        }
        out.push_str(text);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    if out.contains(['\0', '\n', '\r']) {
        return Err(fail("contains a NUL or newline".into()));
    }
    if Path::new(&out)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Err(fail(format!("expands to `{out}`, which contains `..`")));
    }
    Ok(out)
}

/// Expand a deployment destination (an ae.updater `ToPath__` value or a caller's default
/// such as `{usr}`): the platform ids plus `user`'s own ids, which take precedence over
/// the platform's. A relative result is taken relative to `base` (ae.updater takes it
/// relative to the current directory, which is the default root). The rules of
/// [`expand`] apply: no NUL, newline or `..` in any value or in the result.
///
/// # Errors
/// An unknown or unresolvable id, or a value or result that breaks the rules.
pub fn expand_deploy(
    template: &str,
    user: &std::collections::BTreeMap<String, PathBuf>,
    base: &Path,
) -> Result<PathBuf, PlaceholderError> {
    let fail = |reason: String| PlaceholderError {
        template: template.to_owned(),
        reason,
    };
    let ids = split(template).map_err(fail)?;
    for id in ids {
        if !user.contains_key(id) && !PLATFORM_IDS.contains(&id) {
            let known = PLATFORM_IDS
                .iter()
                .copied()
                .chain(user.keys().map(String::as_str));
            let hint = crate::text::suggest(id, known)
                .map_or_else(String::new, |s| format!("; did you mean `{{{s}}}`?"));
            return Err(fail(format!("unknown placeholder `{{{id}}}`{hint}")));
        }
    }
    let lookup = |id: &str| user.get(id).cloned().or_else(|| resolve_platform(id));
    let out = substitute(template, &lookup)?;
    let out = expand_tilde(&out).map_err(fail)?;
    let path = PathBuf::from(&out);
    Ok(if path.is_absolute() {
        path
    } else {
        base.join(path)
    })
}

/// A leading `~` or `~user` expanded as ae.base's `norm_path` does (Python's
/// `os.path.expanduser`, after the placeholders): `~` is the home directory (`$HOME`),
/// `~user` that user's. A user that does not exist is refused rather than left as a
/// directory literally named `~user`, which is what Python would do.
fn expand_tilde(path: &str) -> Result<String, String> {
    let Some(rest) = path.strip_prefix('~') else {
        return Ok(path.to_owned());
    };
    let (name, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let home = if name.is_empty() {
        dirs::home_dir().ok_or_else(|| "`~`: the home directory is unknown".to_owned())?
    } else {
        match nix::unistd::User::from_name(name) {
            Ok(Some(user)) => user.dir,
            _ => return Err(format!("`~{name}`: there is no user `{name}`")),
        }
    };
    let home = home
        .to_str()
        .ok_or_else(|| "`~`: the home directory is not valid UTF-8".to_owned())?
        .trim_end_matches('/')
        .to_owned();
    Ok(format!("{home}{tail}"))
}

/// The first of `roots` that `path` lies beneath (or equals), compared component by
/// component after dropping `.` components; `None` when there is none, when `path` is
/// relative or when it has a `..` component. This is a check of names: that no symbolic
/// link below the root redirects the path is for whoever opens it to ensure (the deploy
/// engine opens every directory with `O_NOFOLLOW`).
pub fn beneath<'r>(path: &Path, roots: &'r [PathBuf]) -> Option<&'r Path> {
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return None;
    }
    let clean =
        |p: &Path| -> PathBuf { p.components().filter(|c| *c != Component::CurDir).collect() };
    let path = clean(path);
    roots
        .iter()
        .find(|root| {
            root.is_absolute()
                && !root.components().any(|c| c == Component::ParentDir)
                && path.starts_with(clean(root))
        })
        .map(PathBuf::as_path)
}

/// The ids used by a template, or why its braces do not parse.
fn split(template: &str) -> Result<Vec<&str>, String> {
    let mut ids = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err("`}` without a matching `{`".into());
        }
        let Some(close) = rest[open + 1..].find(['{', '}']).map(|c| open + 1 + c) else {
            return Err("`{` is never closed".into());
        };
        if rest.as_bytes()[close] == b'{' {
            return Err("placeholders cannot nest".into());
        }
        ids.push(&rest[open + 1..close]);
        rest = &rest[close + 1..];
    }
    Ok(ids)
}

fn resolve(id: &str, context: &Context<'_>) -> Option<PathBuf> {
    match id {
        "state" => Some(context.state_dir.to_path_buf()),
        "work" => Some(context.state_dir.join("work").join(context.module)),
        "manifest" => Some(context.manifest_dir.to_path_buf()),
        _ => resolve_platform(id),
    }
}

/// ae.paths' `user_data_path()` on Linux (and every platform but Android, iOS, macOS and
/// Windows): `$XDG_CONFIG_HOME`, taken relative to the home directory when it is relative,
/// else `~/.config`. An empty `XDG_CONFIG_HOME` counts as unset, as Python's `or` does.
/// (The `dirs` crate ignores a relative `XDG_CONFIG_HOME`; ae.paths does not.)
fn user_data_path() -> Option<PathBuf> {
    let configured = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty());
    let path = PathBuf::from(configured.unwrap_or_else(|| ".config".into()));
    if path.is_absolute() {
        Some(path)
    } else {
        dirs::home_dir().map(|home| home.join(path))
    }
}

fn resolve_platform(id: &str) -> Option<PathBuf> {
    match id {
        "home" => dirs::home_dir(),
        "usr" => user_data_path(),
        "data" => dirs::data_dir(),
        "cwd" => std::env::current_dir().ok(),
        "tmp" => Some(std::env::temp_dir()),
        "config" => dirs::config_dir(),
        "cache" => dirs::cache_dir(),
        "downloads" => dirs::download_dir(),
        "documents" => dirs::document_dir(),
        "desktop" => dirs::desktop_dir(),
        "music" => dirs::audio_dir(),
        "pictures" => dirs::picture_dir(),
        "videos" => dirs::video_dir(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context<'static> {
        Context {
            state_dir: Path::new("/var/lib/upkeep"),
            module: "gogs",
            manifest_dir: Path::new("/srv/updates"),
        }
    }

    #[test]
    fn expands_context_ids() {
        let path = expand("{work}/app.ini", &ctx()).unwrap();
        assert_eq!(path, Path::new("/var/lib/upkeep/work/gogs/app.ini"));
        let path = expand("{manifest}/gogs", &ctx()).unwrap();
        assert_eq!(path, Path::new("/srv/updates/gogs"));
        assert_eq!(expand("/etc/gogs", &ctx()).unwrap(), Path::new("/etc/gogs"));
    }

    #[test]
    fn refuses_hostile_templates() {
        for (template, reason) in [
            ("{state}/../etc", "contains `..`"),
            ("/etc/../root", "contains `..`"),
            ("{nope}/x", "unknown placeholder"),
            ("{stat}/x", "did you mean `{state}`"),
            ("relative/path", "absolute path"),
            ("{state/x", "never closed"),
            ("/x}", "without a matching"),
            ("{{state}}", "nest"),
            ("/etc/x\ny", "NUL or newline"),
            ("/etc/\0", "NUL or newline"),
        ] {
            let err = expand(template, &ctx()).unwrap_err();
            assert!(err.reason.contains(reason), "{template}: {err}");
        }
    }

    fn user() -> std::collections::BTreeMap<String, PathBuf> {
        [
            ("app".to_owned(), PathBuf::from("/opt/app")),
            ("usr".to_owned(), PathBuf::from("/srv/usr")),
            ("evil".to_owned(), PathBuf::from("/opt/../etc")),
            ("nl".to_owned(), PathBuf::from("/opt/a\nb")),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn expands_deploy_templates_with_user_ids_first() {
        let base = Path::new("/root/dir");
        let path = expand_deploy("{app}/conf", &user(), base).unwrap();
        assert_eq!(path, Path::new("/opt/app/conf"));
        assert_eq!(
            expand_deploy("{usr}", &user(), base).unwrap(),
            Path::new("/srv/usr")
        );
        assert_eq!(
            expand_deploy("rel/x", &user(), base).unwrap(),
            Path::new("/root/dir/rel/x")
        );
        assert!(expand_deploy("{home}", &user(), base).is_ok_and(|p| p.is_absolute()));
    }

    #[test]
    fn refuses_hostile_deploy_templates() {
        let base = Path::new("/root/dir");
        for (template, reason) in [
            ("../../etc", "contains `..`"),
            ("{app}/../../etc", "contains `..`"),
            ("{evil}", "`{evil}` expands to `/opt/../etc`"),
            ("{nl}", "NUL or newline"),
            ("/x\0y", "NUL or newline"),
            ("{ap}", "did you mean `{app}`"),
            ("{state}", "unknown placeholder"),
        ] {
            let err = expand_deploy(template, &user(), base).unwrap_err();
            assert!(err.reason.contains(reason), "{template}: {err}");
        }
    }

    #[test]
    fn a_leading_tilde_is_a_home_directory_never_a_name() {
        let base = Path::new("/root/dir");
        let home = dirs::home_dir().unwrap();
        let none = std::collections::BTreeMap::new();
        assert_eq!(expand_deploy("~", &none, base).unwrap(), home);
        assert_eq!(
            expand_deploy("~/dots", &none, base).unwrap(),
            home.join("dots")
        );
        let err = expand_deploy("~no-such-user-here/x", &none, base).unwrap_err();
        assert!(err.reason.contains("no user"), "{err}");
        // Only a leading `~` is special, as in Python's expanduser.
        assert_eq!(
            expand_deploy("a/~b", &none, base).unwrap(),
            Path::new("/root/dir/a/~b")
        );
    }

    #[test]
    fn beneath_compares_whole_components() {
        let roots = [PathBuf::from("/home/u/app"), PathBuf::from("/srv/./data")];
        assert_eq!(
            beneath(Path::new("/home/u/app/x"), &roots),
            Some(Path::new("/home/u/app"))
        );
        assert_eq!(
            beneath(Path::new("/home/u/app"), &roots),
            Some(Path::new("/home/u/app"))
        );
        assert_eq!(
            beneath(Path::new("/srv/data/y"), &roots),
            Some(Path::new("/srv/./data"))
        );
        assert_eq!(beneath(Path::new("/home/u/application/x"), &roots), None);
        assert_eq!(beneath(Path::new("/home/u/app/../../etc"), &roots), None);
        assert_eq!(beneath(Path::new("home/u/app/x"), &roots), None);
        assert_eq!(beneath(Path::new("/etc/passwd"), &roots), None);
    }
}
