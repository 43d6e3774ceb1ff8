//! SMB service placement and supervision with real processes: the cluster
//! defines the service `share` (`init --smb-port`), the directory places it
//! on the owner of its volume, and that host's node daemon runs its smbd.
//! A Python smbprotocol client (`tests/smb/failover.py`) holds a persistent
//! handle through:
//!
//! - a crash of the smbd alone (`kill -9` of its pid, the host lives): the
//!   node restarts it in place, on the same address;
//! - a planned move (`holdfast service move share --to N`): the old host
//!   stops its smbd, the new one starts it on the same address.
//!
//! Each time the client reclaims the handle with DH2C on the same address
//! and reads its bytes back. Both tests also check the address hook's
//! calls (a script that appends its arguments to a file), as does a third
//! that changes the service's address in cluster.toml. The failover of
//! the whole host is `smb_persistent.rs`'s
//! `smbprotocol_persistent_handle_survives_the_failover_of_its_host`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::smbpy::{finish_opener, reclaim, start_opener, venv_python, PASSWORD, USER};
use common::{free_base_port, hook_calls, hook_calls_at_least, recording_hook, service_addr, service_log, temp_dir, wait_service, TestCluster};

/// A 3-node cluster with the service `share` on a free port, the hook
/// configured, a user, and the volume; returns it with the hook's log.
fn cluster_with_service(tag: &str) -> (TestCluster, PathBuf, PathBuf) {
    let (hook, hook_log) = recording_hook(&format!("{tag}-hook"));
    let port = (free_base_port(1) + 1).to_string();
    let c = TestCluster::start_with(
        tag,
        3,
        &["--volume-size", "64MiB", "--smb-port", &port, "--address-hook", hook.to_str().unwrap()],
    );
    c.wait_healthy(3);
    c.cli_ok(&["user", "add", USER, "--password", PASSWORD]);
    c.cli_ok(&["volume", "ensure"]);
    (c, hook_log, hook.parent().unwrap().to_path_buf())
}

#[test]
fn a_crashed_smbd_is_restarted_in_place_and_the_handle_is_reclaimed() {
    let py = venv_python();
    let (c, hook_log, hook_dir) = cluster_with_service("svc-crash");
    let addr = service_addr(&c, "share");
    let ip = addr.rsplit_once(':').unwrap().0;
    let first = wait_service(&c, "share", None, None);
    assert_eq!(hook_calls(&hook_log), vec![format!("{} add {ip} share {addr}", first.node)], "hook before the first start");

    let state = c.dir.join("crash.json");
    let (opener, out, seen) = start_opener(&py, &addr, &state);
    // SIGKILL of the service alone: no teardown, its host lives on.
    let st = Command::new("kill").args(["-9", &first.pid.to_string()]).status().unwrap();
    assert!(st.success(), "kill -9 {}", first.pid);
    let seen = finish_opener(opener, out, seen);

    let second = wait_service(&c, "share", None, Some(first.pid));
    assert_eq!(second.node, first.node, "restarted in place, not moved");
    let (ok, text) = reclaim(&py, &addr, &state);
    println!("{seen}{text}");
    assert!(ok, "reclaim after an smbd crash failed:\n{text}\nsmbd log:\n{}\n{}", service_log(&c, first.node, "share"), c.logs());
    let log = std::fs::read_to_string(c.dir.join(format!("node-{}/node.log", first.node))).unwrap();
    assert!(log.contains("smbd exited; restarting it here"), "the node logs the crash:\n{}", c.logs());
    // The address never left the host: no remove, no second add.
    assert_eq!(hook_calls(&hook_log), vec![format!("{} add {ip} share {addr}", first.node)]);
    let _ = std::fs::remove_dir_all(hook_dir);
}

#[test]
fn a_planned_move_keeps_the_handle_reclaimable_on_the_same_address() {
    let py = venv_python();
    let (c, hook_log, hook_dir) = cluster_with_service("svc-move");
    let addr = service_addr(&c, "share");
    let ip = addr.rsplit_once(':').unwrap().0;
    let first = wait_service(&c, "share", None, None);
    let to = (1..=3u64).find(|&n| n != first.node).unwrap();

    let state = c.dir.join("move.json");
    let (opener, out, seen) = start_opener(&py, &addr, &state);
    let moved = c.cli_ok(&["service", "move", "share", "--to", &to.to_string()]);
    assert!(String::from_utf8_lossy(&moved).contains(&format!("now on node {to}")), "{}", String::from_utf8_lossy(&moved));
    let second = wait_service(&c, "share", Some(first.node), None);
    assert_eq!(second.node, to);
    let list = String::from_utf8_lossy(&c.cli_ok(&["service", "list"])).into_owned();
    assert!(list.contains(&format!("share  {addr}  node {to}")), "{list}");
    // The old instance is gone (its connection with it): the client notices.
    let seen = finish_opener(opener, out, seen);

    let (ok, text) = reclaim(&py, &addr, &state);
    println!("{seen}{text}");
    assert!(ok, "reclaim after a planned move failed:\n{text}\nnew smbd log:\n{}\n{}", service_log(&c, to, "share"), c.logs());
    let calls = hook_calls_at_least(&hook_log, 3);
    for want in [
        format!("{} add {ip} share {addr}", first.node),
        format!("{} remove {ip} share {addr}", first.node),
        format!("{to} add {ip} share {addr}"),
    ] {
        assert!(calls.contains(&want), "hook call {want:?} missing: {calls:?}");
    }
    assert_eq!(calls.len(), 3, "{calls:?}");
    let _ = std::fs::remove_dir_all(hook_dir);
}

#[test]
fn init_refuses_a_bad_service_config_with_a_clear_error() {
    let dir = temp_dir("svc-bad");
    let base = free_base_port(3).to_string();
    let init = || {
        let mut cmd = Command::new(common::BIN);
        cmd.args(["--dir", dir.to_str().unwrap(), "init", "--nodes", "3", "--base-port", &base]);
        cmd
    };
    let out = init().output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Two services on one address, and one naming a share nobody defined.
    let path = dir.join("cluster.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n[[services]]\nname = \"other\"\nlisten = \"127.0.0.1:4445\"\nshares = [\"share\"]\n")).unwrap();
    let out = Command::new(common::BIN).args(["--dir", dir.to_str().unwrap(), "service", "list"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("both listen on 127.0.0.1:4445"), "{err}");
    std::fs::write(&path, format!("{text}\n[[services]]\nname = \"other\"\nlisten = \"127.0.0.2:4445\"\nshares = [\"nope\"]\n")).unwrap();
    let out = Command::new(common::BIN).args(["--dir", dir.to_str().unwrap(), "service", "list"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("names share \"nope\", which is not defined"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An edited address in cluster.toml, applied with `volume ensure`, moves
/// the running service to it: the old address is given back (hook
/// `remove`), the new one taken (hook `add`), smbd restarted there.
#[test]
fn a_changed_address_restarts_the_service_on_it() {
    let (c, hook_log, hook_dir) = cluster_with_service("svc-readdr");
    let old = service_addr(&c, "share");
    let first = wait_service(&c, "share", None, None);
    let (old_ip, port) = old.rsplit_once(':').unwrap();
    let new = format!("127.0.0.2:{port}");
    let path = c.dir.join("cluster.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(&format!("listen = \"{old}\""), &format!("listen = \"{new}\""))).unwrap();
    c.cli_ok(&["volume", "ensure"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(&new).is_err() {
        assert!(std::time::Instant::now() < deadline, "no smbd on {new}\n{}", c.logs());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let s = c.status();
    let svc = s.services.iter().find(|x| x.name == "share").unwrap();
    assert_eq!((svc.addr.as_str(), svc.node), (new.as_str(), first.node), "{s:?}");
    let calls = hook_calls_at_least(&hook_log, 3);
    let n = first.node;
    assert_eq!(
        calls,
        vec![format!("{n} add {old_ip} share {old}"), format!("{n} remove {old_ip} share {old}"), format!("{n} add 127.0.0.2 share {new}")],
    );
    let _ = std::fs::remove_dir_all(hook_dir);
}
