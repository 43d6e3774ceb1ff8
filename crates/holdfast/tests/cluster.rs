//! Cluster acceptance tests: real `holdfast` processes over real TCP.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{pattern, runtime, write_file, TestCluster, BIN};
use holdfast_client::Client;
use holdfast_types::ErrorCode;
use holdfast_wire::msg::{ComponentWrite, Role};
use holdfast_wire::tls::{Credential, TlsFiles};
use holdfast_wire::{Frame, FrameKind, RequestHandler};

/// A link's far end that serves nothing (the test's own node link).
struct NoRequests;

impl RequestHandler for NoRequests {
    fn on_request(&self, conn: &Arc<holdfast_wire::Conn>, frame: Frame) {
        conn.respond_error(frame.header.request_id, &holdfast_types::HoldfastError::new(ErrorCode::Invalid, "the test serves no requests"));
    }
}

/// `holdfast up` forms a 3-node cluster, reports it, has the node owning
/// the share run its SMB service with a default user, and stops every
/// process (smbd included) on SIGTERM.
#[test]
fn up_starts_cluster_and_stops_it_on_sigterm() {
    let dir = common::temp_dir("up");
    let base = common::free_base_port(4);
    let smb_port = base + 4;
    let mut up = std::process::Command::new(BIN)
        .args(["--dir", dir.to_str().unwrap(), "up", "--nodes", "3", "--base-port", &base.to_string()])
        .args(["--volume-size", "64MiB", "--smb-port", &smb_port.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the banner `up` prints once the cluster is healthy.
    let stdout = up.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).expect("up printed no banner within 60 s");
        printed.push(line.clone());
        if line.contains("Press Ctrl-C") {
            break;
        }
    }
    let smb_line = format!("smbclient //127.0.0.1/share -p {smb_port} -A ");
    assert!(printed.iter().any(|l| l.contains(&smb_line)), "no smbclient line in {printed:#?}");
    let creds = dir.join("smb-credentials");
    let text = std::fs::read_to_string(&creds).expect("smb-credentials written");
    assert!(text.contains("username = holdfast") && text.contains("password = ") && text.contains("domain = "), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777, 0o600);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", smb_port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "smbd does not listen on {smb_port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = std::process::Command::new(BIN).args(["--dir", dir.to_str().unwrap(), "status", "--json"]).output().unwrap();
    assert!(out.status.success());
    let status: holdfast_wire::control::StatusView = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status.nodes.len(), 3);
    assert!(status.nodes.iter().all(|n| n.state == "up" && n.registered), "{status:?}");
    assert!(status.leader.is_some());
    // The service is in the directory, placed on the volume's owner, whose
    // node daemon runs its smbd (log in that node's directory).
    let svc = status.services.iter().find(|s| s.name == "share").unwrap_or_else(|| panic!("no service: {status:?}"));
    assert_eq!(svc.addr, format!("127.0.0.1:{smb_port}"));
    let owner = status.objects.iter().find(|o| o.name == "vol-share").unwrap().owner;
    assert_eq!(svc.node, owner, "the service runs where the volume is owned");
    let smbd_line = format!("smbd: 127.0.0.1:{smb_port} (log ");
    assert!(printed.iter().any(|l| l.contains(&smbd_line) && l.contains(&format!("node-{owner}/smbd-share.log"))), "{printed:#?}");
    // The printed smbclient line works: a round trip through the CA share.
    let work = dir.join("smbclient-work");
    std::fs::create_dir_all(&work).unwrap();
    let data = common::pattern(200_003, 11);
    std::fs::write(work.join("up.bin"), &data).unwrap();
    let out = std::process::Command::new("smbclient")
        .arg("//127.0.0.1/share")
        .args(["-p", &smb_port.to_string(), "-A", creds.to_str().unwrap(), "-m", "SMB3"])
        .args(["-c", "put up.bin; get up.bin back.bin; del up.bin"])
        .current_dir(&work)
        .output()
        .expect("run smbclient (scripts/install-deps.sh installs it)");
    assert!(out.status.success(), "smbclient: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(work.join("back.bin")).unwrap(), data, "bytes back through the up cluster's CA share");
    unsafe {
        libc::kill(up.id() as i32, libc::SIGTERM);
    }
    let out = up.wait_with_output().unwrap();
    assert!(out.status.success(), "up exited with {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    // Every node process is gone: their ports are free again.
    for i in 1..=3u16 {
        assert!(std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok(), "node port {} still in use", base + i);
    }
    assert!(std::net::TcpListener::bind(("127.0.0.1", smb_port)).is_ok(), "smbd port {smb_port} still in use");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Create a 3-copy memory object, write, read back through the owner and
/// from each node's own component.
#[test]
fn write_then_read_on_every_replica() {
    let c = TestCluster::start("rw", 3);
    c.wait_healthy(3);
    c.cli_ok(&["object", "create", "h", "--size", "64MiB", "--memory", "--replicas", "3"]);
    let data = pattern(3 * 4096 + 512, 1);
    let f = write_file(&c.dir, "data", &data);
    c.cli_ok(&["object", "write", "h", "--offset", "8192", "--data-file", f.to_str().unwrap()]);
    let len = data.len().to_string();
    assert_eq!(c.cli_ok(&["object", "read", "h", "--offset", "8192", "--length", &len]), data);
    for n in ["1", "2", "3"] {
        let got = c.cli_ok(&["object", "read", "h", "--offset", "8192", "--length", &len, "--node", n]);
        assert_eq!(got, data, "node {n} holds different bytes");
    }
    // Bytes outside the write are still zero.
    assert_eq!(c.cli_ok(&["object", "read", "h", "--offset", "0", "--length", "8192", "--node", "2"]), vec![0u8; 8192]);
    let objs: serde_json::Value = serde_json::from_slice(&c.cli_ok(&["object", "list", "--json"])).unwrap();
    assert_eq!(objs[0]["name"], "h");
    assert_eq!(objs[0]["components"].as_array().unwrap().len(), 3);
}

/// Misaligned and out-of-range I/O is refused with an error code, and the
/// object keeps working.
#[test]
fn bad_io_is_rejected_with_codes() {
    let c = TestCluster::start("badio", 3);
    c.wait_healthy(3);
    c.cli_ok(&["object", "create", "b", "--size", "1MiB", "--memory", "--replicas", "3"]);
    let rt = runtime();
    rt.block_on(async {
        let cl = c.client();
        let e = cl.write("b", 100, Bytes::from(vec![1u8; 512])).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::Misaligned), "{e}");
        let e = cl.write("b", 0, Bytes::from(vec![1u8; 100])).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::Misaligned), "{e}");
        let e = cl.write("b", 1 << 20, Bytes::from(vec![1u8; 512])).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::OutOfRange), "{e}");
        let e = cl.read("b", (1 << 20) - 512, 1024).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::OutOfRange), "{e}");
        let e = cl.write("nope", 0, Bytes::from(vec![1u8; 512])).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::NoSuchObject), "{e}");
        cl.write("b", 512, Bytes::from(vec![9u8; 512])).await.unwrap();
        assert_eq!(cl.read("b", 512, 512).await.unwrap(), vec![9u8; 512]);
    });
    let out = c.cli(&["object", "create", "x", "--size", "100", "--memory"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("multiple of 4096"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = c.cli(&["object", "create", "big", "--size", "2GiB", "--memory"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("MEMORY_BUDGET"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A planned ownership move raises the epoch; a write carrying the old
/// epoch is rejected by every component; the new owner's writes succeed.
#[test]
fn planned_move_fences_the_old_epoch() {
    let c = TestCluster::start("fence", 3);
    c.wait_healthy(3);
    let rt = runtime();
    rt.block_on(async {
        let cl = c.client();
        let o = cl
            .create_object(holdfast_wire::control::ControlRequest::CreateObject {
                name: "f".into(),
                kind: holdfast_types::ObjectKind::Memory,
                size_bytes: 1 << 20,
                replicas: 3,
            })
            .await
            .unwrap();
        cl.write("f", 0, Bytes::from(vec![1u8; 4096])).await.unwrap();
        let old_epoch = o.epoch;
        let to = if o.owner == 1 { 2 } else { 1 };
        let moved = cl.move_object("f", to).await.unwrap();
        assert_eq!(moved.owner, to);
        assert!(moved.epoch > old_epoch, "epoch did not rise: {} -> {}", old_epoch, moved.epoch);

        let late = ComponentWrite { object: o.id, epoch: old_epoch, seq: 2, offset: 0, data: Bytes::from(vec![0xeeu8; 4096]) };
        let late_call = |conn: Arc<holdfast_wire::Conn>| {
            let body = vec![Bytes::copy_from_slice(&late.encode_fixed()), late.data.clone()];
            async move { conn.call(FrameKind::ComponentWrite, body, Duration::from_secs(5)).await }
        };
        // A client credential cannot write a component at all.
        for node in 1..=3u64 {
            let e = late_call(cl.conn(node).await.unwrap()).await.expect_err("a client's component write must be refused");
            assert_eq!(e.to_holdfast().code, ErrorCode::Unauthenticated, "node {node}: {e}");
        }
        // Writes through the old owner are redirected, not applied there.
        let old = cl.conn(o.owner).await.unwrap();
        let e = Client::write_at(&old, o.id, 0, Bytes::from(vec![0xddu8; 4096])).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::NotOwner), "{e}");

        // The new owner's writes succeed and reach every component.
        cl.write("f", 4096, Bytes::from(vec![2u8; 4096])).await.unwrap();
        for node in 1..=3u64 {
            assert_eq!(cl.component_read(node, o.id, 0, 4096).await.unwrap(), vec![1u8; 4096], "node {node}");
            assert_eq!(cl.component_read(node, o.id, 4096, 4096).await.unwrap(), vec![2u8; 4096], "node {node}");
        }

        // The deposed owner's late write, with its own node credential,
        // sent straight to each other component: STALE_EPOCH everywhere.
        // (Last, because such a link takes the place of the real node's.)
        let d = c.dir.join(format!("node-{}", o.owner));
        let files = TlsFiles { ca: c.dir.join("tls/ca.pem"), cert: d.join("node.pem"), key: d.join("node.key") };
        let deposed = Credential::load(&files).unwrap();
        for node in (1..=3u64).filter(|&n| n != o.owner) {
            let s = tokio::net::TcpStream::connect(&c.info.nodes[&node]).await.unwrap();
            let tls = holdfast_wire::auth::dial(s, &deposed, Role::Node, o.owner, node).await.unwrap();
            let (r, w) = tokio::io::split(tls);
            let peer = holdfast_wire::auth::PeerIdentity { role: Role::Node, node_id: node };
            let conn = holdfast_wire::Conn::spawn(r, w, peer, format!("node {node}"), Arc::new(NoRequests));
            let e = late_call(conn.clone()).await.expect_err("old-epoch write must be rejected");
            assert_eq!(e.to_holdfast().code, ErrorCode::StaleEpoch, "node {node}: {e}");
            conn.close("test done");
        }
        for node in 1..=3u64 {
            assert_eq!(cl.component_read(node, o.id, 0, 4096).await.unwrap(), vec![1u8; 4096], "node {node}");
        }
    });
    let s = c.status();
    let f = s.objects.iter().find(|o| o.name == "f").unwrap();
    assert_eq!(f.state.as_str(), "healthy");
}

/// Kill every node with SIGKILL and start them again with the same
/// directory: the directory comes back, persistent bytes survive, and the
/// memory object is LOST with a clear error instead of coming back empty.
#[test]
fn whole_cluster_restart_keeps_persistent_and_reports_memory_lost() {
    let mut c = TestCluster::start("restart", 3);
    c.wait_healthy(3);
    c.cli_ok(&["object", "create", "m", "--size", "4MiB", "--memory", "--replicas", "3"]);
    c.cli_ok(&["object", "create", "p", "--size", "4MiB", "--persistent", "--replicas", "3"]);
    let data = pattern(64 * 1024, 7);
    let f = write_file(&c.dir, "data", &data);
    c.cli_ok(&["object", "write", "m", "--offset", "0", "--data-file", f.to_str().unwrap()]);
    c.cli_ok(&["object", "write", "p", "--offset", "1MiB", "--data-file", f.to_str().unwrap()]);

    c.kill_all();
    for id in 1..=3 {
        c.start_node(id);
    }
    let s = c.wait_healthy(3);
    let m = s.objects.iter().find(|o| o.name == "m").expect("memory object listed after restart");
    let p = s.objects.iter().find(|o| o.name == "p").expect("persistent object listed after restart");
    assert_eq!((m.kind.as_str(), m.size, m.replicas), ("memory", 4 << 20, 3));
    assert_eq!((p.kind.as_str(), p.size, p.replicas), ("persistent", 4 << 20, 3));
    assert_eq!(m.state.as_str(), "lost");
    assert!(m.components.iter().all(|c| c.state.as_str() != "active"));
    assert_eq!(p.state.as_str(), "healthy");

    let len = data.len().to_string();
    assert_eq!(c.cli_ok(&["object", "read", "p", "--offset", "1MiB", "--length", &len]), data);
    for n in ["1", "2", "3"] {
        assert_eq!(c.cli_ok(&["object", "read", "p", "--offset", "1MiB", "--length", &len, "--node", n]), data, "node {n}");
    }
    for args in [
        vec!["object", "read", "m", "--offset", "0", "--length", "4096"],
        vec!["object", "write", "m", "--offset", "0", "--data-file", f.to_str().unwrap()],
    ] {
        let out = c.cli(&args);
        assert!(!out.status.success(), "I/O on a LOST object must fail: {args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("OBJECT_LOST") && err.contains("LOST"), "{err}");
    }
    // A fresh write to the persistent object still replicates after restart.
    c.cli_ok(&["object", "write", "p", "--offset", "0", "--data-file", f.to_str().unwrap()]);
    assert_eq!(c.cli_ok(&["object", "read", "p", "--offset", "0", "--length", &len, "--node", "3"]), data);
}

/// A power loss of every host, stood in for by a new boot id at the
/// restart (`HOLDFAST_TEST_BOOT_ID`) and by two copies whose last writes
/// never reached their disks (their bytes zeroed in the files): every copy
/// comes back unclean, and the new owner rebuilds the others from the copy
/// it serves, so all three end byte for byte the same.
#[test]
fn after_a_power_loss_unclean_copies_are_rebuilt_from_one_source() {
    let mut c = TestCluster::start("unclean", 3);
    c.wait_healthy(3);
    c.cli_ok(&["object", "create", "p", "--size", "4MiB", "--persistent", "--replicas", "3"]);
    let data = pattern(64 * 1024, 9);
    let f = write_file(&c.dir, "data", &data);
    c.cli_ok(&["object", "write", "p", "--offset", "1MiB", "--data-file", f.to_str().unwrap()]);
    let id = c.wait_healthy(3).objects.iter().find(|o| o.name == "p").expect("object p").id;

    c.kill_all();
    // Nodes 2 and 3 lost that write (it was never synced there).
    for n in [2, 3] {
        use std::os::unix::fs::FileExt;
        let path = c.dir.join(format!("node-{n}/objects/{id}.obj"));
        let file = std::fs::OpenOptions::new().write(true).open(&path).expect("component file");
        file.write_all_at(&vec![0u8; data.len()], 4096 + (1 << 20)).expect("zero the lost write");
    }
    for n in 1..=3 {
        c.start_node_env(n, &[("HOLDFAST_TEST_BOOT_ID", "after-power-loss")]);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let len = data.len().to_string();
    loop {
        // Right after the restart the nodes may not listen yet, and the
        // directory still shows the copies ACTIVE while their nodes open
        // them: wait for the nodes, and retry reads that fail.
        let s = c.wait_healthy(3);
        let p = s.objects.iter().find(|o| o.name == "p").expect("object p");
        if p.state.as_str() == "healthy" && p.components.iter().all(|x| x.state.as_str() == "active") {
            let copies: Vec<Option<Vec<u8>>> = (1..=3)
                .map(|n| {
                    let o = c.cli(&["object", "read", "p", "--offset", "1MiB", "--length", &len, "--node", &n.to_string()]);
                    o.status.success().then_some(o.stdout)
                })
                .collect();
            if copies.iter().all(|x| x.is_some() && *x == copies[0]) {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "copies never became identical after the power loss:\n{}", c.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let logs = (1..=3).map(|n| std::fs::read_to_string(c.dir.join(format!("node-{n}/node.log"))).unwrap_or_default()).collect::<String>();
    assert!(logs.contains("unclean after a host restart"), "the owner says it rebuilt the others from its unclean copy");
}

/// A node's directory, its copies of the volumes and its file-server
/// socket are readable by the node's user only (issue 15).
#[test]
fn local_files_are_the_node_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    let c = TestCluster::start("perms", 3);
    c.wait_healthy(3);
    c.cli_ok(&["object", "create", "p", "--size", "4MiB", "--persistent", "--replicas", "3"]);
    let id = c.wait_healthy(3).objects.iter().find(|o| o.name == "p").expect("object p").id;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777;
    for n in 1..=3 {
        let nd = c.dir.join(format!("node-{n}"));
        assert_eq!(mode(&nd), 0o700, "{}", nd.display());
        assert_eq!(mode(&nd.join("objects")), 0o700);
        assert_eq!(mode(&nd.join(format!("objects/{id}.obj"))), 0o600);
        let sock = nd.join("fs.sock");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !sock.exists() {
            assert!(std::time::Instant::now() < deadline, "no {}", sock.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(mode(&sock), 0o600, "{}", sock.display());
        assert_eq!(mode(&nd.join("node.key")), 0o600);
        // smbd's socket and directory: its user's group when the node runs
        // as root (docs/security.md, "The smbd user"), else the node's alone.
        use std::os::unix::fs::MetadataExt;
        let sd = c.dir.join(format!("node-{n}-smbd"));
        while !sd.join("fs.sock").exists() {
            assert!(std::time::Instant::now() < deadline, "no {}/fs.sock", sd.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        let meta = std::fs::metadata(&sd).unwrap_or_else(|e| panic!("{}: {e}", sd.display()));
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let (_, gid) = common::smbd_ids();
            assert_eq!((meta.permissions().mode() & 0o7777, meta.gid()), (0o1770, gid), "{}", sd.display());
            assert_eq!(mode(&sd.join("fs.sock")), 0o660);
            assert_eq!(std::fs::metadata(sd.join("fs.sock")).unwrap().gid(), gid);
        } else {
            assert_eq!(meta.permissions().mode() & 0o7777, 0o700, "{}", sd.display());
            assert_eq!(mode(&sd.join("fs.sock")), 0o600);
        }
    }
    assert_eq!(mode(&c.dir.join("tls")), 0o700);
    for key in ["tls/ca.key", "tls/client.key"] {
        assert_eq!(mode(&c.dir.join(key)), 0o600, "{key}");
    }
    // Were the socket's mode ever loosened, its peer check still refuses
    // another user: the server closes without reading a byte.
    let nd = c.dir.join("node-1");
    std::fs::set_permissions(&nd, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(nd.join("fs.sock"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let probe = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ns.settimeout(5)\n\
                 try:\n  print('closed' if s.recv(1)==b'' else 'data')\nexcept socket.timeout:\n  print('open')\n";
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", probe])
        .arg(nd.join("fs.sock"))
        .output()
        .expect("run setpriv");
    std::fs::set_permissions(&nd, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(nd.join("fs.sock"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(said.trim(), "closed", "another user's connection to fs.sock: {said} {}", String::from_utf8_lossy(&out.stderr));
}

/// The benchmark prints every key of its JSON contract (no timing checks).
#[test]
fn bench_replicate_prints_its_keys() {
    let c = TestCluster::start("bench", 3);
    c.wait_healthy(3);
    let out = c.cli_ok(&["bench", "replicate", "--json", "--samples", "200", "--seconds", "0.3"]);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("bench JSON");
    for k in [
        "rtt_p50_us",
        "rtt_p99_us",
        "write_512_p50_us",
        "write_512_p99_us",
        "write_512_p999_us",
        "write_4k_p50_us",
        "write_4k_p99_us",
        "ratio_p50",
        "ratio_p99",
        "writes_per_s_1",
        "writes_per_s_8",
        "writes_per_s_32",
        "p99_us_32",
        "link_64_plain_p50_us",
        "link_64_tls_p50_us",
        "link_4k_plain_p50_us",
        "link_4k_tls_p50_us",
    ] {
        assert!(v[k].as_f64().is_some_and(|x| x > 0.0), "key {k} missing or not positive in {v}");
    }
}

/// Runs a benchmark on its own temporary cluster and returns its JSON.
fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(BIN).args(args).env_remove("HOLDFAST_DIR").output().expect("run bench");
    assert!(out.status.success(), "bench {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("bench {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// `bench resync` prints every key of its contract (small object; no timing checks).
#[test]
fn bench_resync_prints_its_keys() {
    let v = bench_json(&["bench", "resync", "--json", "--size", "64MiB", "--samples", "300"]);
    for k in ["stream_gbps", "rebuild_gbps", "rebuild_ratio", "fg_p99_idle_us", "fg_p99_resync_us"] {
        assert!(v[k].as_f64().is_some_and(|x| x > 0.0), "key {k} missing or not positive in {v}");
    }
}

/// `bench failover-store` prints every key of its contract (two trials; no timing checks).
#[test]
fn bench_failover_store_prints_its_keys() {
    let v = bench_json(&["bench", "failover-store", "--json", "--trials", "2"]);
    for k in ["failover_p50_ms", "failover_max_ms"] {
        assert!(v[k].as_f64().is_some_and(|x| x > 0.0), "key {k} missing or not positive in {v}");
    }
    assert_eq!(v["trials"], 2);
}

/// `bench handles` prints every key of its contract (few samples; no timing checks).
#[test]
fn bench_handles_prints_its_keys() {
    let v = bench_json(&["bench", "handles", "--json", "--samples", "200", "--seconds", "0.3"]);
    for k in ["write_p50_us", "put_p50_us", "put_p99_us", "put_overhead_p50_us", "puts_per_s_32"] {
        assert!(v[k].is_number(), "missing {k}: {v}");
    }
}

/// `bench failover` prints every key of its contract (one trial; no timing
/// checks): the Rust SMB client reclaims its persistent handle from the
/// survivor after the service's host is killed under its writes, and
/// nothing is lost.
#[test]
fn bench_failover_prints_its_keys() {
    let v = bench_json(&["bench", "failover", "--json", "--trials", "1"]);
    for k in ["reclaim_p50_ms", "reclaim_max_ms", "write_resume_p50_ms", "baseline_reclaim_p50_ms"] {
        assert!(v[k].as_f64().is_some_and(|x| x > 0.0), "key {k} missing or not positive in {v}");
    }
    assert_eq!(v["trials"], 1);
    assert_eq!(v["lost_handles"], 0, "{v}");
    assert_eq!(v["lost_acked_writes"], 0, "{v}");
    assert_ne!(v["killed"][0], v["new_node"][0], "{v}");
}

/// The failover story (`demo failover`), every step checked: a persistent
/// handle with an RH lease and a byte-range lock; the serving host killed
/// with `kill -9`; another client's conflicting open refused with
/// STATUS_FILE_NOT_AVAILABLE while the handle is disconnected; the service
/// on a survivor at the same address; DH2C returns the same persistent
/// FileId with the lease; the same bytes read back; another client's lock
/// on the range refused, and its blocking lock granted only once the
/// reclaimed handle unlocks; a write after the reclaim; every copy rebuilt.
#[test]
fn demo_failover_story_checks_every_step() {
    let out = std::process::Command::new(BIN)
        .args(["demo", "failover", "--json"])
        .env_remove("HOLDFAST_DIR")
        .output()
        .expect("run demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    let json = text.lines().last().expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let c = &v["checks"];
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(c["persistent_granted"], true, "{c}");
    assert_eq!(c["conflicting_open_refused"], "STATUS_FILE_NOT_AVAILABLE", "{c}");
    assert_eq!(c["same_persistent_file_id"], true, "{c}");
    assert_eq!(c["lease_state_back"], 3, "RH lease back: {c}");
    assert_eq!(c["bytes_read_back"], true, "{c}");
    assert_eq!(c["conflicting_lock"], "STATUS_LOCK_NOT_GRANTED", "{c}");
    assert_eq!(c["blocking_lock_woke"], true, "a blocking lock waits for the reclaimed handle's unlock: {c}");
    assert_eq!(c["stream_read_back"], true, "the stream's last version survives the failover: {c}");
    assert_ne!(c["killed_node"], c["new_node"], "{c}");
    for want in ["kill -9 node", "DH2C reclaimed", "every copy ACTIVE again"] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
}
