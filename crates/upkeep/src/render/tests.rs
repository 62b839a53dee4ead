//! Snapshot tests of the renderers, built from constructed engine values: nothing is
//! spawned and no ledger is opened. Layouts are given, so the snapshots do not depend on
//! the terminal the tests run in.

use std::path::Path;

use upkeep_core::manifest::{ChildrenRunner, ManifestFormat, Rule, RuleOrigin, RunRule};
use upkeep_core::plan::{Action, Plan, Step};
use upkeep_core::run::{Failure, ModuleResult, Outcome, Ran, RunResult, RunSummary};
use upkeep_core::state::backups::{BackupKind, BackupRow, BackupStatus};
use upkeep_core::state::safety_summary::SafetyEvent;
use upkeep_core::state::{AuditEntry, History, HistoryModule, HistoryRun, ModuleStats};
use upkeep_core::state::{ModuleOutcome, RunStatus};
use upkeep_core::updates::{
    HeldBack, HoldReason, ModuleReport, PackageReport, Release, Summary, UpdateReport,
};

use super::fit::{self, DETAIL_BOUND, Layout};
use upkeep_core::ops::status::{ModuleReason, StatusRow};

/// Midday, 1 March 2026, UTC.
const NOON: i64 = 1_772_366_400_000;

const TERMINAL_80: Layout = Layout {
    width: 80,
    terminal: true,
};

fn widest(text: &str) -> usize {
    text.lines().map(fit::width).max().unwrap_or(0)
}

fn result(module: &str, outcome: Outcome, ran: bool) -> ModuleResult {
    ModuleResult {
        module: module.to_owned(),
        outcome,
        ran: ran.then_some(Ran {
            started_ms: NOON,
            duration_ms: 1_250,
        }),
        version_before: Some("1.0.0".to_owned()),
        version_after: Some("1.0.0".to_owned()),
        log_path: ran.then(|| format!("/var/lib/upkeep/logs/run-7/{module}.log")),
        upstream: None,
    }
}

fn mixed_run() -> RunSummary {
    let mut updated = result("web", Outcome::Succeeded, true);
    updated.version_after = Some("1.1.0".to_owned());
    RunSummary {
        run_id: Some(7),
        result: RunResult::Failed,
        dry_run: false,
        duration_ms: 4_321,
        modules: vec![
            result("db", Outcome::Succeeded, true),
            updated,
            result(
                "mailer",
                Outcome::Failed {
                    failure: Failure::Exit(2),
                    tail: "$ mailer --sync\nerror: queue is locked".to_owned(),
                },
                true,
            ),
            result(
                "reports",
                Outcome::Blocked {
                    by: "mailer".to_owned(),
                    reason: "required module `mailer` did not succeed".to_owned(),
                },
                false,
            ),
            result(
                "files",
                Outcome::RolledBack {
                    cause: "health check failed: HTTP 502".to_owned(),
                    backup_id: 12,
                },
                true,
            ),
            result(
                "cache",
                Outcome::Skipped {
                    reason: "up to date".to_owned(),
                },
                false,
            ),
        ],
    }
}

#[test]
fn summary_of_a_mixed_run() {
    let text = super::summary(&mixed_run(), Path::new("/var/lib/upkeep"), Layout::PIPE);
    insta::assert_snapshot!(text);
}

/// The detail of a refusal listing 2,500 new files, about 85,000 characters.
fn huge_refusal() -> String {
    let files: Vec<String> = (0..2_500)
        .map(|i| format!("new-file-number-{i:04}-of-many.txt"))
        .collect();
    format!(
        "files of `app` do not match their checksum (added: {}); if the change is intended, \
         approve it with `upkeep checksum --write app`",
        files.join(", ")
    )
}

#[test]
fn summary_cuts_a_huge_refusal_to_the_terminal_and_says_where_it_is_whole() {
    let summary = RunSummary {
        run_id: Some(3),
        result: RunResult::IntegrityRefused,
        dry_run: false,
        duration_ms: 80,
        modules: vec![result(
            "app",
            Outcome::IntegrityRefused {
                expected: None,
                actual: None,
                changes: None,
                reason: huge_refusal(),
            },
            false,
        )],
    };
    let text = super::summary(&summary, Path::new("/var/lib/upkeep"), TERMINAL_80);
    insta::assert_snapshot!(text);
    assert!(widest(&text) <= 80);
    // In a pipe it is cut only past the bound, still keeping what to do at its end.
    let piped = super::summary(&summary, Path::new("/var/lib/upkeep"), Layout::PIPE);
    let row = piped.lines().nth(1).unwrap();
    assert!(fit::width(row) <= DETAIL_BOUND + 60, "{row}");
    assert!(row.ends_with("`upkeep checksum --write app`"), "{row}");
}

#[test]
fn multi_byte_details_are_cut_on_character_boundaries() {
    // 70,000 characters of two, three and four bytes (and double width): past what a
    // format width takes, and a byte cut would land inside a character.
    let detail = "é→漢🦀".repeat(17_500);
    let summary = RunSummary {
        run_id: None,
        result: RunResult::Failed,
        dry_run: true,
        duration_ms: 5,
        modules: vec![result(
            "modulé-漢字",
            Outcome::HealthFailed { detail },
            false,
        )],
    };
    for layout in [TERMINAL_80, Layout::PIPE] {
        let text = super::summary(&summary, Path::new("/s"), layout);
        assert!(widest(&text) <= DETAIL_BOUND + 60, "{}", widest(&text));
        assert!(text.contains("health check failed: é"), "{text}");
        assert!(text.contains("details marked … were cut to fit; `--json` prints them whole"));
    }
    insta::assert_snapshot!(super::summary(&summary, Path::new("/s"), TERMINAL_80));
}

fn step(name: &str, action: Action, depth: usize, wave: usize, requires: &[&str]) -> Step {
    Step {
        name: name.to_owned(),
        kind: if depth == 0 { "group" } else { "python" },
        description: None,
        action,
        version: (depth > 0).then(|| "2.0.0".to_owned()),
        applied_version: Some("1.0.0".to_owned()),
        applied: true,
        checksum: None,
        update: None,
        requires: requires.iter().map(|r| (*r).to_owned()).collect(),
        critical: name == "db",
        depth,
        wave,
        rule: Rule {
            value: RunRule::OnChange,
            origin: RuleOrigin::Module,
        },
        children_run_by: None,
        backup: None,
        module_index: 0,
        refused: None,
        blocked_by: None,
    }
}

#[test]
fn plan_table() {
    let plan = Plan {
        steps: vec![
            step("services", Action::Group, 0, 0, &[]),
            step(
                "db",
                Action::Upgrade {
                    from: Some("1.0.0".to_owned()),
                    to: Some("2.0.0".to_owned()),
                },
                1,
                1,
                &["services"],
            ),
            step("web", Action::UpToDate, 1, 2, &["services", "db"]),
            step(
                "mail",
                Action::HeldBack {
                    version: "3.0.0".to_owned(),
                    reason: "a major update".to_owned(),
                },
                1,
                1,
                &["services"],
            ),
            every_run_parent(),
            step(
                "lists",
                Action::RunByParent {
                    parent: "adblock".to_owned(),
                    origin: mentions(),
                    reason: mentions().describe(),
                },
                2,
                2,
                &["services", "adblock"],
            ),
        ],
    };
    insta::assert_snapshot!(super::plan_table(&plan));
}

fn mentions() -> RuleOrigin {
    RuleOrigin::Mentions {
        file: "adblock/index.py".to_owned(),
        line: 12,
        what: "`children`".to_owned(),
    }
}

/// A seed module that runs on every run and runs its own children.
fn every_run_parent() -> Step {
    let origin = RuleOrigin::FormatDefault {
        format: ManifestFormat::SeedJson,
    };
    let mut step = step(
        "adblock",
        Action::EveryRun { held_back: None },
        1,
        1,
        &["services"],
    );
    step.rule = Rule {
        value: RunRule::EveryRun,
        origin,
    };
    step.children_run_by = Some(Rule {
        value: ChildrenRunner::Parent,
        origin: mentions(),
    });
    step
}

fn status_row(module: &str, applied: Option<&str>, state: &str, description: &str) -> StatusRow {
    StatusRow {
        module: module.to_owned(),
        kind: "python",
        state: state.to_owned(),
        reason: Some(if applied.is_some() {
            ModuleReason::UpToDate
        } else {
            ModuleReason::NeverRun
        }),
        reason_message: Some(
            if applied.is_some() {
                "Up to date: nothing to apply."
            } else {
                "Never run; the next run sets it up."
            }
            .to_owned(),
        ),
        blocked_by: None,
        enabled: true,
        critical: false,
        declared_version: applied.map(str::to_owned),
        applied_version: applied.map(str::to_owned),
        last_safe_version: applied.map(str::to_owned),
        last_applied: applied.map(|_| super::timestamp(NOON)),
        last_outcome: applied.map(|_| ModuleOutcome::Succeeded),
        last_backup: applied.map(|_| 4),
        last_backup_at: applied.map(|_| super::timestamp(NOON - 60_000)),
        last_backup_age_secs: applied.map(|_| 60),
        last_health: applied.map(|_| "passed".to_owned()),
        last_health_at: applied.map(|_| super::timestamp(NOON + 5_000)),
        held: None,
        description: Some(description.to_owned()).filter(|d| !d.is_empty()),
        upstream: None,
    }
}

fn status_rows() -> Vec<StatusRow> {
    let mut held = status_row(
        "nextcloud-office-integration-with-collabora-online",
        Some("2024.11.3-rc.1+build.5678"),
        "held: rollback failed: the backup of /var/www/nextcloud could not be restored",
        "Keeps the Collabora Online integration of Nextcloud current.",
    );
    held.held = Some("rollback failed: the backup could not be restored".to_owned());
    held.last_outcome = Some(ModuleOutcome::NeedsIntervention);
    held.reason = Some(ModuleReason::NeedsIntervention);
    held.reason_message = Some(
        "Held for manual intervention (rollback failed: the backup could not be restored); \
         `upkeep clear nextcloud-office-integration-with-collabora-online` releases it."
            .to_owned(),
    );
    held.critical = true;
    vec![
        status_row("dns", Some("1"), "up to date", "Local resolver."),
        held,
        status_row(
            "wiki",
            None,
            "setup (never applied)",
            "A wiki whose description runs on for a good while: «漢字 and é included».",
        ),
    ]
}

#[test]
fn status_table_fits_80_columns_with_long_names_and_versions() {
    let text = super::status_table(&status_rows(), Layout::PIPE);
    assert!(widest(&text) <= 80, "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn status_table_fits_even_when_every_cell_is_long() {
    let long = "x".repeat(300);
    let mut row = status_row(&long, Some(&long), &long, &long);
    row.last_outcome = Some(ModuleOutcome::NeedsIntervention);
    let text = super::status_table(&[row], Layout::PIPE);
    assert!(widest(&text) <= 80, "{text}");
}

#[test]
fn status_wide_and_one_module() {
    let rows = status_rows();
    insta::assert_snapshot!("status_wide", super::status_wide(&rows));
    insta::assert_snapshot!("status_module_held", super::status_module(&rows[1]));
    insta::assert_snapshot!(
        "status_module_never_applied",
        super::status_module(&rows[2])
    );
}

#[test]
fn history_with_events_stats_and_audit() {
    let module = |name: &str, outcome: &str, detail: Option<&str>| HistoryModule {
        module: name.to_owned(),
        outcome: outcome.parse().unwrap(),
        detail: detail.map(str::to_owned),
        duration_ms: Some(2_500),
        version_before: None,
        version_after: None,
        log_path: None,
    };
    let history = History {
        runs: vec![HistoryRun {
            id: 2,
            trigger: "schedule:nightly".to_owned(),
            started_ms: NOON,
            finished_ms: Some(NOON + 61_000),
            result: RunStatus::Failed,
            reason: None,
            modules: vec![
                module("db", "succeeded", None),
                module(
                    "web",
                    "rolled-back",
                    Some("health check failed; rolled back from backup 4"),
                ),
                module("app", "integrity-refused", Some(&huge_refusal())),
            ],
            events: vec![SafetyEvent {
                kind: "health".to_owned(),
                module: Some("web".to_owned()),
                at_ms: NOON + 30_000,
                detail: "after-update: failed (HTTP 502)".to_owned(),
            }],
        }],
        stats: vec![
            ModuleStats {
                module: "db".to_owned(),
                attempts: 4,
                succeeded: 4,
                success_rate: 1.0,
                mean_duration_ms: Some(2_500.0),
            },
            ModuleStats {
                module: "app".to_owned(),
                attempts: 0,
                succeeded: 0,
                success_rate: 0.0,
                mean_duration_ms: None,
            },
        ],
        audit: vec![AuditEntry {
            at_ms: NOON - 3_600_000,
            action: "checksum-approved".to_owned(),
            module: Some("app".to_owned()),
            detail: "0123abcd 12 files".to_owned(),
        }],
    };
    let text = super::history(&history, TERMINAL_80);
    assert!(widest(&text) <= 80, "{text}");
    insta::assert_snapshot!(text);
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "three constructed module reports read best in one place"
)]
fn check_report_with_a_hold_packages_and_a_failed_source() {
    let base = ModuleReport {
        module: "gogs".to_owned(),
        source: "git".to_owned(),
        update_type: "app".to_owned(),
        checked_ms: NOON,
        ok: true,
        error: None,
        current: Some("0.13.0".to_owned()),
        current_from: None,
        latest: Some("1.0.0".to_owned()),
        security: false,
        breaking: false,
        major: true,
        prerelease: false,
        target: Some("0.13.2".to_owned()),
        held: Some(HeldBack {
            version: "1.0.0".to_owned(),
            reason: HoldReason::Hold,
            description: "a major or breaking update; run with --allow-breaking to apply it"
                .to_owned(),
        }),
        releases: vec![Release {
            version: "1.0.0".to_owned(),
            ..Release::default()
        }],
        packages: Vec::new(),
    };
    let tools = ModuleReport {
        module: "tools".to_owned(),
        source: "pip".to_owned(),
        update_type: "packages".to_owned(),
        latest: None,
        held: None,
        target: None,
        major: false,
        releases: Vec::new(),
        packages: vec![
            PackageReport {
                name: "requests".to_owned(),
                current: "2.31.0".to_owned(),
                available: "2.32.3".to_owned(),
                security: true,
                major: false,
                prerelease: false,
                held: None,
            },
            PackageReport {
                name: "django".to_owned(),
                current: "4.2.0".to_owned(),
                available: "5.1.0".to_owned(),
                security: false,
                major: true,
                prerelease: false,
                held: None,
            },
        ],
        ..base.clone()
    };
    let down = ModuleReport {
        module: "feed".to_owned(),
        source: "http".to_owned(),
        ok: false,
        error: Some(format!("fetch http://127.0.0.1:9/{}", "x".repeat(2_000))),
        latest: None,
        held: None,
        target: None,
        ..base.clone()
    };
    let report = UpdateReport {
        cached: true,
        summary: Summary {
            modules_checked: 3,
            updates: 3,
            security: 1,
            breaking_or_major: 2,
            held: 1,
            failed: 1,
            ..Summary::default()
        },
        modules: vec![base, tools, down],
    };
    let text = super::check_report(&report, false);
    assert!(widest(&text) <= DETAIL_BOUND + 20);
    insta::assert_snapshot!(text);
}

#[test]
fn backup_list() {
    let row = |id: i64, module: Option<&str>, run_id: Option<i64>, reason: &str| BackupRow {
        id,
        name: format!("backup-{id}"),
        kind: BackupKind::Full,
        reason: reason.parse().unwrap(),
        module: module.map(str::to_owned),
        module_version: module.map(|_| "1.2.0".to_owned()),
        run_id,
        description: None,
        file: format!("/var/lib/upkeep/backups/backup-{id}.tar.zst"),
        compression: "zstd".to_owned(),
        sha256: "0".repeat(64),
        bytes_in: 10_485_760,
        bytes_out: 2_621_440,
        entry_count: 120,
        created_ms: NOON + id * 86_400_000,
        verified_ms: NOON + id * 86_400_000,
        status: BackupStatus::Ok,
        format: upkeep_core::state::backups::BackupFormat::Archive,
        not_kept: Vec::new(),
    };
    let rows = [
        row(1, None, None, "manual"),
        row(2, Some("nextcloud"), Some(7), "pre-update"),
    ];
    insta::assert_snapshot!(super::backup_list(&rows));
    assert_eq!(super::backup_list(&[]), "no backups\n");
}

#[test]
fn a_snapshot_backup_shows_no_size_of_its_own() {
    let row = BackupRow {
        id: 3,
        name: "pre-update_svc_run-2".to_owned(),
        kind: BackupKind::Module,
        reason: "pre-update".parse().unwrap(),
        module: Some("svc".to_owned()),
        module_version: Some("1".to_owned()),
        run_id: Some(2),
        description: None,
        file: "/srv/.upkeep-snapshots/20261207_120000-pre-update_svc_run-2-0a1b2c3d".to_owned(),
        compression: "none".to_owned(),
        sha256: "bbdc5218-9009-9544-b50d-f030ae7c61b3".to_owned(),
        bytes_in: 0,
        bytes_out: 0,
        entry_count: 0,
        created_ms: NOON,
        verified_ms: NOON,
        status: BackupStatus::Ok,
        format: upkeep_core::state::backups::BackupFormat::Snapshot,
        not_kept: Vec::new(),
    };
    let list = super::backup_list(std::slice::from_ref(&row));
    assert!(
        list.contains(" snapshot ") && !list.contains("0 B"),
        "{list}"
    );
    assert_eq!(
        super::backup_created(&row),
        "backup 3 (pre-update_svc_run-2) created and verified\n  read-only btrfs snapshot /srv/.upkeep-snapshots/20261207_120000-pre-update_svc_run-2-0a1b2c3d\n  subvolume bbdc5218-9009-9544-b50d-f030ae7c61b3\n"
    );
}

#[test]
fn doctor_screen() {
    use upkeep_core::checksum::{Problem, Refusal};
    use upkeep_core::manifest::ManifestFormat;
    use upkeep_core::ops::doctor::{DoctorReport, ManifestCheck, ModuleCheck, PythonCheck};
    let refusal = |problem, found: Option<&str>| Refusal {
        problem,
        expected: None,
        actual: None,
        changes: None,
        found: found.map(str::to_owned),
        reason: String::new(),
        fix: "upkeep checksum --write gogs".to_owned(),
    };
    let report = DoctorReport {
        manifest: ManifestCheck {
            path: "/srv/updates/manifest.json".into(),
            format: ManifestFormat::SeedJson,
            modules: 3,
            warnings: Vec::new(),
        },
        python: Some(PythonCheck {
            configured: "python3".into(),
            chosen_by: "`python3` on PATH, as no `venv/` is beside the manifest",
            found: Some("/usr/bin/python3".into()),
            executable: Some("/usr/bin/python3".to_owned()),
            version: Some("3.11.2".to_owned()),
            venv: None,
            problem: None,
            fix: None,
            note: Some("modules run without a virtualenv".to_owned()),
        }),
        modules: vec![
            ModuleCheck {
                module: "adblock".to_owned(),
                dir: "/srv/updates/adblock".into(),
                approved: Some(
                    "88a9fa542a76d50ac255a949df097effa9262e82e09ff984e7ff43e0ff17de0f".to_owned(),
                ),
                refused: None,
            },
            ModuleCheck {
                module: "gogs".to_owned(),
                dir: "/srv/updates/gogs".into(),
                approved: None,
                refused: Some(refusal(
                    Problem::Unreadable,
                    Some("nothing (the file is empty)"),
                )),
            },
        ],
        children: Vec::new(),
        problems: 1,
        command: "upkeep".to_owned(),
    };
    insta::assert_snapshot!(super::doctor(&report));
}

/// A module with a checked source gets an UPSTREAM column in the summary, `before → after`
/// and what its source still offers; the others show `-`.
#[test]
fn summary_shows_the_upstream_version_a_module_moved_to() {
    let mut summary = mixed_run();
    summary.modules[0].upstream = Some(Box::new(upkeep_core::run::UpstreamChange {
        before: Some("2.3.0".to_owned()),
        after: Some("2.3.1".to_owned()),
        available: Some("3.0.0".to_owned()),
        packages_updated: 0,
    }));
    let text = super::summary(&summary, Path::new("/var/lib/upkeep"), Layout::PIPE);
    assert!(text.lines().next().unwrap().contains("UPSTREAM"), "{text}");
    assert!(text.contains("2.3.0 → 2.3.1 (3.0.0 available)"), "{text}");
    let plain = super::summary(&mixed_run(), Path::new("/var/lib/upkeep"), Layout::PIPE);
    assert!(!plain.contains("UPSTREAM"), "{plain}");
}

/// A module with a checked source gets an UPSTREAM column in `status`, within 80 columns.
#[test]
fn status_table_shows_the_upstream_version_when_a_source_was_checked() {
    let mut rows = status_rows();
    rows[0].upstream = Some(upkeep_core::updates::Upstream {
        checked_ms: NOON,
        current: Some("2.3.0".to_owned()),
        current_from: None,
        latest: Some("2.3.1".to_owned()),
        prerelease: false,
        security: true,
        target: Some("2.3.1".to_owned()),
        held: None,
        packages: Vec::new(),
    });
    let text = super::status_table(&rows, Layout::PIPE);
    assert!(widest(&text) <= 80, "{text}");
    assert!(text.contains("UPSTREAM"), "{text}");
    let one = super::status_module(&rows[0]);
    assert!(
        one.ends_with("upstream      2.3.0 → 2.3.1 [security] (checked 2026-03-01T12:00:00Z)\n"),
        "{one}"
    );
}

/// The automation paragraph: the state, then each reason with its code and hint.
#[test]
fn automation_names_each_reason_by_its_code() {
    use upkeep_core::ops::status::{AutomationState, Checks, Reason, ReasonCode, StatusReport};
    let reason = |code: ReasonCode, message: &str, hint: Option<&str>| Reason {
        code,
        severity: code.severity(),
        message: message.to_owned(),
        subjects: Vec::new(),
        hint: hint.map(str::to_owned),
    };
    let mut report = StatusReport {
        at_ms: NOON,
        state: AutomationState::Working,
        reasons: Vec::new(),
        schedules_enabled: 1,
        checks: Checks {
            expected: true,
            last_answered_ms: Some(NOON),
            period_secs: 86_400,
            stale_after_secs: 172_800,
        },
        modules: status_rows(),
    };
    assert_eq!(super::automation(&report), "automation: working\n");
    report.state = AutomationState::Degraded;
    report.reasons = vec![
        reason(
            ReasonCode::ScheduledRunFailed,
            "The last run of schedule `nightly` (run 3, 2026-03-01T12:00:00Z) ended failed.",
            Some("upkeep history --limit 5"),
        ),
        reason(
            ReasonCode::NotificationChannelFailing,
            "Channel `ops` is failing.",
            None,
        ),
    ];
    insta::assert_snapshot!(super::automation(&report));
}
