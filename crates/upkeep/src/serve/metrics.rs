//! `GET /metrics`: the status report and the run counts in Prometheus's text format.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse as _;

use super::App;
use super::api::{Answer, blocking};

/// A label value with `\`, `"` and newlines escaped, as the text format wants.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// An RFC 3339 time (as the status report gives it) in seconds since the epoch.
fn seconds(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_second)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[expect(
    clippy::too_many_lines,
    reason = "one metric family after another, in the order they are served"
)]
pub(crate) async fn metrics(
    State(app): State<Arc<App>>,
    stamp: Option<axum::Extension<super::fresh::Stamp>>,
) -> Answer {
    let cached = super::api::status_report(&app, stamp).await?;
    let report = &cached.report;
    let counts = blocking(&app, |ops| Ok(upkeep_core::ops::query::run_counts(ops)?)).await?;
    let mut out = String::new();
    let modules = &report.modules;
    family(
        &mut out,
        "upkeep_module_update_available",
        "gauge",
        "1 when the update source offers a version other than the one applied.",
    );
    for row in modules {
        let available = row
            .upstream
            .as_ref()
            .is_some_and(|u| u.latest.is_some() && u.latest != u.current);
        let _ = writeln!(
            out,
            "upkeep_module_update_available{{module=\"{}\"}} {}",
            label(&row.module),
            u8::from(available)
        );
    }
    family(
        &mut out,
        "upkeep_module_version_info",
        "gauge",
        "Always 1; the labels carry the applied and the upstream version.",
    );
    for row in modules {
        let upstream = row
            .upstream
            .as_ref()
            .and_then(|u| u.latest.clone())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "upkeep_module_version_info{{module=\"{}\",applied=\"{}\",upstream=\"{}\"}} 1",
            label(&row.module),
            label(row.applied_version.as_deref().unwrap_or_default()),
            label(&upstream)
        );
    }
    family(
        &mut out,
        "upkeep_module_last_success_timestamp_seconds",
        "gauge",
        "When the module's applied version was last applied.",
    );
    for row in modules {
        if let Some(at) = row.last_applied.as_deref().and_then(seconds) {
            let _ = writeln!(
                out,
                "upkeep_module_last_success_timestamp_seconds{{module=\"{}\"}} {at}",
                label(&row.module)
            );
        }
    }
    family(
        &mut out,
        "upkeep_module_health",
        "gauge",
        "1 when the module's last health check passed, 0 when it failed.",
    );
    for row in modules {
        if let Some(health) = &row.last_health {
            let _ = writeln!(
                out,
                "upkeep_module_health{{module=\"{}\"}} {}",
                label(&row.module),
                u8::from(health == "passed")
            );
        }
    }
    family(
        &mut out,
        "upkeep_module_last_backup_age_seconds",
        "gauge",
        "Age of the module's newest backup.",
    );
    for row in modules {
        if let Some(age) = row.last_backup_age_secs {
            let _ = writeln!(
                out,
                "upkeep_module_last_backup_age_seconds{{module=\"{}\"}} {age}",
                label(&row.module)
            );
        }
    }
    if let Some(at) = report.checks.last_answered_ms {
        family(
            &mut out,
            "upkeep_seconds_since_last_check",
            "gauge",
            "Seconds since the newest update check that was answered.",
        );
        let _ = writeln!(
            out,
            "upkeep_seconds_since_last_check {}",
            (report.at_ms - at).max(0) / 1000
        );
    }
    family(
        &mut out,
        "upkeep_runs_total",
        "counter",
        "Runs recorded in the ledger, by result.",
    );
    for (result, count) in counts {
        let _ = writeln!(
            out,
            "upkeep_runs_total{{result=\"{}\"}} {count}",
            label(&result)
        );
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
