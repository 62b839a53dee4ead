//! A new user's first hour: the README's quick start leaves the repository clean,
//! `status`, `history` and `plan` find the manifest of the last run, completions offer the
//! manifest's module names in a real bash, and the manual pages are generated.

use std::path::Path;

use crate::fixture::{Host, copy_tree, output};

/// The README's quick start, with `cargo run --release -q --` as `upkeep`: a copy of the
/// example that the run may write back into, then the run (the README says to run it
/// twice), then `status` without `--manifest`.
const QUICK_START: &[&str] = &[
    FIRST_COMMAND,
    FIRST_COMMAND,
    "upkeep --state-dir .upkeep-state status",
];

/// The README's first command, with `upkeep` for `cargo run --release -q --`: copy the
/// example once, run the copy.
const FIRST_COMMAND: &str = "[ -e .upkeep-example ] || cp -R examples/seed-updates .upkeep-example; upkeep --manifest .upkeep-example/manifest.json --state-dir .upkeep-state run";

/// `upkeep` with a clean environment and no `--manifest`, in `dir`.
fn bare(host: &Host, dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("upkeep").unwrap();
    cmd.env_remove("UPKEEP_MANIFEST")
        .env_remove("UPKEEP_STATE_DIR")
        .env("UPKEEP_CONFIG", host.root.join("settings.toml"))
        .env("NO_COLOR", "1")
        .arg("--state-dir")
        .arg(&host.state)
        .current_dir(dir);
    cmd
}

/// A process run to its end in `dir`, asserting success; its stdout.
fn sh(dir: &Path, program: &str, args: &[&str], path: &str) -> String {
    #[expect(clippy::disallowed_methods, reason = "tests drive real tools directly")]
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("UPKEEP_MANIFEST")
        .env_remove("UPKEEP_STATE_DIR")
        .env("UPKEEP_CONFIG", dir.join("settings.toml"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `PATH` with the test build of `upkeep` first.
fn path_with_upkeep() -> String {
    let bin = assert_cmd::cargo::cargo_bin("upkeep");
    format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn the_quick_start_leaves_every_tracked_file_as_it_was() {
    let host = Host::new();
    let repo = host.root.join("repo");
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    copy_tree(
        &here.join("examples/seed-updates"),
        &repo.join("examples/seed-updates"),
    );
    fs_err::copy(here.join(".gitignore"), repo.join(".gitignore")).unwrap();
    let path = path_with_upkeep();
    let git = |args: &[&str]| {
        let mut all = vec!["-c", "user.name=t", "-c", "user.email=t@example.invalid"];
        all.extend_from_slice(args);
        sh(&repo, "git", &all, &path)
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "the example"]);

    let mut last = String::new();
    for step in QUICK_START {
        last = sh(&repo, "sh", &["-c", step], &path);
    }
    assert_eq!(git(&["status", "--porcelain", "--untracked-files=all"]), "");
    assert!(last.contains("up to date"), "{last}");
    // The copy got what the seeds write back, as a user's own manifest does.
    let copy = fs_err::read_to_string(repo.join(".upkeep-example/manifest.json")).unwrap();
    let copy: serde_json::Value = serde_json::from_str(&copy).unwrap();
    assert_eq!(copy["updates"][0]["lastSafeVersion"], "1.0.0");
}

#[test]
fn status_history_and_plan_use_the_last_runs_manifest_and_say_so() {
    let host = Host::seed_example();
    host.upkeep().arg("run").assert().success();
    let manifest = host.manifest().display().to_string();
    let elsewhere = host.root.join("elsewhere");
    fs_err::create_dir_all(&elsewhere).unwrap();

    for command in [&["status"][..], &["history"], &["plan"]] {
        let text = bare(&host, &elsewhere).args(command).assert().success();
        let (_, stdout, stderr) = output(&text);
        assert!(
            stderr.contains(&format!("manifest: {manifest} (from the last run)")),
            "{command:?}: {stderr}"
        );
        assert!(
            !stdout.contains("manifest:"),
            "{command:?}: data only on stdout"
        );
        let json = bare(&host, &elsewhere)
            .arg("--json")
            .args(command)
            .assert()
            .success();
        let value: serde_json::Value = serde_json::from_str(&output(&json).1).unwrap();
        let named = if value.is_array() {
            &value[0]["manifest"]
        } else {
            &value["manifest"]
        };
        assert_eq!(named["path"], manifest.as_str(), "{command:?}");
        assert_eq!(named["from"], "last-run", "{command:?}");
    }
    let figures = bare(&host, &elsewhere)
        .args(["--json", "status", "--metrics"])
        .assert()
        .success();
    let figures: serde_json::Value = serde_json::from_str(&output(&figures).1).unwrap();
    assert_eq!(figures["manifest"]["from"], "last-run");

    // A manifest in the current directory wins over the remembered one...
    let mut other = Host::new();
    other.manifest_toml("[[module]]\nname = \"here\"\ncommand = [\"true\"]\n");
    let plan = bare(&host, &other.updates)
        .args(["--json", "plan"])
        .assert()
        .success();
    let plan: serde_json::Value = serde_json::from_str(&output(&plan).1).unwrap();
    assert_eq!(plan["manifest"]["from"], "current-directory");
    assert_eq!(plan["steps"][0]["name"], "here");
    // ...and `--manifest` over both, without a word on stderr.
    let given = bare(&host, &other.updates)
        .arg("--manifest")
        .arg(host.manifest())
        .arg("plan")
        .assert()
        .success();
    assert!(!output(&given).2.contains("manifest:"));
    assert!(output(&given).1.contains("gogs"));
}

#[test]
fn a_remembered_manifest_that_is_gone_is_named() {
    let host = Host::seed_example();
    host.upkeep().arg("run").assert().success();
    fs_err::remove_file(host.manifest()).unwrap();
    let gone = bare(&host, &host.root).arg("status").assert().code(4);
    let stderr = output(&gone).2;
    assert!(
        stderr.contains(&format!(
            "failed to read {} (the last run's manifest): it no longer exists",
            host.manifest().display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("hint: pass `--manifest PATH`"), "{stderr}");
}

#[test]
fn a_ledger_without_runs_remembers_no_manifest() {
    let host = Host::seed_example();
    host.approve();
    let none = bare(&host, &host.root).arg("plan").assert().code(4);
    assert!(output(&none).2.contains("failed to find a manifest"));
    // `history` needs none: it says nothing about one.
    let history = bare(&host, &host.root)
        .args(["--json", "history"])
        .assert()
        .success();
    let history: serde_json::Value = serde_json::from_str(&output(&history).1).unwrap();
    assert_eq!(history["manifest"], serde_json::Value::Null);
}

/// What a real bash completes for `line` (the words so far, the last one being
/// completed), with the script `upkeep completions bash` prints.
fn bash_complete(host: &Host, line: &[&str]) -> Vec<String> {
    let script = host
        .upkeep()
        .args(["completions", "bash"])
        .assert()
        .success();
    let script_path = host.root.join("upkeep.bash");
    fs_err::write(&script_path, output(&script).1).unwrap();
    let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n\
         _upkeep_modules upkeep '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script_path.display(),
        words.join(" "),
        line.len() - 1,
        line.join(" "),
        line[line.len() - 1],
        line.get(line.len().wrapping_sub(2)).unwrap_or(&""),
    );
    let out = sh(&host.root, "bash", &["-c", &program], &path_with_upkeep());
    let mut names: Vec<String> = out.lines().map(str::to_owned).collect();
    names.sort();
    names
}

#[test]
fn bash_completes_module_names_from_the_manifest() {
    let mut host = Host::new();
    host.manifest_json(&serde_json::json!({
        "updates": [
            {"name": "alpha", "module": "", "children": []},
            {"name": "beta", "module": "", "children": []},
            {"name": "gamma", "module": "", "children": ["alpha"]},
        ]
    }));
    let manifest = host.manifest().display().to_string();
    let m = manifest.as_str();
    assert_eq!(
        bash_complete(&host, &["upkeep", "--manifest", m, "run", ""]),
        ["alpha", "beta", "gamma"]
    );
    assert_eq!(
        bash_complete(&host, &["upkeep", "-m", m, "status", "b"]),
        ["beta"]
    );
    assert_eq!(
        bash_complete(&host, &["upkeep", "-m", m, "history", "--module", "g"]),
        ["gamma"]
    );
    // A flag's value is not a module; flags still come from clap_complete's script.
    assert!(
        !bash_complete(&host, &["upkeep", "-m", m, "run", "--timeout", ""])
            .contains(&"alpha".to_owned())
    );
    assert!(
        bash_complete(&host, &["upkeep", "-m", m, "run", "--fo"]).contains(&"--force".to_owned())
    );
    // Without `--manifest`, the manifest of the last run (as `status` would use).
    host.upkeep().arg("run").assert().success();
    let state = host.state.display().to_string();
    assert_eq!(
        bash_complete(&host, &["upkeep", "--state-dir", &state, "plan", "a"]),
        ["alpha"]
    );
}

#[test]
fn zsh_and_fish_scripts_ask_for_module_names() {
    let host = Host::new();
    for shell in ["zsh", "fish"] {
        let script = host
            .upkeep()
            .args(["completions", shell])
            .assert()
            .success();
        assert!(output(&script).1.contains("__complete-modules"), "{shell}");
    }
    let hidden = host.upkeep().arg("--help").assert().success();
    assert!(!output(&hidden).1.contains("__complete-modules"));
}

#[test]
fn the_manual_pages_are_roff_and_one_per_command() {
    let host = Host::new();
    let page = host.upkeep().arg("man").assert().success();
    let page = output(&page).1;
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{}", &page[..80]);
    assert!(page.contains(".TH upkeep 1"));
    let dir = host.root.join("man");
    host.upkeep()
        .args(["man", "--dir"])
        .arg(&dir)
        .assert()
        .success();
    for page in ["upkeep.1", "upkeep-run.1", "upkeep-backup-restore.1"] {
        assert!(dir.join(page).is_file(), "{page}");
    }
    assert!(!host.state.exists());
}
