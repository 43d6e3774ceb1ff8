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

    /// The host the directory places the service on, as its confirmed
    /// leader says (a host cut off from the rest answers with an old view),
    /// once the client reaches the service.
    fn serving(&self) -> u64 {
        self.ok(&["wait-service", "60"]);
        self.leader_status().services.iter().find(|s| s.name == "share").expect("service share").node
    }

    /// A status answered by the directory's leader itself.
    fn leader_status(&self) -> StatusView {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.status();
            if s.leader == Some(s.node) {
                return s;
            }
            assert!(Instant::now() < deadline, "no status from a confirmed leader in 60 s\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
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

    /// `restart.py open`: a persistent handle with a write and a lock,
    /// held until [`Opener::finish`].
    fn open_handle(&self, state: &std::path::Path) -> Opener {
        self.hold("open", state)
    }

    /// `restart.py PHASE STATE` once it printed READY; it goes on at the
    /// line [`Opener::finish`] sends.
    fn hold(&self, phase: &str, state: &std::path::Path) -> Opener {
        use std::io::BufRead;
        std::fs::create_dir_all(&self.dir).unwrap();
        let mut child = self
            .python("restart.py", &[phase, state.to_str().unwrap()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run restart.py");
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            assert!(out.read_line(&mut line).unwrap() > 0, "restart.py {phase} ended before READY:\n{seen}");
            seen.push_str(&line);
            if line.trim() == "READY" {
                return Opener { child, out, seen };
            }
        }
    }

    /// `restart.py PHASE STATE` must pass.
    fn phase(&self, state: &std::path::Path, phase: &str, what: &str) {
        let o = self.python("restart.py", &[phase, state.to_str().unwrap()]).output().unwrap();
        assert!(o.status.success() && text(&o).contains("PASS"), "{what}:\n{}\n{}", text(&o), self.logs());
    }

    fn node_log(&self, n: u64) -> String {
        std::fs::read_to_string(self.dir.join(format!("host-{n}/node-{n}/node.log"))).unwrap_or_default()
    }

    /// Processes running in host `n` (the node, and any smbd).
    fn processes(&self, n: u64) -> Vec<String> {
        let pids = Command::new("ip").args(["netns", "pids", &format!("{}-h{n}", self.prefix)]).output().expect("ip netns pids");
        String::from_utf8_lossy(&pids.stdout)
            .lines()
            .filter_map(|p| std::fs::read(format!("/proc/{}/cmdline", p.trim())).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .collect()
    }

    /// Whether host `n` runs an smbd.
    fn runs_smbd(&self, n: u64) -> bool {
        self.processes(n).iter().any(|p| p.contains(" smbd "))
    }

    /// Waits until every node is up and registered.
    fn wait_all_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(s) = serde_json::from_str::<StatusView>(&String::from_utf8_lossy(&self.script(&["cli", "status", "--json"]).stdout)) {
                if s.leader.is_some() && s.nodes.iter().all(|n| n.state == "up" && n.registered) {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "not every host is up and registered\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for n in 1..=3 {
            let p = self.dir.join(format!("host-{n}/node-{n}/node.log"));
            let t = std::fs::read_to_string(&p).unwrap_or_default();
            s.push_str(&format!("--- host {n} node log (last lines) ---\n"));
            // Raft's retry warnings while a host is away would crowd out
            // everything else.
            for l in t.lines().filter(|l| !l.contains("openraft")).rev().take(25).collect::<Vec<_>>().into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

/// A client holding a persistent handle (`restart.py open` or `silent`).
struct Opener {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
    seen: String,
}

impl Opener {
    /// Sends it the line it waits for; returns whether it then passed, and
    /// everything it printed.
    fn finish(mut self) -> (bool, String) {
        use std::io::Write;
        let _ = self.child.stdin.take().unwrap().write_all(b"go\n");
        let _ = std::io::Read::read_to_string(&mut self.out, &mut self.seen);
        let ok = self.child.wait().is_ok_and(|s| s.success());
        (ok, std::mem::take(&mut self.seen))
    }
}

impl Drop for Opener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    let opener = rig.open_handle(&state);

    // The serving host dies without a word: link down, then SIGKILL.
    rig.ok(&["kill", &victim.to_string()]);
    rig.phase(&state, "conflict", "while disconnected");
    rig.phase(&state, "reclaim", "reclaim on the survivor");
    opener.finish();
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

/// Polls `ok` every 100 ms for up to 30 s.
fn eventually(what: &str, rig: &Rig, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s\n{}", rig.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rig_partitioned_owner_fences_itself_and_the_service_moves() {
    let rig = Rig::up("hfc");
    let old = rig.serving();
    let state = rig.dir.join("handle.json");
    let opener = rig.open_handle(&state);

    // Cut the serving host off from the other hosts; the client still
    // reaches it.
    rig.ok(&["partition", &old.to_string()]);
    // Its lease ends: it kills its smbd and gives the address back.
    eventually("the partitioned host fences itself", &rig, || rig.node_log(old).contains("lease_lost"));
    eventually("the partitioned host runs no smbd and holds no address", &rig, || {
        !rig.runs_smbd(old) && !rig.holders().contains(&old)
    });
    // The service runs on a survivor, and the client reclaims its handle
    // there: the lock it held is its own, and another client's is refused.
    let new = rig.serving();
    assert_ne!(new, old);
    assert_eq!(rig.holders(), vec![new]);
    rig.phase(&state, "reclaim", "reclaim after the partition");
    opener.finish();

    // After the heal the old host rejoins as a follower and serves nothing.
    rig.ok(&["heal"]);
    rig.wait_all_up();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(rig.serving(), new, "the service stays where it moved");
    assert_eq!(rig.holders(), vec![new], "the old host does not take the address back");
    assert!(!rig.runs_smbd(old), "the old host runs no smbd");
}

#[test]
fn rig_frozen_owner_answers_nothing_after_it_thaws() {
    let rig = Rig::up("hfd");
    let old = rig.serving();
    let state = rig.dir.join("handle.json");
    let opener = rig.open_handle(&state);

    // Frozen longer than the failure timeout: the others take over.
    rig.ok(&["freeze", &old.to_string()]);
    let new = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = rig.leader_status();
            match s.services.iter().find(|x| x.name == "share") {
                Some(sv) if sv.node != old => break sv.node,
                _ => assert!(Instant::now() < deadline, "the service did not leave the frozen host\n{}", rig.logs()),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    rig.phase(&state, "reclaim", "reclaim while the old host is frozen");
    opener.finish();

    // It wakes up: its lease is over, it kills its smbd and lets the
    // address go, and the share goes on being served by the survivor.
    rig.ok(&["thaw", &old.to_string()]);
    eventually("the thawed host gives the address back and runs no smbd", &rig, || {
        rig.holders() == vec![new] && !rig.runs_smbd(old)
    });
    assert!(rig.node_log(old).contains("lease_lost") || rig.node_log(old).contains("this host lost its lease"), "the thawed host fenced itself");
    rig.wait_all_up();
    assert_eq!(rig.serving(), new);
    let out = rig.python("test_persistent.py", &[]).output().expect("run test_persistent.py");
    assert!(out.status.success(), "the share works through the service address after the thaw:\n{}", text(&out));
}

#[test]
fn rig_silent_death_mid_request_the_new_host_tickles_the_client() {
    let rig = Rig::up("hfe");
    let victim = rig.serving();
    let state = rig.dir.join("handle.json");
    let client = rig.hold("silent", &state);
    // The serving host shares its connection list within a tick (100 ms);
    // a connection younger than that is not tickled (docs/services.md).
    std::thread::sleep(Duration::from_secs(1));
    // The host dies while the client is about to send: its request goes
    // nowhere, and only a reset (a tickle, or a retransmission that reaches
    // the new host) ends the wait.
    rig.ok(&["kill", &victim.to_string()]);
    let (ok, seen) = client.finish();
    assert!(ok && seen.contains("PASS"), "silent death mid-request:\n{seen}\n{}", rig.logs());
    let survivor = rig.serving();
    assert!(
        rig.node_log(survivor).contains("event=\"tickle_acks\" service=share connections=1"),
        "the new host tickled the old host's client\n{}",
        rig.logs()
    );
}

#[test]
fn rig_bench_failover_silent_reports_both_modes() {
    // SAFETY: geteuid(2) reads no memory of ours.
    assert_eq!(unsafe { libc::geteuid() }, 0, "the rig needs root");
    let out = Command::new(BIN).args(["bench", "failover", "--silent", "--trials", "1", "--partition-trials", "1", "--json"]).output().expect("run bench");
    assert!(out.status.success(), "bench failover --silent failed:\n{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for k in ["reclaim_p50_ms", "reclaim_max_ms", "lost_handles", "lost_acked_writes", "tickle_speedup_p50"] {
        assert!(v.get(k).is_some(), "key {k} missing: {v}");
    }
    for k in ["reclaim_p50_ms", "reclaim_max_ms", "lost_handles", "lost_acked_writes"] {
        assert!(v["no_tickle"].get(k).is_some(), "no_tickle.{k} missing: {v}");
    }
    assert_eq!((v["lost_handles"].as_u64(), v["lost_acked_writes"].as_u64()), (Some(0), Some(0)), "{v}");
    // The partition trial: no answer from the old host after its lease,
    // no conflicting lock grant.
    let p = &v["partition"];
    for k in ["answers_after_lease_end", "conflicting_lock_grants"] {
        assert_eq!(p[k], serde_json::json!([0]), "partition.{k}: {v}");
    }
    assert!(p["last_answer_before_lease_end_ms"][0].as_f64().is_some(), "partition trial reported no margin: {v}");
}
