//! Persistent handles with a client we did not write: the Python
//! smbprotocol test `tests/smb/test_persistent.py` (DH2Q persistent on the
//! CA share, write, dropped TCP connection, a conflicting open refused with
//! STATUS_FILE_NOT_AVAILABLE, DH2C reclaim on a new connection with the
//! same ClientGuid, read back) against `holdfast smbd` on a 3-node cluster.
//!
//! A third test kills smbd itself (the host lives on) while the client
//! holds a persistent handle; the restarted smbd marks the orphaned record
//! disconnected and the client reclaims it.
//!
//! A second test keeps a persistent handle across the failover of the host
//! that served it (`tests/smb/failover.py`): the owner of the share is
//! killed while the client holds the handle; the client reclaims it with
//! DH2C from the smbd of the surviving host.
//!
//! The venv with smbprotocol is `$HOLDFAST_SMB_VENV` or `target/smb-venv`
//! (made by `scripts/install-deps.sh`); when missing the test creates it
//! (`python3 -m venv`, `pip install -r tests/smb/requirements.txt`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Instant;

use common::{free_base_port, serving_node, serving_node_except, start_smbd, TestCluster};

const USER: &str = "tester";
const PASSWORD: &str = "Correct-Horse-42";
/// A second user, who must not reclaim the first one's handles.
const USER2: &str = "intruder";
const PASSWORD2: &str = "Battery-Staple-7";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The venv's python, creating the venv when it is missing.
fn venv_python() -> PathBuf {
    let root = workspace_root();
    let venv = std::env::var_os("HOLDFAST_SMB_VENV").map(PathBuf::from).unwrap_or_else(|| root.join("target/smb-venv"));
    let py = venv.join("bin/python3");
    let has_smbprotocol =
        |py: &Path| Command::new(py).args(["-c", "import smbprotocol"]).output().is_ok_and(|o| o.status.success());
    if has_smbprotocol(&py) {
        return py;
    }
    let o = Command::new("python3").args(["-m", "venv"]).arg(&venv).output().expect("run python3 -m venv");
    assert!(
        o.status.success(),
        "python3 -m venv {} failed (apt-get install -y python3-venv, or scripts/install-deps.sh):\n{}",
        venv.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "-r"])
        .arg(root.join("tests/smb/requirements.txt"))
        .output()
        .expect("run pip");
    assert!(o.status.success(), "pip install smbprotocol failed:\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(has_smbprotocol(&py), "smbprotocol not importable from {}", py.display());
    py
}

/// The node whose file server serves `share` (polls until one does).
#[test]
fn smbprotocol_persistent_handle_survives_a_dropped_connection() {
    let py = venv_python();
    let c = TestCluster::start_with("smb-persistent", 3, &["--volume-size", "64MiB"]);
    c.wait_healthy(3);
    c.cli_ok(&["volume", "ensure"]);
    c.cli_ok(&["user", "add", USER, "--password", PASSWORD]);
    c.cli_ok(&["user", "add", USER2, "--password", PASSWORD2]);
    let node = serving_node(&c, "share");
    let port = free_base_port(1) + 1;
    let _smbd = start_smbd(&c, node, port, "smbd");

    let o = python(&py, "test_persistent.py", port)
        .env("SMB_USER2", USER2)
        .env("SMB_PASSWORD2", PASSWORD2)
        .output()
        .expect("run the smbprotocol test");
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    println!("{out}");
    let log = std::fs::read_to_string(c.dir.join("smbd.log")).unwrap_or_default();
    assert!(o.status.success(), "test_persistent.py failed ({}):\n{out}\nsmbd log:\n{log}", o.status);
    assert!(out.contains("PASS"), "no PASS line:\n{out}");
}

fn python(py: &Path, script: &str, port: u16) -> Command {
    let mut cmd = Command::new(py);
    cmd.arg(workspace_root().join("tests/smb").join(script))
        .env("SMB_HOST", "127.0.0.1")
        .env("SMB_PORT", port.to_string())
        .env("SMB_USER", USER)
        .env("SMB_PASSWORD", PASSWORD)
        .env("SMB_SHARE", "share");
    cmd
}

/// `failover.py open`: runs until it prints READY (it then holds the
/// handle until a line arrives on its stdin). The caller waits for it.
#[allow(clippy::zombie_processes)]
fn start_opener(py: &Path, port: u16, state: &Path) -> (Child, std::io::BufReader<std::process::ChildStdout>, String) {
    use std::io::BufRead;
    let mut opener = python(py, "failover.py", port)
        .args(["open", state.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run failover.py open");
    let mut out = std::io::BufReader::new(opener.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            let st = opener.wait();
            panic!("failover.py open ended before READY ({st:?}):\n{seen}");
        }
        seen.push_str(&line);
        if line.trim() == "READY" {
            return (opener, out, seen);
        }
    }
}

#[test]
fn smbprotocol_persistent_handle_survives_a_crash_of_smbd() {
    use std::io::Write;
    let py = venv_python();
    let c = TestCluster::start_with("smb-crash", 3, &["--volume-size", "64MiB"]);
    c.wait_healthy(3);
    c.cli_ok(&["volume", "ensure"]);
    c.cli_ok(&["user", "add", USER, "--password", PASSWORD]);
    let node = serving_node(&c, "share");
    let port = free_base_port(1) + 1;
    let smbd = start_smbd(&c, node, port, "smbd-first");
    let state = c.dir.join("crash.json");
    let (mut opener, mut out, mut seen) = start_opener(&py, port, &state);
    // SIGKILL: no teardown, the record stays "connected".
    drop(smbd);
    let _ = opener.stdin.take().unwrap().write_all(b"go\n");
    let _ = std::io::Read::read_to_string(&mut out, &mut seen);
    assert!(opener.wait().unwrap().success(), "failover.py open failed:\n{seen}");
    let port2 = free_base_port(1) + 1;
    let _smbd2 = start_smbd(&c, node, port2, "smbd-second");
    let o = python(&py, "failover.py", port2).args(["reclaim", state.to_str().unwrap()]).output().expect("run failover.py reclaim");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let log = std::fs::read_to_string(c.dir.join("smbd-second.log")).unwrap_or_default();
    println!("{seen}{text}");
    assert!(o.status.success() && text.contains("PASS"), "reclaim after an smbd crash failed ({}):\n{text}\n{log}", o.status);
}

#[test]
fn smbprotocol_persistent_handle_survives_the_failover_of_its_host() {
    use std::io::Write;

    let py = venv_python();
    let mut c = TestCluster::start_with("smb-failover", 3, &["--volume-size", "64MiB"]);
    c.wait_healthy(3);
    c.cli_ok(&["volume", "ensure"]);
    c.cli_ok(&["user", "add", USER, "--password", PASSWORD]);
    let owner = serving_node(&c, "share");
    let port = free_base_port(1) + 1;
    let smbd = start_smbd(&c, owner, port, "smbd-owner");
    let state = c.dir.join("failover.json");
    let logs = |c: &TestCluster| {
        let read = |n: &str| std::fs::read_to_string(c.dir.join(n)).unwrap_or_default();
        format!("smbd (owner):\n{}\nsmbd (survivor):\n{}", read("smbd-owner.log"), read("smbd-survivor.log"))
    };

    // The client opens, writes and holds the handle.
    let (mut opener, mut out, mut seen) = start_opener(&py, port, &state);

    // The host serving the share dies (its smbd goes with it); a survivor
    // takes the volume over, handle table included.
    let t0 = Instant::now();
    c.kill(owner);
    drop(smbd);
    let survivor = serving_node_except(&c, "share", Some(owner));
    println!("takeover by node {survivor} after {:?}", t0.elapsed());
    let port2 = free_base_port(1) + 1;
    let _smbd2 = start_smbd(&c, survivor, port2, "smbd-survivor");
    // The client notices its connection is gone.
    let _ = opener.stdin.take().unwrap().write_all(b"go\n");
    let _ = std::io::Read::read_to_string(&mut out, &mut seen);
    let st = opener.wait().unwrap();
    assert!(st.success(), "failover.py open failed ({st}):\n{seen}\n{}", logs(&c));

    let o = python(&py, "failover.py", port2).args(["reclaim", state.to_str().unwrap()]).output().expect("run failover.py reclaim");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    println!("{seen}{text}");
    assert!(o.status.success() && text.contains("PASS"), "failover.py reclaim failed ({}):\n{text}\n{}", o.status, logs(&c));
    c.kill_all();
}
