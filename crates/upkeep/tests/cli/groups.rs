//! Groups and dependencies: depending on a group means running after all of its children
//! ended well; depending on a group one belongs to is refused.

use crate::fixture::{Host, output};

/// A group `services` with children `a` and `b`, and `report`, which depends on the group
/// and checks that both children finished before it started.
fn services(host: &mut Host, b_command: &str) {
    let root = host.root.display().to_string();
    host.manifest_json(&serde_json::json!({
        "updates": [
            {"name": "services", "children": ["a", "b"]},
            {"name": "a", "command": ["sh", "-c", format!("sleep 0.3; touch {root}/a.done")]},
            {"name": "b", "command": ["sh", "-c", b_command]},
            {"name": "report", "dependsOn": ["services"],
             "command": ["sh", "-c", format!("test -e {root}/a.done && test -e {root}/b.done")]}
        ]
    }));
}

#[test]
fn a_module_that_depends_on_a_group_runs_after_all_of_its_children() {
    let mut host = Host::new();
    let root = host.root.display().to_string();
    services(&mut host, &format!("sleep 0.3; touch {root}/b.done"));
    let (_, stdout, _) = output(&host.upkeep().args(["--json", "plan"]).assert());
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let wave = |name: &str| {
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["wave"]
            .as_u64()
            .unwrap()
    };
    assert!(wave("report") > wave("a").max(wave("b")), "{plan:#}");
    let (code, stdout, stderr) = output(&host.upkeep().args(["run", "-j", "4"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn a_failed_child_blocks_what_depends_on_its_group() {
    let mut host = Host::new();
    services(&mut host, "exit 1");
    let (code, stdout, _) = output(&host.upkeep().args(["--json", "run", "-j", "4"]).assert());
    assert_eq!(code, 3, "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let report = summary["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == "report")
        .unwrap();
    assert_eq!(report["outcome"], "blocked", "{report:#}");
    assert_eq!(report["by"], "b", "{report:#}");
}

#[test]
fn depending_on_ones_own_group_is_refused() {
    let mut host = Host::new();
    host.manifest_json(&serde_json::json!({
        "updates": [
            {"name": "services", "children": ["a"]},
            {"name": "a", "command": ["true"], "dependsOn": ["services"]}
        ]
    }));
    let (code, _, stderr) = output(&host.upkeep().arg("plan").assert());
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("depends on `services`, a group it belongs to"),
        "{stderr}"
    );
}

#[test]
fn a_child_depending_on_what_depends_on_its_group_is_a_cycle() {
    let mut host = Host::new();
    host.manifest_json(&serde_json::json!({
        "updates": [
            {"name": "services", "children": ["a"]},
            {"name": "a", "command": ["true"], "dependsOn": ["report"]},
            {"name": "report", "command": ["true"], "dependsOn": ["services"]}
        ]
    }));
    let (code, _, stderr) = output(&host.upkeep().arg("plan").assert());
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("cycle"), "{stderr}");
}
