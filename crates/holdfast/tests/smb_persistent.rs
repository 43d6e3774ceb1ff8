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
//! that served it (`tests/smb/failover.py`): the cluster defines the SMB
//! service `share`, which the node daemon of the volume's owner runs; that
//! host is killed while the client holds the handle; the directory moves
//! the service to a survivor, whose node daemon starts smbd on the same
//! address; the client reclaims the handle there with DH2C.
//!
//! The venv with smbprotocol is `$HOLDFAST_SMB_VENV` or `target/smb-venv`
//! (made by `scripts/install-deps.sh`); when missing the test creates it
//! (`python3 -m venv`, `pip install -r tests/smb/requirements.txt`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::smbpy::{finish_opener, reclaim, start_opener, venv_python, PASSWORD, USER};
use common::{free_base_port, serving_node, service_addr, service_log, start_smbd, wait_service, TestCluster};

/// A second user, who must not reclaim the first one's handles.
const USER2: &str = "intruder";
const PASSWORD2: &str = "Battery-Staple-7";

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
    common::smbpy::python_at(py, script, &format!("127.0.0.1:{port}"))
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
    let (mut opener, mut out, mut seen) = start_opener(&py, &format!("127.0.0.1:{port}"), &state);
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
    let py = venv_python();
    let smb_port = free_base_port(1) + 1;
    let (hook, hook_log) = common::recording_hook("smb-failover-hook");
    let mut c = TestCluster::start_with(
        "smb-failover",
        3,
        &["--volume-size", "64MiB", "--smb-port", &smb_port.to_string(), "--address-hook", hook.to_str().unwrap()],
    );
    c.wait_healthy(3);
    c.cli_ok(&["user", "add", USER, "--password", PASSWORD]);
    // Creates the volume and defines the service; its owner's node runs it.
    c.cli_ok(&["volume", "ensure"]);
    let addr = service_addr(&c, "share");
    let first = wait_service(&c, "share", None, None);
    let state = c.dir.join("failover.json");
    let logs = |c: &TestCluster, survivor: u64| {
        format!("smbd (owner):\n{}\nsmbd (survivor):\n{}", service_log(c, first.node, "share"), service_log(c, survivor, "share"))
    };

    // The client opens, writes and holds the handle.
    let (opener, out, seen) = start_opener(&py, &addr, &state);

    // The host serving the share dies, and its smbd with it; the directory
    // moves the volume and the service to a survivor, which takes the
    // volume over (handle table included) and starts smbd on the address.
    let t0 = Instant::now();
    c.kill(first.node);
    let survivor = wait_service(&c, "share", Some(first.node), None);
    println!("service on node {} after {:?}", survivor.node, t0.elapsed());
    // The client notices its connection is gone.
    let seen = finish_opener(opener, out, seen);

    let (ok, text) = reclaim(&py, &addr, &state);
    println!("{seen}{text}");
    assert!(ok, "failover.py reclaim failed:\n{text}\n{}\n{}", logs(&c, survivor.node), c.logs());
    // The survivor took the address over; the dead host removed nothing.
    let ip = addr.rsplit_once(':').unwrap().0;
    let calls = common::hook_calls_at_least(&hook_log, 2);
    assert_eq!(
        calls,
        vec![format!("{} add {ip} share {addr}", first.node), format!("{} add {ip} share {addr}", survivor.node)],
        "address hook calls"
    );
    c.kill_all();
    let _ = std::fs::remove_dir_all(hook.parent().unwrap());
}
