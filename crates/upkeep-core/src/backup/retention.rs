//! Retention: which backups a prune keeps. A backup is kept when any rule keeps it (the
//! newest N, those younger than D days, the newest of each of the last N days, weeks and
//! months), and always when it is protected: the backup of a module's last safe version
//! and the backups of the newest successful run. With no rule set, nothing is pruned.

use std::collections::{HashMap, HashSet};

use crate::state::backups::BackupRow;

/// How many backups to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Retention {
    /// Keep the newest N.
    pub keep_last: Option<u32>,
    /// Keep those younger than this many days.
    pub keep_days: Option<u32>,
    /// Keep the newest backup of each of the last N days that have one.
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of the last N ISO weeks that have one.
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the last N months that have one.
    pub keep_monthly: Option<u32>,
}

impl Retention {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The verdict on one backup.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    /// The backup.
    pub backup: BackupRow,
    /// Whether it stays.
    pub keep: bool,
    /// The rules that keep it (empty when it goes).
    pub reasons: Vec<String>,
}

/// Decide for every backup (given newest first) whether it stays. `protected` maps backup
/// ids to why they may never be pruned.
pub fn prune_plan(
    backups: &[BackupRow],
    retention: &Retention,
    protected: &HashMap<i64, String, impl std::hash::BuildHasher>,
    now_ms: i64,
) -> Vec<Decision> {
    let mut reasons: HashMap<i64, Vec<String>> = HashMap::new();
    let mut keep = |id: i64, why: String| reasons.entry(id).or_default().push(why);
    for (id, why) in protected {
        keep(*id, why.clone());
    }
    if retention.is_empty() {
        for b in backups {
            keep(b.id, "no retention rule is set".into());
        }
    }
    if let Some(n) = retention.keep_last {
        for b in backups.iter().take(n as usize) {
            keep(b.id, format!("one of the newest {n}"));
        }
    }
    if let Some(days) = retention.keep_days {
        let cutoff = now_ms - i64::from(days) * 86_400_000;
        for b in backups.iter().filter(|b| b.created_ms >= cutoff) {
            keep(b.id, format!("younger than {days} days"));
        }
    }
    let buckets: [(Option<u32>, &str, &str); 3] = [
        (retention.keep_daily, "%Y-%m-%d", "daily"),
        (retention.keep_weekly, "%G-W%V", "weekly"),
        (retention.keep_monthly, "%Y-%m", "monthly"),
    ];
    for (count, format, label) in buckets {
        let Some(count) = count else { continue };
        let mut seen = HashSet::new();
        for b in backups {
            if seen.len() >= count as usize {
                break;
            }
            let bucket = jiff::Timestamp::from_millisecond(b.created_ms)
                .map(|t| t.strftime(format).to_string())
                .unwrap_or_default();
            if seen.insert(bucket.clone()) {
                keep(b.id, format!("{label} {bucket}"));
            }
        }
    }
    backups
        .iter()
        .map(|b| {
            let why = reasons.remove(&b.id).unwrap_or_default();
            Decision {
                backup: b.clone(),
                keep: !why.is_empty(),
                reasons: why,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, created_ms: i64) -> BackupRow {
        BackupRow {
            id,
            name: format!("b{id}"),
            kind: crate::state::backups::BackupKind::Module,
            reason: crate::state::backups::BackupReason::Manual,
            module: None,
            module_version: None,
            run_id: None,
            description: None,
            file: format!("{id}.tar.zst"),
            compression: "zstd".into(),
            sha256: String::new(),
            bytes_in: 0,
            bytes_out: 0,
            entry_count: 0,
            created_ms,
            verified_ms: created_ms,
            status: crate::state::backups::BackupStatus::Ok,
            format: crate::state::backups::BackupFormat::Archive,
            not_kept: Vec::new(),
        }
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn keeps_the_newest_n_and_protected_ones() {
        let now = 100 * DAY;
        let backups: Vec<_> = (0..10).map(|i| row(10 - i, now - i * DAY)).collect();
        let protected = HashMap::from([(1, "last safe version of gogs".to_owned())]);
        let retention = Retention {
            keep_last: Some(3),
            ..Retention::default()
        };
        let plan = prune_plan(&backups, &retention, &protected, now);
        let kept: Vec<i64> = plan
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.backup.id)
            .collect();
        assert_eq!(kept, vec![10, 9, 8, 1]);
    }

    #[test]
    fn keeps_one_per_day_and_recent_ones() {
        let now = 100 * DAY;
        // Two backups a day for five days.
        let backups: Vec<_> = (0..10).map(|i| row(10 - i, now - i * DAY / 2)).collect();
        let retention = Retention {
            keep_daily: Some(2),
            keep_days: Some(1),
            ..Retention::default()
        };
        let plan = prune_plan(&backups, &retention, &HashMap::new(), now);
        let kept: Vec<i64> = plan
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.backup.id)
            .collect();
        assert_eq!(kept, vec![10, 9, 8]);
    }

    #[test]
    fn without_rules_nothing_goes() {
        let backups = vec![row(1, 0), row(2, 1)];
        let plan = prune_plan(&backups, &Retention::default(), &HashMap::new(), DAY);
        assert!(plan.iter().all(|d| d.keep));
    }
}
