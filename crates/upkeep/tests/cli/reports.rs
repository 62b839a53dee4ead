//! Bad input to the reports and settings, from the user's side: `history` filters that
//! name nothing, durations without a unit, settings out of their type or range. Each is
//! refused with what was meant, in text and in `--json`, and changes nothing.

use crate::fixture::{Host, output};

/// The JSON error object a refused command prints on stdout with `--json`.
fn json_error(host: &Host, args: &[&str]) -> (i32, serde_json::Value) {
    let (code, stdout, stderr) = output(&host.upkeep().arg("--json").args(args).assert());
    let value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(!stderr.is_empty(), "the message is on stderr too");
    (code, value)
}

/// (module, outcome) pairs of every run `history --json ARGS` returns.
fn history(host: &Host, args: &[&str]) -> Vec<(String, String)> {
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args(["--json", "history"])
            .args(args)
            .assert(),
    );
    assert_eq!(code, 0, "{stderr}");
    let history: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut pairs: Vec<(String, String)> = history["runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|run| run["modules"].as_array().unwrap().clone())
        .map(|m| {
            (
                m["module"].as_str().unwrap().to_owned(),
                m["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(m, o)| ((*m).to_owned(), (*o).to_owned()))
        .collect()
}

/// A host whose modules `ok`, `bad` (which fails) and `gone` ran once; then `gone` left
/// the manifest and `fresh`, which never ran, joined it.
fn ran_then_changed() -> Host {
    let mut host = Host::new();
    let module = |name: &str, command: &str| {
        format!("[[module]]\nname = \"{name}\"\ncommand = [\"{command}\"]\n\n")
    };
    host.manifest_toml(&format!(
        "{}{}{}",
        module("ok", "true"),
        module("bad", "false"),
        module("gone", "true")
    ));
    host.upkeep().arg("run").assert().code(3);
    // `gone` leaves the manifest and `fresh` joins it without having run.
    host.manifest_toml(&format!(
        "{}{}{}",
        module("ok", "true"),
        module("bad", "false"),
        module("fresh", "true")
    ));
    host
}

#[test]
fn history_filters_take_lists() {
    let host = ran_then_changed();

    let all = pairs(&[
        ("bad", "failed"),
        ("gone", "succeeded"),
        ("ok", "succeeded"),
    ]);
    assert_eq!(history(&host, &["--outcome", "failed,succeeded"]), all);
    assert_eq!(
        history(&host, &["--outcome", "failed", "--outcome", "succeeded"]),
        all
    );
    assert_eq!(
        history(&host, &["--outcome", "failed"]),
        pairs(&[("bad", "failed")])
    );
    let both = pairs(&[("bad", "failed"), ("ok", "succeeded")]);
    assert_eq!(history(&host, &["--module", "ok,bad"]), both);
    assert_eq!(history(&host, &["--module", "ok", "--module", "bad"]), both);
    assert_eq!(
        history(&host, &["--module", "gone"]),
        pairs(&[("gone", "succeeded")]),
        "a module removed from the manifest keeps its history"
    );
    assert_eq!(history(&host, &["--module", "fresh"]), pairs(&[]));
}

#[test]
fn history_filters_refuse_names_that_match_nothing() {
    let host = ran_then_changed();

    // A misspelt module was a filter that matched nothing; now it is a usage error.
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["history", "--module", "ok,bda"])
            .assert(),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`--module bda`") && stderr.contains("did you mean `bad`?"),
        "{stderr}"
    );
    let (code, error) = json_error(&host, &["history", "--module", "gnoe"]);
    assert_eq!(code, 2);
    assert_eq!(error["error"], "usage");
    assert_eq!(error["exit_code"], 2);
    assert_eq!(error["hint"], "did you mean `gone`?");

    // An outcome is checked in a list as alone.
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["history", "--outcome", "succeeded,rolledback"])
            .assert(),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("did you mean `rolled-back`?"), "{stderr}");
    let (code, error) = json_error(&host, &["history", "--outcome", "faild"]);
    assert_eq!((code, error["error"].as_str()), (2, Some("usage")));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `failed`?"),
        "{error}"
    );
}

#[test]
fn history_without_a_manifest_checks_modules_against_the_history() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"web\"\ncommand = [\"true\"]\n");
    host.upkeep().arg("run").assert().success();
    fs_err::remove_file(host.manifest()).unwrap();
    assert_eq!(
        history(&host, &["--module", "web"]),
        pairs(&[("web", "succeeded")])
    );
    let (code, _, stderr) = output(&host.upkeep().args(["history", "--module", "wbe"]).assert());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("did you mean `web`?"), "{stderr}");
}

#[test]
fn durations_need_a_unit_everywhere() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"app\"\ncommand = [\"true\"]\n");
    let cases: &[(&[&str], &str)] = &[
        (&["history", "--since", "7"], "`7d`"),
        (&["backup", "list", "--since", "30"], "`30d`"),
        (&["run", "--timeout", "30"], "`30m`"),
        (&["run", "--grace", "5"], "`5s`"),
        (&["run", "--wait", "--wait-timeout", "10"], "`10m`"),
        (&["daemon", "--once", "--jitter", "2"], "`2m`"),
    ];
    for (args, meant) in cases {
        let (code, stdout, stderr) = output(&host.upkeep().args(*args).assert());
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("did you mean {meant}?")),
            "{args:?}: {stderr}"
        );
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        let (code, error) = json_error(&host, args);
        assert_eq!(
            (code, error["error"].as_str()),
            (2, Some("usage")),
            "{args:?}"
        );
        assert!(
            error["message"].as_str().unwrap().contains(meant),
            "{args:?}: {error}"
        );
    }
    assert!(!host.state.exists(), "nothing ran");
    host.upkeep()
        .args(["history", "--since", "7d"])
        .assert()
        .success();

    // The manifest reads durations with the same parser, so the same rule holds there.
    host.manifest_toml(
        "[upkeep]\ntimeout = \"300\"\n\n[[module]]\nname = \"app\"\ncommand = [\"true\"]\n",
    );
    let (code, _, stderr) = output(&host.upkeep().arg("plan").assert());
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("did you mean `300s`?"), "{stderr}");
}
