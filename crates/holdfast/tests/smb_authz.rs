//! Share authorization as smb.conf users expect it (issue 15), against
//! smbclient as two real users: `valid_users` and `invalid_users` refuse
//! with NT_STATUS_ACCESS_DENIED, a `read_only` share reads and lists but
//! writes nothing, an `encrypt` share refuses a client that cannot encrypt
//! (SMB 2.1) and a request in the clear (smbprotocol, as the read-only
//! share's MaximalAccess and SET_INFO of times), and `min_dialect`
//! refuses older dialects, per share and (smbd.toml `min_dialect`) at
//! NEGOTIATE. One cluster, shares of one volume's root.
//! smbclient and the smbprotocol venv: `scripts/install-deps.sh`.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use common::smbpy::{python_at, venv_python};
use common::{free_base_port, serving_node, start_smbd, start_smbd_with, temp_dir, TestCluster, BIN};

const ALICE: &str = "alice";
const BOB: &str = "bob";
const PASSWORD: &str = "Correct-Horse-42";
const DENIED: &str = "NT_STATUS_ACCESS_DENIED";

/// The shares beside the default `share`, as cluster.toml entries.
const SHARES: &str = r#"
[[shares]]
name = "alice_only"
volume = "share"
valid_users = ["alice"]

[[shares]]
name = "no_bob"
volume = "share"
valid_users = ["alice", "bob"]
invalid_users = ["BOB"]

[[shares]]
name = "ro"
volume = "share"
read_only = true

[[shares]]
name = "enc"
volume = "share"
encrypt = true

[[shares]]
name = "smb3"
volume = "share"
min_dialect = "3.0"
"#;

/// `holdfast init` of 3 nodes with `extra` arguments, its cluster.toml
/// changed by `edit` before any node reads it, then the nodes.
fn cluster_edited(tag: &str, extra: &[&str], edit: impl FnOnce(&mut toml::Table)) -> TestCluster {
    let dir = temp_dir(tag);
    let base = free_base_port(3);
    let d = dir.to_str().unwrap();
    let args = ["--dir", d, "init", "--nodes", "3", "--base-port", &base.to_string(), "--memory", "2GiB", "--volume-size", "64MiB"];
    let out = Command::new(BIN).args(args).args(extra).output().expect("run holdfast init");
    assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
    let path = dir.join("cluster.toml");
    let mut file: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    edit(&mut file);
    std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();
    let info = holdfast_client::ClusterInfo::load(&dir).expect("load cluster with the added shares");
    let mut c = TestCluster { dir, info, children: HashMap::new() };
    for id in 1..=3 {
        c.start_node(id);
    }
    c
}

fn smbclient(port: u16, share: &str, user: &str, work: &Path, commands: &str, extra: &[&str]) -> Output {
    Command::new("smbclient")
        .arg(format!("//127.0.0.1/{share}"))
        .args(["-p", &port.to_string(), "-U", &format!("{user}%{PASSWORD}"), "-c", commands])
        .args(extra)
        .current_dir(work)
        .output()
        .expect("run smbclient")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Succeeded with no NT_STATUS error anywhere in its output.
fn ok(o: &Output) -> bool {
    o.status.success() && !text(o).contains("NT_STATUS_")
}

/// The attribute letters of `name` in an smbclient `ls`, if listed.
fn listed(ls: &str, name: &str) -> Option<String> {
    ls.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some(name)).then(|| w.next().unwrap_or("").to_string())
    })
}

const SMB3: [&str; 2] = ["-m", "SMB3"];
const SMB2_02: [&str; 4] = ["--option", "client min protocol=SMB2_02", "--option", "client max protocol=SMB2_02"];
const SMB2_10: [&str; 4] = ["--option", "client min protocol=SMB2_10", "--option", "client max protocol=SMB2_10"];

#[test]
fn share_authorization_with_smbclient() {
    assert!(Command::new("smbclient").arg("--version").output().is_ok_and(|o| o.status.success()), "smbclient is not installed: run scripts/install-deps.sh");
    let added: toml::Table = SHARES.parse().unwrap();
    let c = cluster_edited("smb-authz", &["--no-smb-service"], |f| {
        let shares = f.get_mut("shares").and_then(|s| s.as_array_mut()).expect("init wrote [[shares]]");
        shares.extend(added["shares"].as_array().unwrap().iter().cloned());
    });
    c.wait_healthy(3);
    c.cli_ok(&["volume", "ensure"]);
    c.cli_ok(&["user", "add", ALICE, "--password", PASSWORD]);
    c.cli_ok(&["user", "add", BOB, "--password", PASSWORD]);
    let node = serving_node(&c, "share");
    let port = free_base_port(1) + 1;
    let _smbd = start_smbd(&c, node, port, "smbd");
    let log = || std::fs::read_to_string(c.dir.join("smbd.log")).unwrap_or_default();
    let work = c.dir.join("client");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("hello"), b"hello from alice").unwrap();
    let o = smbclient(port, "share", ALICE, &work, "put hello hello.txt", &SMB3);
    assert!(ok(&o), "put on the open share:\n{}", text(&o));

    // valid_users: alice only.
    let o = smbclient(port, "alice_only", ALICE, &work, "ls", &SMB3);
    assert!(ok(&o) && text(&o).contains("hello.txt"), "alice on alice_only:\n{}\n{}", text(&o), log());
    let o = smbclient(port, "alice_only", BOB, &work, "ls", &SMB3);
    assert!(!o.status.success() && text(&o).contains(DENIED), "bob on alice_only:\n{}", text(&o));
    // invalid_users wins over valid_users.
    let o = smbclient(port, "no_bob", BOB, &work, "ls", &SMB3);
    assert!(!o.status.success() && text(&o).contains(DENIED), "bob on no_bob:\n{}", text(&o));
    let o = smbclient(port, "no_bob", ALICE, &work, "ls", &SMB3);
    assert!(ok(&o), "alice on no_bob:\n{}", text(&o));

    // read_only: reads and lists, writes nothing.
    let o = smbclient(port, "ro", ALICE, &work, "ls; get hello.txt got", &SMB3);
    assert!(ok(&o) && text(&o).contains("hello.txt"), "reading ro:\n{}\n{}", text(&o), log());
    assert_eq!(std::fs::read(work.join("got")).unwrap(), b"hello from alice");
    for cmd in ["put hello new.txt", "put hello hello.txt", "mkdir d", "del hello.txt", "rename hello.txt moved.txt", "setmode hello.txt +r"] {
        let o = smbclient(port, "ro", ALICE, &work, cmd, &SMB3);
        assert!(text(&o).contains(DENIED), "{cmd} on ro:\n{}", text(&o));
    }
    let o = smbclient(port, "share", ALICE, &work, "ls; get hello.txt after", &SMB3);
    let t = text(&o);
    assert!(ok(&o), "listing share:\n{t}");
    for name in ["new.txt", "d", "moved.txt"] {
        assert!(listed(&t, name).is_none(), "ro created {name}:\n{t}");
    }
    assert_eq!(std::fs::read(work.join("after")).unwrap(), b"hello from alice", "ro changed hello.txt");
    let attrs = listed(&t, "hello.txt").expect("hello.txt still there");
    assert!(!attrs.contains('R'), "ro set READONLY on hello.txt:\n{t}");
    // No write bit in MaximalAccess; no SET_INFO of times through a read
    // open (which CREATE lets through).
    let py = venv_python();
    let o = python_at(&py, "read_only.py", &format!("127.0.0.1:{port}"))
        .env("SMB_USER", ALICE)
        .env("SMB_PASSWORD", PASSWORD)
        .env("SMB_SHARE", "ro")
        .env("SMB_FILE", "hello.txt")
        .output()
        .expect("run read_only.py");
    assert!(o.status.success(), "read_only.py:\n{}\n{}", text(&o), log());

    // encrypt: SMB 2.1 cannot encrypt and is refused; SMB 3 connects, and
    // smbclient then encrypts on its own (the share flag says so), or
    // from the start with --client-protection=encrypt.
    let o = smbclient(port, "enc", ALICE, &work, "ls", &SMB2_10);
    assert!(!o.status.success() && text(&o).contains(DENIED), "SMB 2.1 on enc:\n{}", text(&o));
    let o = smbclient(port, "enc", ALICE, &work, "ls", &SMB3);
    assert!(ok(&o) && text(&o).contains("hello.txt"), "SMB 3 on enc:\n{}\n{}", text(&o), log());
    let o = smbclient(port, "enc", ALICE, &work, "ls", &["-m", "SMB3", "--client-protection=encrypt"]);
    assert!(ok(&o) && text(&o).contains("hello.txt"), "encrypting client on enc:\n{}", text(&o));
    // A request in the clear on the encrypted tree.
    let o = python_at(&py, "encrypted_tree.py", &format!("127.0.0.1:{port}"))
        .env("SMB_USER", ALICE)
        .env("SMB_PASSWORD", PASSWORD)
        .env("SMB_SHARE", "enc")
        .output()
        .expect("run encrypted_tree.py");
    assert!(o.status.success(), "encrypted_tree.py:\n{}\n{}", text(&o), log());

    // min_dialect 3.0: 2.1 and 2.0.2 refused, 3.x admitted.
    let o = smbclient(port, "smb3", ALICE, &work, "ls", &SMB2_10);
    assert!(!o.status.success() && text(&o).contains(DENIED), "SMB 2.1 on smb3:\n{}", text(&o));
    let o = smbclient(port, "smb3", ALICE, &work, "ls", &SMB2_02);
    assert!(!o.status.success() && text(&o).contains(DENIED), "SMB 2.0.2 on smb3:\n{}", text(&o));
    let o = smbclient(port, "smb3", ALICE, &work, "ls", &SMB3);
    assert!(ok(&o), "SMB 3 on smb3:\n{}", text(&o));
    // The open share still takes 2.1.
    let o = smbclient(port, "share", BOB, &work, "ls", &SMB2_10);
    assert!(ok(&o), "SMB 2.1 on share:\n{}", text(&o));

    // Server-wide (smb.conf `server min protocol`): NEGOTIATE refuses
    // 2.0.2 and takes 2.1.
    let port21 = free_base_port(1) + 1;
    let _smbd21 = start_smbd_with(&c, node, port21, "smbd21", "min_dialect = \"2.1\"\n");
    let o = smbclient(port21, "share", BOB, &work, "ls", &SMB2_02);
    assert!(!o.status.success() && text(&o).contains("NT_STATUS_NOT_SUPPORTED"), "SMB 2.0.2 with min_dialect 2.1:\n{}", text(&o));
    let o = smbclient(port21, "share", BOB, &work, "ls", &SMB2_10);
    assert!(ok(&o), "SMB 2.1 with min_dialect 2.1:\n{}", text(&o));
}

/// `[service_host] min_dialect` in cluster.toml reaches the smbd the node
/// daemon runs: NEGOTIATE refuses 2.0.2 (NT_STATUS_NOT_SUPPORTED, as
/// Samba with `server min protocol = SMB2_10`) and takes 2.1.
#[test]
fn service_host_min_dialect_refuses_older_dialects() {
    let port = free_base_port(1) + 1;
    let c = cluster_edited("smb-authz-min", &["--smb-port", &port.to_string()], |f| {
        let host = f.entry("service_host").or_insert(toml::Value::Table(Default::default()));
        host.as_table_mut().unwrap().insert("min_dialect".into(), "2.1".into());
    });
    c.wait_healthy(3);
    c.cli_ok(&["volume", "ensure"]);
    c.cli_ok(&["user", "add", BOB, "--password", PASSWORD]);
    let at = common::wait_service(&c, "share", None, None);
    let work = c.dir.join("client");
    std::fs::create_dir_all(&work).unwrap();
    let o = smbclient(port, "share", BOB, &work, "ls", &SMB2_02);
    let log = common::service_log(&c, at.node, "share");
    assert!(!o.status.success() && text(&o).contains("NT_STATUS_NOT_SUPPORTED"), "SMB 2.0.2:\n{}\n{log}", text(&o));
    let o = smbclient(port, "share", BOB, &work, "ls", &SMB2_10);
    assert!(ok(&o), "SMB 2.1:\n{}", text(&o));
}
