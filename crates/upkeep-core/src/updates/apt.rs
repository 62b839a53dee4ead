//! `apt` sources: the host's upgradable Debian packages, from `apt list --upgradable`.
//!
//! apt runs with `LC_ALL=C`: its "upgradable from" is translated in other locales. A
//! package counts as a security update when one of its suites is a security suite
//! (`bookworm-security`, `jammy-security`, `oldstable-security`). `apt list` only reads
//! the package lists already downloaded; refreshing them (`apt-get update`) is the
//! module's own business.

use std::path::Path;
use std::time::Duration;

use super::check::{CheckError, run};
use super::{Finding, PackageUpdate};

/// List upgradable packages, only those named in `packages` when it is not empty.
pub(super) fn check(
    packages: &[String],
    cwd: &Path,
    timeout: Duration,
) -> Result<Finding, CheckError> {
    let argv = ["env", "LC_ALL=C", "apt", "list", "--upgradable"];
    let stdout = run(&argv, cwd, timeout)?;
    let mut found = parse(&stdout);
    if !packages.is_empty() {
        found.retain(|p| packages.contains(&p.name));
    }
    Ok(Finding {
        packages: found,
        ..Finding::default()
    })
}

/// Read `apt list --upgradable` output: `name/suite[,suite] version arch [upgradable from:
/// old]` lines; `Listing...`, warnings and anything else are skipped. A package listed for
/// several architectures appears once.
pub(super) fn parse(stdout: &str) -> Vec<PackageUpdate> {
    let mut packages: Vec<PackageUpdate> = stdout.lines().filter_map(line).collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    packages.dedup_by(|a, b| a.name == b.name && a.available == b.available);
    packages
}

fn line(line: &str) -> Option<PackageUpdate> {
    let (head, rest) = line.trim().split_once(' ')?;
    let (name, suites) = head.split_once('/')?;
    let available = rest.split_whitespace().next()?;
    let inside = rest.get(rest.find('[')? + 1..rest.rfind(']')?)?;
    let (_, current) = inside.split_once(": ")?;
    if name.is_empty() || current.trim().is_empty() {
        return None;
    }
    Some(PackageUpdate {
        name: name.to_owned(),
        current: current.trim().to_owned(),
        available: available.to_owned(),
        security: suites.split(',').any(|s| s.ends_with("-security")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `apt list --upgradable` on Debian 12, stderr included as a pipe would mix it in.
    const BOOKWORM: &str = "
WARNING: apt does not have a stable CLI interface. Use with caution in scripts.

Listing...
apt/oldstable-security 2.6.2 amd64 [upgradable from: 2.6.1]
base-files/oldstable 12.4+deb12u15 amd64 [upgradable from: 12.4+deb12u11]
ca-certificates/oldstable-security 20250419~deb12u2 all [upgradable from: 20230311+deb12u1]
krb5-locales/oldstable,oldstable-security 1.20.1-2+deb12u5 all [upgradable from: 1.20.1-2+deb12u3]
libcap2/oldstable 1:2.66-4+deb12u3+b1 amd64 [upgradable from: 1:2.66-4+deb12u2+b2]
libc6/oldstable 2.36-9+deb12u13 amd64 [upgradable from: 2.36-9+deb12u10]
libc6/oldstable 2.36-9+deb12u13 i386 [upgradable from: 2.36-9+deb12u10]
";

    /// Ubuntu 22.04, whose security suite is `jammy-security`.
    const JAMMY: &str = "\
Listing... Done
openssl/jammy-updates,jammy-security 3.0.2-0ubuntu1.18 amd64 [upgradable from: 3.0.2-0ubuntu1.15]
snapd/jammy-updates 2.63+22.04ubuntu0.1 amd64 [upgradable from: 2.61.3+22.04]
";

    #[test]
    fn reads_debian_output_and_flags_security_suites() {
        let packages = parse(BOOKWORM);
        let seen: Vec<(&str, &str, &str, bool)> = packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.current.as_str(),
                    p.available.as_str(),
                    p.security,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("apt", "2.6.1", "2.6.2", true),
                ("base-files", "12.4+deb12u11", "12.4+deb12u15", false),
                (
                    "ca-certificates",
                    "20230311+deb12u1",
                    "20250419~deb12u2",
                    true
                ),
                ("krb5-locales", "1.20.1-2+deb12u3", "1.20.1-2+deb12u5", true),
                ("libc6", "2.36-9+deb12u10", "2.36-9+deb12u13", false),
                (
                    "libcap2",
                    "1:2.66-4+deb12u2+b2",
                    "1:2.66-4+deb12u3+b1",
                    false
                ),
            ]
        );
    }

    #[test]
    fn reads_ubuntu_output() {
        let packages = parse(JAMMY);
        assert_eq!(packages.len(), 2);
        assert!(packages[0].security, "{packages:?}");
        assert!(!packages[1].security);
        assert!(parse("Listing... Done\n").is_empty());
    }
}
