//! smbd started as root drops to its system user after binding its port
//! (issue 15; `crates/smb-server/src/privilege.rs`, docs/security.md):
//! the supervised smbd's /proc status shows the user's ids, no capability
//! and no-new-privs; that user cannot read the cluster's TLS keys, a
//! component or the node's data directory, yet smbd serves smbclient and
//! logs on a user added after it started, and dies with its node. A node
//! whose smbd user is missing refuses to start, naming the user and how to
//! create it.
//! Needs root (CI runs as root; fails otherwise) and smbclient (`scripts/install-deps.sh`).

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{service_log, smb_cluster_with_service, smbd_ids, temp_dir, SMBD_USER, BIN};

const USER: &str = "alice";
const LATER: &str = "carol";
const PASSWORD: &str = "Correct-Horse-42";

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `KEY:` of /proc/PID/status, whitespace-split.
fn status_fields(status: &str, key: &str) -> Vec<String> {
    let line = status.lines().find(|l| l.split(':').next() == Some(key)).unwrap_or_else(|| panic!("no {key} in status:\n{status}"));
    line[key.len() + 1..].split_whitespace().map(str::to_string).collect()
}

/// `cmd args` run as uid:gid without supplementary groups.
fn run_as(uid: u32, gid: u32, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([&format!("--reuid={uid}"), &format!("--regid={gid}"), "--clear-groups"])
        .args(args)
        .output()
        .expect("run setpriv (util-linux)")
}

fn smbclient(addr: &str, user: &str, work: &Path, commands: &str) -> Output {
    let port = addr.rsplit_once(':').expect("ip:port").1;
    Command::new("smbclient")
        .args(["//127.0.0.1/share", "-p", port, "-U", &format!("{user}%{PASSWORD}"), "-m", "SMB3", "-c", commands])
        .current_dir(work)
        .output()
        .expect("run smbclient (scripts/install-deps.sh installs it)")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn smbd_runs_as_its_user_and_cannot_read_the_cluster_secret() {
    // Not a skip: a run that is not root would prove nothing.
    assert!(is_root(), "smbd drops root only when started as root; run as root (CI does)");
    let (uid, gid) = smbd_ids();
    let (c, addr, at) = smb_cluster_with_service("privdrop", USER, PASSWORD);

    // The supervised smbd: all four uids and gids the user's, no
    // capability, no way to gain one.
    let status = std::fs::read_to_string(format!("/proc/{}/status", at.pid)).expect("smbd's /proc status");
    assert_eq!(status_fields(&status, "Uid"), vec![uid.to_string(); 4], "smbd's uids\n{status}");
    assert_eq!(status_fields(&status, "Gid"), vec![gid.to_string(); 4], "smbd's gids\n{status}");
    assert_eq!(status_fields(&status, "Groups"), Vec::<String>::new(), "no supplementary group\n{status}");
    for key in ["CapEff", "CapPrm"] {
        assert_eq!(status_fields(&status, key), vec!["0000000000000000".to_string()], "{key}\n{status}");
    }
    assert_eq!(status_fields(&status, "NoNewPrivs"), vec!["1".to_string()], "NoNewPrivs\n{status}");
    assert!(service_log(&c, at.node, "share").contains("root dropped after binding"), "{}", service_log(&c, at.node, "share"));

    // As that user: the users file reads (smbd needs it at every logon,
    // and this shows setpriv itself works), the secret does not.
    let users = c.dir.join("smb-users");
    let o = run_as(uid, gid, &["cat", users.to_str().unwrap()]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains(USER), "the smbd user reads the users file: {}", text(&o));
    let nd = c.dir.join(format!("node-{}", at.node));
    let component = std::fs::read_dir(nd.join("objects"))
        .expect("the serving node's components")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "obj"))
        .expect("a component file");
    for secret in [c.dir.join("tls/ca.key"), c.dir.join("tls/client.key"), nd.join("node.key"), component, nd.join("raft")] {
        let cmd = if secret.is_dir() { "ls" } else { "cat" };
        let o = run_as(uid, gid, &[cmd, secret.to_str().unwrap()]);
        assert!(!o.status.success(), "the smbd user reads {}: {}", secret.display(), text(&o));
        assert!(text(&o).contains("Permission denied"), "{}: {}", secret.display(), text(&o));
    }

    // It still serves: put and get through smbclient ...
    let work = c.dir.join("smbclient-work");
    std::fs::create_dir_all(&work).unwrap();
    let data = common::pattern(100_003, 11);
    std::fs::write(work.join("up.bin"), &data).unwrap();
    let o = smbclient(&addr, USER, &work, "put up.bin; get up.bin back.bin");
    assert!(o.status.success(), "smbclient put/get: {}", text(&o));
    assert_eq!(std::fs::read(work.join("back.bin")).unwrap(), data, "the file read back through smbclient");

    // ... and logs on a user added after it started (the users file is
    // re-read at each logon, as the smbd user).
    c.cli_ok(&["user", "add", LATER, "--password", PASSWORD]);
    let o = smbclient(&addr, LATER, &work, "ls");
    assert!(o.status.success() && text(&o).contains("up.bin"), "logon of {LATER}, added after start: {}", text(&o));

    // The kernel clears the parent-death signal when the uid changes;
    // smbd arms it again, so a killed node still takes its smbd with it
    // (else the old smbd would keep the service address).
    let mut c = c;
    c.kill(at.node);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{}/status", at.pid)).ok().and_then(|s| status_fields(&s, "State").first().cloned());
        if state.as_deref().is_none_or(|s| s == "Z") {
            break;
        }
        assert!(Instant::now() < deadline, "smbd {} outlived its node (state {state:?})", at.pid);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_missing_smbd_user_is_named_with_the_fix() {
    assert!(is_root(), "the node needs the smbd user only when run as root; run as root (CI does)");
    let missing = "holdfast-no-such-user";
    let dir = temp_dir("privdrop-missing");
    let port = common::free_base_port(1) + 1;
    let base = common::free_base_port(1);
    let out = Command::new(BIN)
        .args(["--dir", dir.to_str().unwrap(), "init", "--nodes", "1", "--base-port", &base.to_string(), "--memory", "1GiB", "--smb-port", &port.to_string()])
        .output()
        .expect("run holdfast init");
    assert!(out.status.success(), "init: {}", text(&out));
    let path = dir.join("cluster.toml");
    let mut file: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let host = file.entry("service_host").or_insert_with(|| toml::Value::Table(Default::default()));
    host.as_table_mut().unwrap().insert("smbd_user".into(), toml::Value::String(missing.into()));
    std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();

    let mut node = Command::new(BIN)
        .args(["node", "--config", dir.join("node-1/node.toml").to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn node");
    let deadline = Instant::now() + Duration::from_secs(20);
    while node.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = node.kill();
            panic!("the node started without its smbd user {missing}: {}", text(&node.wait_with_output().unwrap()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = node.wait_with_output().unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains(&format!("system user \"{missing}\" does not exist")), "names the user: {said}");
    assert!(said.contains(&format!("useradd --system --no-create-home --shell /usr/sbin/nologin {missing}")), "says how to create it: {said}");
    assert_ne!(missing, SMBD_USER);
    let _ = std::fs::remove_dir_all(&dir);
}
