//! Validating a module's `health` check: its command, timing (own values over
//! `defaults.health`), and its `reload` command; `defaults.health` may set only timing.

use super::diag::Reporter;
use super::validate::timeout;
use super::{HealthCheck, RawHealth, RawManifest, RawModule, Spanned};

pub(super) fn health_check(
    m: &RawModule,
    raw: &RawManifest,
    reporter: &mut Reporter<'_>,
) -> Option<HealthCheck> {
    let health = m.health.as_ref()?;
    let field = format!("{}.health", m.path);
    let Some(command) = &health.command else {
        let hint = "add `command`, e.g. [\"curl\", \"-fsS\", \"http://127.0.0.1:8080/health\"]";
        reporter.error(
            Some(health.span),
            Some(field),
            "health check without a `command`",
            Some(hint.into()),
        );
        return None;
    };
    if command.value.is_empty() || command.value[0].is_empty() {
        reporter.error(
            Some(command.span),
            Some(format!("{field}.command")),
            "empty health command",
            None,
        );
        return None;
    }
    let reload = reload_command(health.reload.as_ref(), &field, reporter).ok()?;
    let defaults = raw.default_health.as_ref();
    let pick = |own: &Option<Spanned<String>>,
                default: Option<&Spanned<String>>,
                name: &str,
                reporter: &mut Reporter<'_>| {
        own.as_ref()
            .map(|t| (t, format!("{field}.{name}")))
            .or_else(|| default.map(|t| (t, format!("defaults.health.{name}"))))
            .and_then(|(t, f)| timeout(t, &f, reporter))
    };
    let attempt_timeout = pick(
        &health.timeout,
        defaults.and_then(|d| d.timeout.as_ref()),
        "timeout",
        reporter,
    );
    let interval = pick(
        &health.interval,
        defaults.and_then(|d| d.interval.as_ref()),
        "interval",
        reporter,
    );
    Some(HealthCheck {
        argv: command.value.clone(),
        timeout: attempt_timeout.unwrap_or(HealthCheck::DEFAULT_TIMEOUT),
        retries: health
            .retries
            .or_else(|| defaults.and_then(|d| d.retries))
            .unwrap_or(0),
        interval: interval.unwrap_or(HealthCheck::DEFAULT_INTERVAL),
        reload,
    })
}

/// A health check's `reload` command, if it has one; `Err` (reported) when it is empty.
fn reload_command(
    reload: Option<&Spanned<Vec<String>>>,
    field: &str,
    reporter: &mut Reporter<'_>,
) -> Result<Option<Vec<String>>, ()> {
    match reload {
        Some(reload) if reload.value.is_empty() => {
            reporter.error(
                Some(reload.span),
                Some(format!("{field}.reload")),
                "empty reload command",
                Some("give the command that makes restored files take effect, e.g. [\"systemctl\", \"reload\", \"nginx\"], or leave `reload` out".to_owned()),
            );
            Err(())
        }
        Some(reload) => Ok(Some(reload.value.clone())),
        None => Ok(None),
    }
}

/// Report a `command` or `reload` in `defaults.health`, which apply to no module.
pub(super) fn check_default_health(health: Option<&RawHealth>, reporter: &mut Reporter<'_>) {
    if let Some(reload) = health.and_then(|h| h.reload.as_ref()) {
        reporter.error(
            Some(reload.span),
            Some("defaults.health.reload".into()),
            "a default health check cannot have a reload command",
            Some("give each module that needs one its own `health.reload`".into()),
        );
    }
    if let Some(command) = health.and_then(|h| h.command.as_ref()) {
        let hint = "give each module its own `health.command`; defaults set only timeout, retries and interval";
        reporter.error(
            Some(command.span),
            Some("defaults.health.command".into()),
            "a default health check cannot have a command",
            Some(hint.into()),
        );
    }
}
