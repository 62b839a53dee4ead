//! A temporary host for tests: an updates directory with a manifest and modules, a state
//! directory, and an `upkeep` command pointed at both.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A throwaway host.
pub(crate) struct Host {
    _dir: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) updates: PathBuf,
    pub(crate) state: PathBuf,
    manifest: PathBuf,
}

impl Host {
    /// An empty host with an `updates/` directory and a state directory.
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        let updates = root.join("updates");
        let state = root.join("state");
        fs_err::create_dir_all(&updates).unwrap();
        let manifest = updates.join("manifest.json");
        Self {
            _dir: dir,
            root,
            updates,
            state,
            manifest,
        }
    }

    /// A host holding a copy of `examples/seed-updates`.
    pub(crate) fn seed_example() -> Self {
        let host = Self::new();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-updates");
        copy_tree(&example, &host.updates);
        host
    }

    /// Write a file under the updates directory (parents created).
    pub(crate) fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.updates.join(rel);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, contents).unwrap();
        path
    }

    /// Write an executable script under the updates directory.
    pub(crate) fn script(&self, rel: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.write(rel, &format!("#!/bin/sh\n{body}\n"));
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A Python module folder `<name>/index.py` with the given body.
    pub(crate) fn python_module(&self, name: &str, body: &str) {
        self.write(&format!("{name}/__init__.py"), "");
        self.write(&format!("{name}/index.py"), body);
    }

    /// Use `manifest.json` with this content.
    pub(crate) fn manifest_json(&mut self, json: &serde_json::Value) {
        self.manifest = self.updates.join("manifest.json");
        let text = serde_json::to_string_pretty(json).unwrap();
        fs_err::write(&self.manifest, text).unwrap();
    }

    /// Use `upkeep.toml` with this content.
    pub(crate) fn manifest_toml(&mut self, toml: &str) {
        self.manifest = self.updates.join("upkeep.toml");
        fs_err::write(&self.manifest, toml).unwrap();
    }

    /// The manifest path in use.
    pub(crate) fn manifest(&self) -> &Path {
        &self.manifest
    }

    /// `upkeep` with this host's manifest and state directory, a clean environment and
    /// no terminal.
    pub(crate) fn upkeep(&self) -> Command {
        Command::from_std(self.upkeep_process())
    }

    /// [`Host::upkeep`] as a plain `std::process::Command`, for tests that need the child
    /// itself (its pid, its pipes).
    pub(crate) fn upkeep_process(&self) -> std::process::Command {
        #[expect(clippy::disallowed_methods, reason = "tests drive the binary directly")]
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("upkeep"));
        cmd.env_remove("UPKEEP_MANIFEST")
            .env_remove("UPKEEP_STATE_DIR")
            .env("UPKEEP_CONFIG", self.root.join("settings.toml"))
            .env("NO_COLOR", "1")
            .env_remove("COLUMNS")
            .arg("--manifest")
            .arg(&self.manifest)
            .arg("--state-dir")
            .arg(&self.state)
            .current_dir(&self.root);
        cmd
    }

    /// Approve every module's files (`upkeep checksum --write`).
    pub(crate) fn approve(&self) {
        self.upkeep()
            .args(["checksum", "--write"])
            .assert()
            .success();
    }

    /// Open the ledger read-only with plain SQL, as an outside auditor would.
    pub(crate) fn ledger(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.state.join("upkeep.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// The one value `sql` selects from the ledger.
    pub(crate) fn scalar<T: rusqlite::types::FromSql>(&self, sql: &str) -> T {
        self.ledger()
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Outcomes recorded for `run_id`, as (module, outcome) sorted by module.
    pub(crate) fn outcomes(&self, run_id: i64) -> Vec<(String, String)> {
        let conn = self.ledger();
        let mut stmt = conn
            .prepare("SELECT module, outcome FROM module_runs WHERE run_id = ?1 ORDER BY module")
            .unwrap();
        stmt.query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Replace this host's paths and volatile numbers in `text` for snapshots.
    pub(crate) fn redact(&self, text: &str) -> String {
        let text = text.replace(&self.root.display().to_string(), "[HOST]");
        let durations = regex_lite::Regex::new(r"\b\d+(\.\d+)?(ms|s)\b|\b\d+m\d\ds\b").unwrap();
        let times = regex_lite::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
        let sums = regex_lite::Regex::new(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b").unwrap();
        let text = durations.replace_all(&text, "[DUR]");
        let text = times.replace_all(&text, "[TIME]");
        sums.replace_all(&text, "[SHA]").into_owned()
    }

    /// [`Host::redact`] for tables: column widths follow the widest cell, which redaction
    /// changes, so runs of spaces between columns become two spaces.
    pub(crate) fn redact_table(&self, text: &str) -> String {
        let gaps = regex_lite::Regex::new(r"([^ \n])  +").unwrap();
        gaps.replace_all(&self.redact(text), "$1  ").into_owned()
    }
}

pub(crate) fn copy_tree(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_tree(&entry.path(), &target);
            }
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Output of a finished command: code, stdout, stderr as strings.
pub(crate) fn output(assert: &assert_cmd::assert::Assert) -> (i32, String, String) {
    let out = assert.get_output();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A manifest whose one module, `slow`, runs until the test opens the gate: a run of it
/// holds the lock for as long as a test needs another command to meet it.
pub(crate) struct Gate {
    started: PathBuf,
    release: PathBuf,
}

impl Gate {
    /// Write the manifest of `slow` into `host`.
    pub(crate) fn manifest(host: &mut Host) -> Self {
        let gate = Self {
            started: host.root.join("started"),
            release: host.root.join("release"),
        };
        host.manifest_toml(&format!(
            "[[module]]\nname = \"slow\"\ncommand = [\"sh\", \"-c\", \"touch {}; while [ ! -e {} ]; do sleep 0.05; done\"]\n",
            gate.started.display(),
            gate.release.display()
        ));
        gate
    }

    /// Start `upkeep run` on `host` and return once `slow` runs (the lock is held).
    pub(crate) fn hold(&self, host: &Host) -> std::process::Child {
        let holder = host
            .upkeep_process()
            .arg("run")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        crate::process_hygiene::wait_for("the first run's module to start", || {
            self.started.exists()
        });
        holder
    }

    /// Let `slow` end, and wait for the run that held the lock to succeed.
    pub(crate) fn open(&self, mut holder: std::process::Child) {
        fs_err::write(&self.release, "").unwrap();
        assert!(holder.wait().unwrap().success());
    }
}

/// Start `upkeep serve` on a free loopback port for `host` (with `extra` arguments) and
/// wait for the address it prints. Its stderr keeps being drained, so the server never
/// blocks on a full pipe. Returns the process and `http://ADDR`.
pub(crate) fn serve(host: &Host, extra: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = host
        .upkeep_process()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        if let Some(addr) = line.split("listening on ").nth(1) {
            break addr.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

/// A new API token `name` with `role`, made with `upkeep token create` on `host`: its
/// secret, printed once.
pub(crate) fn token(host: &Host, name: &str, role: &str) -> String {
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args(["token", "create", name, "--role", role])
            .assert(),
    );
    assert_eq!(code, 0, "{stderr}");
    stdout.trim().to_owned()
}
