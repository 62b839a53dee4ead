//! Health after a restore: a service that reads its configuration only at start and on
//! SIGHUP, as nginx does. An update writes a configuration that loads but serves nothing and
//! tells the service to reload; the rollback restores the old file, and only a declared
//! `health.reload` makes the service take it back before the check runs again.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::fixture::{Host, output};

/// An HTTP server answering with its configuration, read at start and on SIGHUP: 200 while
/// it says `status=healthy`, 503 otherwise.
const SERVER: &str = r#"
import http.server, signal, sys
conf = sys.argv[1]
state = {"text": open(conf).read()}
def reread(*_):
    state["text"] = open(conf).read()
signal.signal(signal.SIGHUP, reread)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        healthy = "status=healthy" in state["text"]
        self.send_response(200 if healthy else 503)
        self.end_headers()
        self.wfile.write(state["text"].encode())
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

struct Service(crate::safety::Service);

impl Service {
    fn start(conf: &Path) -> Self {
        Self(crate::safety::Service::start_with(SERVER, conf))
    }

    fn pid(&self) -> u32 {
        self.0.child.id()
    }

    /// The status code and the configuration it serves.
    fn get(&self) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.0.port)).unwrap();
        stream
            .write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let code = reply.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = reply.split_once("\r\n\r\n").unwrap().1.to_owned();
        (code, body)
    }
}

fn conf(host: &Host) -> PathBuf {
    host.root.join("srv/site.conf")
}

/// Release `version` of `site`: write its configuration and tell the service to reload.
fn release(host: &mut Host, service: &Service, version: &str, status: &str, reload: bool) {
    host.python_module(
        "site",
        &format!(
            "import os, signal\n\
             def main(args):\n    \
                 with open({conf:?}, 'w') as f:\n        \
                     f.write('status={status}\\nversion={version}\\n')\n    \
                 os.kill({pid}, signal.SIGHUP)\n",
            conf = conf(host).display().to_string(),
            pid = service.pid(),
        ),
    );
    let check = format!(
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{}/', timeout=2)",
        service.0.port
    );
    let mut health = serde_json::json!({
        "command": ["python3", "-c", check], "retries": 3, "interval": "100ms"
    });
    if reload {
        health["reload"] = serde_json::json!(["kill", "-HUP", service.pid().to_string()]);
    }
    host.manifest_json(&serde_json::json!({
        "updates": [{
            "name": "site",
            "version": version,
            "paths": {"config": [conf(host).display().to_string()]},
            "health": health
        }]
    }));
    host.approve();
}

fn outcome(host: &Host, run: i64) -> String {
    host.ledger()
        .query_row(
            "SELECT outcome FROM module_runs WHERE run_id = ?1 AND module = 'site'",
            [run],
            |r| r.get(0),
        )
        .unwrap()
}

fn started(host: &Host) -> Service {
    fs_err::create_dir_all(conf(host).parent().unwrap()).unwrap();
    fs_err::write(conf(host), "status=healthy\nversion=0\n").unwrap();
    Service::start(&conf(host))
}

#[test]
fn a_declared_reload_makes_the_restored_config_take_effect_before_the_recheck() {
    let mut host = Host::new();
    let service = started(&host);
    release(&mut host, &service, "1.0.0", "healthy", true);
    host.upkeep().arg("run").assert().success();
    assert_eq!(
        service.get(),
        (200, "status=healthy\nversion=1.0.0\n".into())
    );

    release(&mut host, &service, "2.0.0", "serves-nothing", true);
    let (code, stdout, stderr) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert_eq!(outcome(&host, 2), "rolled-back", "{stdout}");
    assert_eq!(
        service.get(),
        (200, "status=healthy\nversion=1.0.0\n".into())
    );
    let log = fs_err::read_to_string(host.state.join("logs/run-2/site.log")).unwrap();
    assert!(log.contains("$ reload after the restore"), "{log}");
}

/// The same story without `reload`: the restored file is right, but the service still
/// serves the broken one, the re-check fails and the module is held, as it must be.
#[test]
fn without_a_reload_the_service_keeps_the_broken_config_and_the_module_is_held() {
    let mut host = Host::new();
    let service = started(&host);
    release(&mut host, &service, "1.0.0", "healthy", false);
    host.upkeep().arg("run").assert().success();
    release(&mut host, &service, "2.0.0", "serves-nothing", false);
    let (code, stdout, _) = output(&host.upkeep().arg("run").assert());
    assert_ne!(code, 0);
    assert_eq!(outcome(&host, 2), "needs-intervention", "{stdout}");
    assert_eq!(service.get().0, 503);
    assert_eq!(
        fs_err::read_to_string(conf(&host)).unwrap(),
        "status=healthy\nversion=1.0.0\n",
        "the file itself is restored"
    );
}

/// A manual rollback to a backup reloads too: the service serves the restored version.
#[test]
fn a_manual_rollback_reloads_before_its_check() {
    let mut host = Host::new();
    let service = started(&host);
    release(&mut host, &service, "1.0.0", "healthy", true);
    host.upkeep().arg("run").assert().success();
    release(&mut host, &service, "2.0.0", "healthy", true);
    host.upkeep().arg("run").assert().success();
    assert_eq!(service.get().1, "status=healthy\nversion=2.0.0\n");
    let backup: i64 = host
        .ledger()
        .query_row(
            "SELECT id FROM backups WHERE run_id = 2 AND module = 'site'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let rollback = host
        .upkeep()
        .args(["rollback", "site", "--backup", &backup.to_string(), "--yes"])
        .assert();
    let (code, stdout, stderr) = output(&rollback);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        service.get(),
        (200, "status=healthy\nversion=1.0.0\n".into())
    );
}
