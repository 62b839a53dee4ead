//! What upkeep says and where: long details cut instead of a panic, `status` views, quiet
//! mode and colour.

use crate::fixture::{Host, output};

/// The widest line of `text`, in characters.
fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// A refusal listing 2,500 new files is a detail of about 85,000 characters; the summary
/// once panicked on it (exit 101), since a table cell wider than 65,535 is past what a
/// format width takes.
#[test]
fn a_refusal_listing_thousands_of_new_files_is_cut_in_the_summary_and_whole_in_the_ledger() {
    let mut host = Host::new();
    host.python_module("app", "def main(args):\n    pass\n");
    host.manifest_toml("[[module]]\nname = \"app\"\npython = \"app.index\"\n");
    host.approve();
    for i in 0..2_500 {
        host.write(&format!("app/new-file-number-{i:04}-of-many.txt"), "x\n");
    }

    let run = host.upkeep().arg("run").assert();
    let (code, stdout, stderr) = output(&run);
    assert_eq!(code, upkeep_core::exit_codes::INTEGRITY_REFUSED, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("app "))
        .expect("a row for app");
    assert!(row.contains("integrity-refused"), "{row}");
    // Cut in the middle: what happened first, what to do last.
    assert!(
        row.contains("files of `app` do not match their checksum (added: new-file-number-0000"),
        "{row}"
    );
    assert!(
        row.ends_with("approve it with `upkeep checksum --write app`"),
        "{row}"
    );
    assert!(row.contains('…'), "{row}");
    assert!(widest(&stdout) < 600, "{stdout}");
    assert!(
        stdout.contains("details marked … were cut to fit; `upkeep history --json` has them whole"),
        "{stdout}"
    );
    assert!(
        widest(&stderr) < 600,
        "the progress line is cut too: {stderr}"
    );

    // The ledger, and so `history --json`, keeps every file.
    let history = host.upkeep().args(["history", "--json"]).assert().success();
    let history: serde_json::Value = serde_json::from_str(&output(&history).1).unwrap();
    let detail = history["runs"][0]["modules"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("new-file-number-2499-of-many.txt"));
    assert!(detail.chars().count() > 65_535, "{}", detail.len());
    // And the history table cuts it as the summary does.
    let table = host.upkeep().arg("history").assert().success();
    assert!(widest(&output(&table).1) < 600);
    // `checksum --check` lists the same files in a table.
    let check = host.upkeep().args(["checksum", "--check"]).assert().code(6);
    let (_, stdout, _) = output(&check);
    assert!(widest(&stdout) < 600, "{stdout}");
    assert!(
        stdout.contains("lists marked … were cut to fit"),
        "{stdout}"
    );
}

/// A 200 KB argument is more than the kernel passes to a program (`E2BIG`): the module
/// fails to start and the run says so, with the command line cut, rather than panicking.
#[test]
fn a_200_kb_argument_fails_its_module_without_a_panic() {
    let mut host = Host::new();
    let big = "a".repeat(200 * 1024);
    host.manifest_toml(&format!(
        "[[module]]\nname = \"big\"\ncommand = [\"echo\", \"{big}\"]\n"
    ));
    let run = host.upkeep().arg("run").assert();
    let (code, stdout, stderr) = output(&run);
    assert_eq!(code, upkeep_core::exit_codes::MODULES_FAILED, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let row = stdout.lines().find(|l| l.starts_with("big ")).unwrap();
    assert!(
        row.contains("failed") && row.contains("start `echo aaaa"),
        "{row}"
    );
    assert!(
        row.ends_with("Argument list too long (os error 7)"),
        "{row}"
    );
    assert!(widest(&stdout) < 600 && widest(&stderr) < 600);
    // With --json the whole text is there.
    let json = host.upkeep().args(["run", "--json"]).assert().code(3);
    let summary: serde_json::Value = serde_json::from_str(&output(&json).1).unwrap();
    let status = summary["modules"][0]["status"].as_str().unwrap();
    assert!(status.contains(&big), "the whole argument");
}

fn long_names_host() -> Host {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\n\
         name = \"nextcloud-office-integration-with-collabora-online\"\n\
         version = \"2024.11.3-rc.1+build.5678-with-a-long-tail\"\n\
         description = \"Keeps the Collabora Online integration of Nextcloud current, with its fonts and dictionaries.\"\n\
         command = [\"true\"]\n\n\
         [[module]]\n\
         name = \"dns\"\n\
         version = \"1\"\n\
         description = \"Local resolver.\"\n\
         command = [\"true\"]\n",
    );
    host
}

#[test]
fn status_fits_80_columns_and_shows_one_module_whole() {
    let host = long_names_host();
    host.upkeep().arg("run").assert().success();
    let status = host.upkeep().arg("status").assert().success();
    let (_, stdout, _) = output(&status);
    let table = stdout.split("\n\n").nth(1).unwrap();
    assert!(widest(table) <= 80, "{table}");
    assert!(table.starts_with("MODULE"), "{table}");
    assert!(stdout.contains("`upkeep status MODULE` shows one module whole"));

    // A wider terminal (or COLUMNS) gets more of each cell.
    let wide = host
        .upkeep()
        .env("COLUMNS", "250")
        .arg("status")
        .assert()
        .success();
    assert!(output(&wide).1.contains("with its fonts and dictionaries."));

    let one = host
        .upkeep()
        .args([
            "status",
            "nextcloud-office-integration-with-collabora-online",
        ])
        .assert()
        .success();
    let (_, one, _) = output(&one);
    assert!(
        one.contains("applied       2024.11.3-rc.1+build.5678-with-a-long-tail ("),
        "{one}"
    );
    assert!(one.contains("with its fonts and dictionaries.\n"), "{one}");
    assert!(one.contains("last outcome  succeeded\n"), "{one}");

    let every = host.upkeep().args(["status", "--wide"]).assert().success();
    let every = output(&every).1;
    for header in [
        "KIND",
        "DECLARED",
        "LAST SAFE",
        "LAST APPLIED",
        "BACKUP",
        "HEALTH",
    ] {
        assert!(every.contains(header), "{header} missing: {every}");
    }

    let json = host
        .upkeep()
        .args(["status", "dns", "--json"])
        .assert()
        .success();
    let row: serde_json::Value = serde_json::from_str(&output(&json).1).unwrap();
    assert_eq!(row["module"], "dns");
    assert_eq!(row["applied_version"], "1");
}

#[test]
fn status_of_an_unknown_module_names_it_and_the_closest() {
    let host = long_names_host();
    let unknown = host.upkeep().args(["status", "dsn"]).assert();
    let (code, stdout, stderr) = output(&unknown);
    assert_eq!(code, upkeep_core::exit_codes::INVALID_INPUT);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("module `dsn`: no module has that name"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: did you mean `dns`?"), "{stderr}");
    let far = host.upkeep().args(["status", "zzzzzz"]).assert().code(4);
    assert!(!output(&far).2.contains("did you mean"));
}

#[test]
fn quiet_keeps_data_and_errors_and_drops_status_lines() {
    let host = long_names_host();
    let loud = host.upkeep().arg("run").assert().success();
    assert!(output(&loud).2.contains("modules to run"));
    let quiet = host
        .upkeep()
        .args(["run", "--force", "-q"])
        .assert()
        .success();
    let (_, stdout, stderr) = output(&quiet);
    assert_eq!(stderr, "", "nothing about the work");
    assert!(stdout.contains("run 2 succeeded"), "{stdout}");
    let failing = host
        .upkeep()
        .args(["--quiet", "status", "dsn"])
        .assert()
        .code(4);
    assert!(output(&failing).2.starts_with("error: "));
}

#[test]
fn colour_is_off_in_a_pipe_and_on_when_asked() {
    let host = long_names_host();
    let plain = host.upkeep().args(["status", "dsn"]).assert().code(4);
    assert!(!output(&plain).2.contains('\x1b'));
    let forced = host
        .upkeep()
        .args(["--color", "always", "status", "dsn"])
        .assert()
        .code(4);
    let (_, stdout, stderr) = output(&forced);
    assert!(
        stderr.starts_with("\x1b[1;31merror:\x1b[0m failed to "),
        "{stderr:?}"
    );
    assert!(
        stderr.contains("\x1b[1;36mhint:\x1b[0m did you mean"),
        "{stderr:?}"
    );
    assert!(!stdout.contains('\x1b'));
    // CLICOLOR_FORCE asks for colour without a terminal; NO_COLOR (which the fixture sets)
    // outranks it, as anstream has it.
    let env_forced = host
        .upkeep()
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .args(["status", "dsn"])
        .assert()
        .code(4);
    assert!(output(&env_forced).2.contains('\x1b'));
    let no_color = host
        .upkeep()
        .env("CLICOLOR_FORCE", "1")
        .args(["status", "dsn"])
        .assert()
        .code(4);
    assert!(!output(&no_color).2.contains('\x1b'));
}

/// `upkeep status | head` where the reader is gone before upkeep writes: a quiet exit,
/// as before the printer.
#[test]
fn a_closed_stdout_is_a_quiet_exit() {
    let host = long_names_host();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["completions", "bash"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = host
            .upkeep_process()
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}
