//! Module logs: a module that prints without end is capped (its first and last output kept,
//! what was dropped named), and streamed output (`-v`) goes on past bytes that are not
//! UTF-8.

use crate::fixture::{Host, output};

fn cap_at_one_mib(host: &Host) {
    fs_err::write(
        host.root.join("settings.toml"),
        "[logging]\nmax_module_log_mb = 1\n",
    )
    .unwrap();
}

/// A module writing 8 MiB leaves a log of about 1 MiB: the header and its first lines, a
/// marker, and its last line.
#[test]
fn a_chatty_modules_log_keeps_its_start_and_end_within_the_cap() {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"chatty\"\n\
         command = [\"sh\", \"-c\", \"echo FIRST; yes 'a chatty line of output' | head -c 8000000; echo; echo LAST\"]\n",
    );
    cap_at_one_mib(&host);
    let run = host.upkeep().arg("run").assert();
    let (code, stdout, stderr) = output(&run);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let log = fs_err::read(host.state.join("logs/run-1/chatty.log")).unwrap();
    let text = String::from_utf8_lossy(&log);
    assert!(log.len() <= 1024 * 1024 + 512, "{} bytes", log.len());
    assert!(text.starts_with("$ sh -c"), "{}", &text[..200]);
    assert!(text.contains("\nFIRST\n"), "{}", &text[..200]);
    assert!(text.contains("bytes of output dropped here"), "no marker");
    assert!(text.ends_with("\nLAST\n"), "{}", &text[text.len() - 200..]);
}

/// The cap holds while the module runs, not only once it has ended: this module goes on
/// only when its log, after 6 MiB of output, has been cut back below 2 MiB.
#[test]
fn the_cap_holds_while_the_module_still_runs() {
    let mut host = Host::new();
    let log = host.state.join("logs/run-1/waits.log");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"waits\"\ntimeout = \"20s\"\n\
         command = [\"sh\", \"-c\", \"yes 'a line of output' | head -c 6000000; \
         while [ $(stat -c %s '{}') -gt 2000000 ]; do sleep 0.05; done; echo STILL-RUNNING\"]\n",
        log.display()
    ));
    cap_at_one_mib(&host);
    let run = host.upkeep().arg("run").assert();
    let (code, stdout, stderr) = output(&run);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let text = fs_err::read_to_string(&log).unwrap();
    assert!(
        text.ends_with("STILL-RUNNING\n"),
        "{}",
        &text[text.len() - 200..]
    );
    assert!(text.len() <= 1024 * 1024 + 512, "{} bytes", text.len());
}

/// A line that is not UTF-8 no longer stops the reader of a streamed module (which then
/// blocked on a full pipe until its timeout): the lines after it are shown and logged, and
/// the log keeps the original bytes.
#[test]
fn streamed_output_goes_on_past_bytes_that_are_not_utf8() {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"latin1\"\ntimeout = \"20s\"\n\
         command = [\"sh\", \"-c\", \"printf 'caf\\\\351\\\\n'; yes 'more output' | head -c 300000; echo; echo AFTER\"]\n",
    );
    let run = host.upkeep().args(["run", "-v"]).assert();
    let (code, stdout, stderr) = output(&run);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("AFTER") || stderr.contains("AFTER"),
        "{stderr}"
    );
    assert!(
        stdout.contains("caf\u{fffd}") || stderr.contains("caf\u{fffd}"),
        "{stderr}"
    );
    let log = fs_err::read(host.state.join("logs/run-1/latin1.log")).unwrap();
    assert!(log.windows(4).any(|w| w == b"caf\xe9"), "the raw bytes");
    assert!(log.ends_with(b"AFTER\n"));
}
