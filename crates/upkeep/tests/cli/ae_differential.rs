//! upkeep against the real ae.updater from PyPI: generated folder trees deployed by both,
//! on identical copies, compared byte for byte.
//!
//! The test makes a virtualenv under the target directory (once; CI's `.ci/run` makes it
//! ahead) with [`PINNED`] installed, then for each seed builds one tree twice: source
//! folders of every kind with `OnOS__` and `ToPath__` arguments, nested directories,
//! dot-files, names that are not UTF-8, files that several folders deploy to one place,
//! files already at the destination, a one-time update script and a pre-app-run script.
//! ae.updater's `check_all()` runs in one copy and `upkeep prerun` in the other, twice each,
//! and after each call the test compares the whole of both copies (destinations, leftover
//! sources, scripts left or deleted: paths, bytes, modes, and the modification times the
//! generator set), and the files each call reports as processed.
//!
//! Every difference is a failure unless it is in [`DOCUMENTED`] (the same list is in the
//! README's "Where upkeep differs" with its reasons); the generator stays out of the cases listed
//! there as "not generated", and the comparison applies the others.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::fixture::Host;

/// What the virtualenv installs: ae.updater and the versions of its dependencies whose
/// sources upkeep follows.
const PINNED: &[&str] = &[
    "ae.updater==0.3.17",
    "ae.paths==0.3.43",
    "ae.base==0.3.74",
    "ae.files==0.3.25",
];

/// Where upkeep and ae.updater 0.3.17 differ on purpose, and how this test treats it.
const DOCUMENTED: &[(&str, &str)] = &[
    (
        "processed-order",
        "compared sorted: ae.updater lists the folders of one kind in the file system's order, upkeep by name",
    ),
    (
        "script-order",
        "upkeep runs ae_pre_app_run.py before ae_updater.py, ae.updater the other way round; the generated scripts write separate files, so only their effects are compared",
    ),
    (
        "bytecode",
        "ae.updater runs with PYTHONDONTWRITEBYTECODE: importing a script would leave __pycache__ in the root; upkeep runs scripts with -B",
    ),
    (
        "exit-code",
        "ae.updater has none; upkeep's prerun exits 3 when the one-time script returns a false value (kept, run again next time, as in ae.updater)",
    ),
    (
        "not generated: same-kind overlap",
        "two folders of one kind writing one file: ae.updater's result depends on the file system's listing order",
    ),
    (
        "not generated: failing scripts",
        "an exception ends ae.updater's check_all before any file is deployed; upkeep reports it and deploys the files",
    ),
    (
        "not generated: refused input",
        "links, `..`, unknown folder arguments, platforms or placeholders, `~user` of no user: upkeep refuses the files (fail closed), ae.updater follows or keeps them literally",
    ),
    (
        "not generated: conflicts",
        "a file upkeep wrote and someone changed since: upkeep reports a conflict (exit 3) unless --force, ae.updater overwrites it",
    ),
    (
        "not generated: deploying into a source folder",
        "upkeep lists the source folders once per call; ae.updater's later glob also finds files an earlier folder of the same call put there",
    ),
    (
        "not generated: file and directory at one path",
        "ae.updater raises (and stops); upkeep fails that file and goes on",
    ),
];

/// Seeds of the generated trees.
const SEEDS: std::ops::Range<u64> = 1..8;

/// Modification times the generator sets are before this; later ones were made while
/// deploying (by scripts) and are not compared.
const GENERATED_BEFORE: i64 = 1_300_000_000;

/// The root's name on both sides: ae.paths names the application after it (`{app_name}`)
/// when the application's script is `main.py`.
const APP: &str = "myapp";

#[test]
fn upkeep_deploys_as_ae_updater_does() {
    let python = venv();
    for seed in SEEDS {
        let host = Host::new();
        let scenario = Scenario::generate(seed);
        let ae = Side::new(&host.root.join("ae"), &scenario);
        let up = Side::new(&host.root.join("up"), &scenario);
        let driver = host.root.join("main.py");
        fs_err::write(&driver, DRIVER).unwrap();
        for call in 1..=2 {
            if call == 2 {
                // The same one-time script delivered again (a new release shipping it):
                // ae.updater runs whatever `ae_updater.py` it finds.
                ae.redeliver_updater(&scenario);
                up.redeliver_updater(&scenario);
            }
            // Both sides at once: they share nothing but the interpreter's files.
            let ae_updater = ae.start_ae_updater(&python, &driver);
            let up_processed = up.run_upkeep(&host, scenario.updater_returns);
            let ae_processed = ae.finish_ae_updater(ae_updater);
            let what = format!("seed {seed}, call {call}\n{}", scenario.describe());
            assert_eq!(
                ae_processed, up_processed,
                "processed files differ ({what})"
            );
            let (ae_tree, up_tree) = (ae.snapshot(), up.snapshot());
            assert_trees_eq(&ae_tree, &up_tree, &what);
        }
    }
}

/// The differences are written down for users: each name in [`DOCUMENTED`] is in the
/// README ("Coming from ae.updater").
#[test]
fn every_documented_difference_is_written_down() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = fs_err::read_to_string(workspace.join("README.md")).unwrap();
    for (name, _) in DOCUMENTED {
        assert!(
            text.contains(&format!("`{name}`")),
            "`{name}` is not documented"
        );
    }
}

/// `check_all()`, reporting the processed files (the name `main.py` makes ae.paths take
/// the working directory's name as the application's, as for a Kivy app).
const DRIVER: &str = "import json, os\n\
from ae.updater import check_all\n\
print(json.dumps([os.fsencode(p).decode('utf-8', 'replace') for p in check_all()]))\n";

/// The virtualenv with [`PINNED`], made once under the target directory.
fn venv() -> PathBuf {
    // The test binary is TARGET/PROFILE/deps/cli-HASH.
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap();
    let dir = target.join("ae-updater-venv");
    let marker = dir.join("pinned.txt");
    let wanted = PINNED.join("\n") + "\n";
    if fs_err::read_to_string(&marker).is_ok_and(|m| m == wanted) {
        return dir.join("bin/python");
    }
    // Made beside and renamed into place, so a test that dies half-way leaves no venv
    // that looks complete.
    let temp = target.join(format!("ae-updater-venv.{}", std::process::id()));
    let _ = fs_err::remove_dir_all(&temp);
    run_ok(
        command("python3").args(["-m", "venv"]).arg(&temp),
        "python3 -m venv",
    );
    run_ok(
        command(temp.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PINNED),
        "pip install ae.updater (the test needs PyPI, or a venv made by .ci/run)",
    );
    fs_err::write(temp.join("pinned.txt"), &wanted).unwrap();
    let _ = fs_err::remove_dir_all(&dir);
    // A venv's scripts name their interpreter by path; the interpreter itself is found
    // relative to `pyvenv.cfg`, so `bin/python` works from the new place.
    fs_err::rename(&temp, &dir).unwrap();
    dir.join("bin/python")
}

fn command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    #[expect(clippy::disallowed_methods, reason = "tests drive python directly")]
    std::process::Command::new(program)
}

fn run_ok(cmd: &mut std::process::Command, what: &str) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// A file to write: relative path (bytes), content, mode, modification time.
type GeneratedFile = (Vec<u8>, Vec<u8>, u32, i64);

/// One generated tree: what to write below the root and around it.
#[derive(Debug)]
struct Scenario {
    /// Files below the root.
    files: Vec<GeneratedFile>,
    /// Files already at destinations (relative to the side's base).
    existing: Vec<GeneratedFile>,
    /// Whether `XDG_CONFIG_HOME` is set (else `{usr}` is `~/.config`).
    xdg: bool,
    /// What `ae_updater.py` returns, when there is one.
    updater_returns: Option<bool>,
    /// Whether there is an `ae_pre_app_run.py`.
    pre_run: bool,
}

const KINDS: &[&str] = &[
    "ae_updater_copies",
    "ae_updater_over_copies",
    "ae_updater_moves",
    "ae_updater_over_moves",
];

/// `ToPath__` values, defused: relative, placeholders of ae.paths, the home.
const TO_PATHS: &[&str] = &[
    "out",
    "\u{FE5B}usr\u{FE5C}\u{2044}sub",
    "\u{FE5B}app\u{FE5C}",
    "\u{FE5B}cwd\u{FE5C}\u{2044}here",
    "~\u{2044}dots",
    "\u{FE5B}ado\u{FE5C}",
    "\u{FE5B}doc\u{FE5C}\u{2044}d",
];

const DIRS: &[&str] = &["", "", "conf", "data/deep", "sub"];
const NAMES: &[&[u8]] = &[
    b"a.txt",
    b"b.json",
    b"settings.json",
    b"{app_name}.cfg",
    b"caf\xe9.txt",
    b"tool.sh",
];
const MODES: &[u32] = &[0o644, 0o600, 0o755, 0o640];

impl Scenario {
    fn generate(seed: u64) -> Self {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut files = Vec::new();
        let mut written = Vec::new();
        for kind in KINDS {
            // Up to two folders of a kind; the second one's names are its own, since two
            // folders of one kind writing one file is order-dependent in ae.updater.
            for second in [false, true] {
                if rng.chance(if second { 40 } else { 80 }) {
                    Self::folder(&mut rng, (kind, second), &mut written, &mut files);
                }
            }
        }
        files.sort();
        files.dedup_by(|a, b| a.0 == b.0);
        let xdg = rng.chance(50);
        let mut existing = Vec::new();
        let usr = if xdg { "xdg" } else { "home/.config" };
        for _ in 0..rng.below(4) {
            let dir = rng.pick(&[usr, "myapp/out", "home/dots"]);
            let mut path = format!("{dir}/").into_bytes();
            path.extend_from_slice(rng.pick(NAMES));
            existing.push((path, b"was here".to_vec(), 0o644, 1_100_000_000));
        }
        existing.sort();
        existing.dedup_by(|a, b| a.0 == b.0);
        Self {
            files,
            existing,
            xdg,
            updater_returns: rng.chance(60).then(|| rng.chance(70)),
            pre_run: rng.chance(60),
        }
    }

    /// One source folder of `kind` with its arguments and files. A file of a first folder
    /// often takes the path of a file an earlier kind deploys to the same destination
    /// (`written`: kind, `ToPath__` value, path), so that overlaps are common.
    fn folder(
        rng: &mut Rng,
        (kind, second): (&str, bool),
        written: &mut Vec<(String, String, Vec<u8>)>,
        files: &mut Vec<GeneratedFile>,
    ) {
        let mut folder = kind.to_owned();
        if rng.chance(30) {
            folder += if rng.chance(75) {
                "___OnOS__linux"
            } else {
                "___OnOS__darwin"
            };
        }
        let to_path = if rng.chance(40) {
            rng.pick(TO_PATHS)
        } else {
            ""
        };
        if !to_path.is_empty() {
            folder += "___ToPath__";
            folder += to_path;
        }
        if second && !folder.contains("___") {
            folder += "___OnOS__linux";
        }
        if rng.chance(25) {
            files.push((format!("{folder}/.gitkeep").into_bytes(), vec![], 0o644, 1));
        }
        if rng.chance(20) {
            let path = format!("{folder}/.hidden/x");
            files.push((path.into_bytes(), b"h".to_vec(), 0o644, 2));
        }
        for _ in 0..rng.below(5) {
            let earlier: Vec<&Vec<u8>> = written
                .iter()
                .filter(|(k, t, _)| k != kind && t == to_path)
                .map(|(_, _, path)| path)
                .collect();
            let relative = if !second && !earlier.is_empty() && rng.chance(50) {
                rng.pick(&earlier).clone()
            } else {
                let mut relative = Vec::new();
                let dir = rng.pick(DIRS);
                if !dir.is_empty() {
                    relative.extend_from_slice(format!("{dir}/").as_bytes());
                }
                if second {
                    relative.extend_from_slice(b"second-");
                }
                relative.extend_from_slice(rng.pick(NAMES));
                relative
            };
            if !second {
                written.push((kind.to_owned(), to_path.to_owned(), relative.clone()));
            }
            let mut path = format!("{folder}/").into_bytes();
            path.extend_from_slice(&relative);
            let content = format!("{folder} {}", rng.next()).into_bytes();
            let mtime = 1_000_000_000 + i64::try_from(rng.below(1_000_000)).unwrap();
            files.push((path, content, rng.pick(MODES), mtime));
        }
    }

    fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut text = String::new();
        for (path, _, mode, _) in &self.files {
            let _ = writeln!(text, "  {} {mode:o}", String::from_utf8_lossy(path));
        }
        for (path, ..) in &self.existing {
            let _ = writeln!(text, "  existing {}", String::from_utf8_lossy(path));
        }
        text + &format!(
            "  xdg {} updater {:?} pre-run {}\n",
            self.xdg, self.updater_returns, self.pre_run
        )
    }
}

/// One copy of a scenario: `base/myapp` is the root, `base/home` the home.
struct Side {
    base: PathBuf,
    root: PathBuf,
    xdg: bool,
}

impl Side {
    fn new(base: &Path, scenario: &Scenario) -> Self {
        let root = base.join(APP);
        fs_err::create_dir_all(&root).unwrap();
        fs_err::create_dir_all(base.join("home")).unwrap();
        let write = |dir: &Path, (path, content, mode, mtime): &GeneratedFile| {
            let path = dir.join(std::ffi::OsStr::from_bytes(path));
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, content).unwrap();
            fs_err::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
            let time = std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(u64::try_from(*mtime).unwrap());
            let file = fs_err::File::options().write(true).open(&path).unwrap();
            file.file().set_modified(time).unwrap();
        };
        for file in &scenario.files {
            write(&root, file);
        }
        for file in &scenario.existing {
            write(base, file);
        }
        if let Some(returns) = scenario.updater_returns {
            let value = if returns { "True" } else { "None" };
            let script = format!(
                "def run_updater():\n    open('updater-ran.txt', 'a').write('x')\n    return {value}\n"
            );
            write(
                &root,
                &(b"ae_updater.py".to_vec(), script.into_bytes(), 0o644, 3),
            );
        }
        if scenario.pre_run {
            let script = "def run_updater():\n    open('pre-ran.txt', 'a').write('x')\n";
            write(
                &root,
                &(b"ae_pre_app_run.py".to_vec(), script.into(), 0o644, 4),
            );
        }
        Self {
            base: base.to_path_buf(),
            root,
            xdg: scenario.xdg,
        }
    }

    /// Put `ae_updater.py` back when a call deleted it.
    fn redeliver_updater(&self, scenario: &Scenario) {
        if let Some(returns) = scenario.updater_returns {
            let path = self.root.join("ae_updater.py");
            if !path.exists() {
                fs_err::write(path, updater_script(returns)).unwrap();
            }
        }
    }

    fn environment(&self, cmd: &mut std::process::Command) {
        cmd.env("HOME", self.base.join("home"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(&self.root);
        if self.xdg {
            cmd.env("XDG_CONFIG_HOME", self.base.join("xdg"));
        } else {
            cmd.env_remove("XDG_CONFIG_HOME");
        }
    }

    /// Paths as the side reports them, with its base made `<base>`, sorted.
    fn relative(&self, paths: impl IntoIterator<Item = String>) -> Vec<String> {
        let base = self.base.to_string_lossy().into_owned();
        let mut paths: Vec<String> = paths
            .into_iter()
            .map(|p| p.replacen(&base, "<base>", 1))
            .collect();
        paths.sort();
        paths
    }

    fn start_ae_updater(&self, python: &Path, driver: &Path) -> std::process::Child {
        let mut cmd = command(python);
        cmd.arg(driver)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        self.environment(&mut cmd);
        cmd.spawn().unwrap()
    }

    fn finish_ae_updater(&self, child: std::process::Child) -> Vec<String> {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ae.updater's check_all: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let list: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        self.relative(list)
    }

    fn run_upkeep(&self, host: &Host, updater_returns: Option<bool>) -> Vec<String> {
        let mut cmd = host.upkeep_process();
        cmd.args(["--json", "prerun", "--root"]).arg(&self.root);
        self.environment(&mut cmd);
        let out = cmd.output().unwrap();
        let expected = if updater_returns == Some(false) { 3 } else { 0 };
        assert_eq!(
            out.status.code(),
            Some(expected),
            "upkeep prerun: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let processed = done["applied"]["processed"].as_array().unwrap();
        self.relative(
            processed
                .iter()
                .map(|p| p["destination"].as_str().unwrap().to_owned()),
        )
    }

    /// Every file and directory below the base: kind, mode, bytes, generated mtime.
    fn snapshot(&self) -> BTreeMap<Vec<u8>, String> {
        let mut out = BTreeMap::new();
        snapshot(&self.base, &self.base, &mut out);
        out
    }
}

/// A one-time script that leaves a mark and returns `returns` (a false value keeps it).
fn updater_script(returns: bool) -> String {
    let value = if returns { "True" } else { "None" };
    format!("def run_updater():\n    open('updater-ran.txt', 'a').write('x')\n    return {value}\n")
}

fn snapshot(base: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, String>) {
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let key = path
            .strip_prefix(base)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec();
        let meta = fs_err::symlink_metadata(&path).unwrap();
        let mode = meta.mode() & 0o7777;
        if meta.is_dir() {
            out.insert(key, format!("dir {mode:o}"));
            snapshot(base, &path, out);
        } else {
            let content = String::from_utf8_lossy(&fs_err::read(&path).unwrap()).into_owned();
            let mtime = if meta.mtime() < GENERATED_BEFORE {
                format!("{}.{:09}", meta.mtime(), meta.mtime_nsec())
            } else {
                "(made now)".to_owned()
            };
            out.insert(key, format!("file {mode:o} {mtime} {content:?}"));
        }
    }
}

fn assert_trees_eq(ae: &BTreeMap<Vec<u8>, String>, up: &BTreeMap<Vec<u8>, String>, what: &str) {
    use std::fmt::Write as _;
    let mut differences = String::new();
    for key in ae
        .keys()
        .chain(up.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (a, u) = (ae.get(key), up.get(key));
        if a != u {
            let _ = writeln!(
                differences,
                "  {}: ae.updater {a:?}, upkeep {u:?}",
                String::from_utf8_lossy(key)
            );
        }
    }
    assert!(
        differences.is_empty(),
        "trees differ ({what}):\n{differences}"
    );
}
