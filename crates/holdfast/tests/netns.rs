//! Separate hosts on this machine (`scripts/netns-cluster.sh`): a network
//! namespace per host and for the client, on a bridge with no uplink, in
//! 198.18.0.0/24. The cluster is deployed with the README's "Real hosts"
//! steps (`init --node/--service`, a copy of the directory per host,
//! `holdfast node`), the service address moves with the shipped hook, and
//! hosts die without a word (link down, then SIGKILL).
//!
//! Needs root (CI runs as root); each test has a rig of its own (its own
//! namespace prefix), removed when the test ends, failed or not.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::smbpy::{venv_python, workspace_root, PASSWORD, USER};
use common::BIN;
use holdfast_wire::control::StatusView;

const SERVICE: &str = "198.18.0.50:445";

struct Rig {
    prefix: String,
    dir: PathBuf,
}

impl Rig {
    /// A 3-host rig with its cluster up and the share's service answering.
    fn up(prefix: &str) -> Rig {
        // SAFETY: geteuid(2) reads no memory of ours.
        assert_eq!(unsafe { libc::geteuid() }, 0, "the rig needs root (network namespaces); CI runs as root");
        let dir = std::env::temp_dir().join(format!("hf-rig-{prefix}-{}", std::process::id()));
        let rig = Rig { prefix: prefix.to_string(), dir };
        // A rig left by a killed earlier run of this test goes first.
        let _ = rig.script(&["down"]);
        let out = rig.script(&["up", "3"]);
        assert!(out.status.success(), "rig up failed:\n{}", text(&out));
        rig.ok(&["wait-service", "60"]);
        rig
    }

    fn script(&self, args: &[&str]) -> Output {
        Command::new("bash")
            .arg(workspace_root().join("scripts/netns-cluster.sh"))
            .args(args)
            .env("HOLDFAST_BIN", BIN)
            .env("RIG_DIR", &self.dir)
            .env("RIG_PREFIX", &self.prefix)
            .env("RIG_SMB_USER", USER)
            .env("RIG_SMB_PASSWORD", PASSWORD)
            .output()
            .expect("run netns-cluster.sh")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.script(args);
        assert!(out.status.success(), "netns-cluster.sh {args:?} failed:\n{}\n{}", text(&out), self.logs());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn status(&self) -> StatusView {
        let out = self.ok(&["cli", "status", "--json"]);
        serde_json::from_str(&out).expect("status JSON")
    }

    /// The hosts whose interface holds the service address.
    fn holders(&self) -> Vec<u64> {
        self.ok(&["addr-holder"]).lines().map(|l| l.trim().parse().expect("host number")).collect()
    }

    /// The host the directory places the service on, once the client
    /// reaches it there.
    fn serving(&self) -> u64 {
        self.ok(&["wait-service", "60"]);
        self.status().services.iter().find(|s| s.name == "share").expect("service share").node
    }

    /// `tests/smb/SCRIPT ARGS` from the client's namespace, against the
    /// service address.
    fn python(&self, script: &str, args: &[&str]) -> Command {
        let (host, port) = SERVICE.split_once(':').unwrap();
        let mut c = Command::new("bash");
        c.arg(workspace_root().join("scripts/netns-cluster.sh"))
            .args(["client", "env", &format!("SMB_HOST={host}"), &format!("SMB_PORT={port}")])
            .arg(format!("SMB_USER={USER}"))
            .arg(format!("SMB_PASSWORD={PASSWORD}"))
            .arg("SMB_SHARE=share")
            .arg(venv_python())
            .arg(workspace_root().join("tests/smb").join(script))
            .args(args)
            .env("RIG_DIR", &self.dir)
            .env("RIG_PREFIX", &self.prefix)
            .env("HOLDFAST_BIN", BIN);
        c
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for n in 1..=3 {
            let p = self.dir.join(format!("host-{n}/node-{n}/node.log"));
            let t = std::fs::read_to_string(&p).unwrap_or_default();
            s.push_str(&format!("--- host {n} node log (last lines) ---\n"));
            for l in t.lines().rev().take(25).collect::<Vec<_>>().into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        let _ = self.script(&["down"]);
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn rig_hook_moves_the_service_address_and_the_old_host_lets_it_go() {
    let rig = Rig::up("hfa");
    let from = rig.serving();
    assert_eq!(rig.holders(), vec![from], "only the serving host holds the address");
    let to = if from == 1 { 2 } else { 1 };
    let moved = rig.ok(&["cli", "service", "move", "share", "--to", &to.to_string()]);
    assert!(moved.contains(&format!("now on node {to}")), "{moved}");
    // The old host runs `remove` after its smbd is reaped.
    let deadline = Instant::now() + Duration::from_secs(20);
    while rig.holders() != vec![to] {
        assert!(Instant::now() < deadline, "the address is on hosts {:?}, not only on {to}\n{}", rig.holders(), rig.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(rig.dir.join(format!("host-{from}/node-{from}/node.log"))).unwrap();
    assert!(log.contains("198.18.0.50 removed from eth0"), "the hook's remove ran on the old host");
    // And the share is served from the new host through the moved address.
    let out = rig.python("test_persistent.py", &[]).output().expect("run test_persistent.py");
    assert!(out.status.success(), "the full persistent-handle suite through the moved address:\n{}", text(&out));
}

#[test]
fn rig_silent_death_the_client_reclaims_on_a_survivor() {
    let rig = Rig::up("hfb");
    let victim = rig.serving();
    let state = rig.dir.join("handle.json");
    std::fs::create_dir_all(&rig.dir).unwrap();
    let mut opener = rig
        .python("restart.py", &["open", state.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run restart.py open");
    let mut out = std::io::BufReader::new(opener.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        use std::io::BufRead;
        assert!(out.read_line(&mut line).unwrap() > 0, "restart.py open ended before READY:\n{seen}");
        seen.push_str(&line);
        if line.trim() == "READY" {
            break;
        }
    }

    // The serving host dies without a word: link down, then SIGKILL.
    rig.ok(&["kill", &victim.to_string()]);
    let o = rig.python("restart.py", &["conflict", state.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "while disconnected:\n{}\n{}", text(&o), rig.logs());
    let o = rig.python("restart.py", &["reclaim", state.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "reclaim on the survivor:\n{}\n{}", text(&o), rig.logs());
    {
        use std::io::Write;
        let _ = opener.stdin.take().unwrap().write_all(b"go\n");
    }
    let _ = opener.wait();
    let survivor = rig.serving();
    assert_ne!(survivor, victim);
    // The dead host boots again without its hook address, and rejoins.
    rig.ok(&["start", &victim.to_string()]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = rig.status();
        if s.nodes.iter().all(|n| n.state == "up" && n.registered) {
            break;
        }
        assert!(Instant::now() < deadline, "host {victim} did not rejoin\n{}", rig.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(rig.holders(), vec![survivor], "only the survivor holds the address after the dead host returns");
}
