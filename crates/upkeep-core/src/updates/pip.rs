//! `pip` sources: the outdated packages of a virtualenv, from
//! `<venv>/bin/python -m pip list --outdated --format json`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::check::{CheckError, run, shown};
use super::{Finding, PackageUpdate};

/// The interpreter of a pip source's virtualenv: `venv` (relative to `root`, the manifest's
/// directory) when given, else the module folder's `venv/` when it exists, else `root`'s.
pub(super) fn python(venv: Option<&str>, module_dir: Option<&Path>, root: &Path) -> PathBuf {
    let venv = match venv {
        Some(venv) => root.join(venv),
        None => module_dir
            .map(|dir| dir.join("venv"))
            .filter(|dir| dir.is_dir())
            .unwrap_or_else(|| root.join("venv")),
    };
    venv.join("bin").join("python")
}

/// List the outdated packages of the virtualenv of `python`, passing `args` on to pip.
pub(super) fn check(
    python: &Path,
    args: &[String],
    cwd: &Path,
    timeout: Duration,
) -> Result<Finding, CheckError> {
    if !python.exists() {
        return Err(CheckError::NoVenv {
            python: python.to_path_buf(),
        });
    }
    let python = python.to_string_lossy();
    let mut command = vec![
        python.as_ref(),
        "-m",
        "pip",
        "list",
        "--outdated",
        "--format",
        "json",
        "--disable-pip-version-check",
    ];
    command.extend(args.iter().map(String::as_str));
    let stdout = run(&command, cwd, timeout)?;
    let packages = parse(&stdout).map_err(|message| CheckError::Unreadable {
        what: format!("`{}`", shown(&command)),
        message,
    })?;
    Ok(Finding {
        packages,
        ..Finding::default()
    })
}

#[derive(Deserialize)]
struct Outdated {
    name: String,
    version: String,
    latest_version: String,
}

/// Read `pip list --outdated --format json` output, sorted by package name.
pub(super) fn parse(stdout: &str) -> Result<Vec<PackageUpdate>, String> {
    // pip prints its JSON on one line; anything before it (a notice some pip versions
    // print to stdout) is not part of the answer.
    let json = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| line.starts_with('['))
        .ok_or("no JSON list in pip's output")?;
    let outdated: Vec<Outdated> =
        serde_json::from_str(json).map_err(|err| format!("not pip's JSON: {err}"))?;
    let mut packages: Vec<PackageUpdate> = outdated
        .into_iter()
        .map(|o| PackageUpdate {
            name: o.name,
            current: o.version,
            available: o.latest_version,
            security: false,
        })
        .collect();
    packages.sort_by_key(|p| p.name.to_lowercase());
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What pip 23 prints for a virtualenv with three outdated packages.
    const PIP_23: &str = r#"[{"name": "requests", "version": "2.31.0", "latest_version": "2.32.3", "latest_filetype": "wheel"}, {"name": "urllib3", "version": "1.26.18", "latest_version": "2.2.2", "latest_filetype": "wheel"}, {"name": "Django", "version": "4.2.13", "latest_version": "5.0.6", "latest_filetype": "wheel"}]
"#;

    #[test]
    fn reads_pips_json() {
        let packages = parse(PIP_23).unwrap();
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Django", "requests", "urllib3"]);
        assert_eq!(
            (packages[2].current.as_str(), packages[2].available.as_str()),
            ("1.26.18", "2.2.2")
        );
        assert!(parse("[]\n").unwrap().is_empty());
        let noisy = format!("[notice] A new release of pip is available\n{PIP_23}");
        assert_eq!(parse(&noisy).unwrap().len(), 3);
    }

    #[test]
    fn refuses_what_is_not_pips_json() {
        assert!(parse("").is_err());
        assert!(parse("Package Version Latest\n------- ------- ------").is_err());
        assert!(parse(r#"[{"name": "x", "version": "1"}]"#).is_err());
    }

    #[test]
    fn the_virtualenv_is_the_sources_the_modules_or_the_manifests() {
        let root = Path::new("/srv/updates");
        assert_eq!(
            python(Some("envs/tools"), None, root),
            Path::new("/srv/updates/envs/tools/bin/python")
        );
        assert_eq!(
            python(None, Some(Path::new("/nonexistent/gogs")), root),
            Path::new("/srv/updates/venv/bin/python")
        );
    }
}
