//! Whole-cluster restarts (docs/restarts.md), with real processes and a
//! client we did not write (smbclient, Python smbprotocol):
//! - `up`, a file written through SMB, Ctrl-C (SIGTERM), `up` again: the
//!   file reads back, new opens work, the connection line is the same;
//! - a power cut (SIGKILL of every process): the volume mounts again, the
//!   handle table comes back empty under a new incarnation, an old DH2C is
//!   STATUS_OBJECT_NAME_NOT_FOUND, and `status` shows the reset and how many
//!   records were lost;
//! - a crash of every process while writes are in flight (crash.py): the
//!   volume mounts, `holdfast fsck` is clean, every flushed file reads back
//!   whole and no file holds bytes that were never written to it;
//! - a planned stop (`holdfast cluster stop`): the handle table is parked
//!   on the volume, and after the restart the client reclaims its handle
//!   with DH2C, its bytes and its byte-range lock intact.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::smbpy::{finish_opener, run_phase, start_script_opener, venv_python, PASSWORD, USER};
use common::{free_base_port, service_addr, temp_dir, wait_service, TestCluster, BIN};
use holdfast_wire::control::{ControlRequest, ObjectView, StatusView};

/// `holdfast up` in the background; returns the child and the
/// `smbclient //…` line it printed once the cluster was up.
fn start_up(dir: &Path, base: u16, smb_port: u16) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("--dir")
        .arg(dir)
        .args(["up", "--base-port", &base.to_string(), "--smb-port", &smb_port.to_string(), "--memory", "1GiB", "--volume-size", "64MiB"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start holdfast up");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            let st = child.wait();
            panic!("holdfast up ended before printing how to connect ({st:?}):\n{seen}");
        }
        seen.push_str(&line);
        if line.trim_start().starts_with("smbclient //") {
            // The rest of the output is not needed; keep the pipe drained.
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            return (child, line.trim().to_string());
        }
        assert!(!line.contains("not started"), "the SMB service did not start:\n{seen}");
    }
}

/// SIGTERM to `up` (as Ctrl-C), then waits for it to exit cleanly.
fn stop_up(mut up: Child) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(up.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = up.try_wait().unwrap() {
            assert!(st.success(), "holdfast up exited with {st} after SIGTERM");
            return;
        }
        assert!(Instant::now() < deadline, "holdfast up still running 60 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn smbclient(dir: &Path, smb_port: u16, cmd: &str) -> String {
    let o = Command::new("smbclient")
        .args(["//127.0.0.1/share", "-p", &smb_port.to_string(), "-m", "SMB3", "-A"])
        .arg(dir.join("smb-credentials"))
        .args(["-c", cmd])
        .output()
        .expect("run smbclient");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success() && !text.contains("NT_STATUS_"), "smbclient -c {cmd:?} failed:\n{text}");
    text
}

#[test]
fn up_stop_up_keeps_the_share_and_its_files() {
    let dir = temp_dir("restart-up");
    let base = free_base_port(3);
    let smb_port = free_base_port(1) + 1;
    let local = temp_dir("restart-up-files");
    std::fs::create_dir_all(&local).unwrap();
    let data = common::pattern(300_000, 11);
    std::fs::write(local.join("day1.bin"), &data).unwrap();

    let (up, first_line) = start_up(&dir, base, smb_port);
    smbclient(&dir, smb_port, &format!("lcd {}; put day1.bin", local.display()));
    stop_up(up);

    let (up, second_line) = start_up(&dir, base, smb_port);
    assert_eq!(second_line, first_line, "the second `up` prints the same connection line");
    smbclient(&dir, smb_port, &format!("lcd {}; get day1.bin back.bin", local.display()));
    assert_eq!(std::fs::read(local.join("back.bin")).unwrap(), data, "the file written before the restart reads back");
    smbclient(&dir, smb_port, &format!("lcd {}; put day1.bin day2.bin", local.display()));
    let listing = smbclient(&dir, smb_port, "ls");
    assert!(listing.contains("day1.bin") && listing.contains("day2.bin"), "{listing}");
    assert!(!listing.contains(".holdfast"), "the parked table never shows: {listing}");
    stop_up(up);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&local);
}

fn handle_object(s: &StatusView) -> &ObjectView {
    s.objects.iter().find(|o| o.name == "vol-share-handles").expect("the share's handle object")
}

/// Polls the status until `ok` accepts it.
fn wait_status(c: &TestCluster, what: &str, ok: impl Fn(&StatusView) -> bool) -> StatusView {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = c.cli(&["status", "--json"]);
        if out.status.success() {
            let s: StatusView = serde_json::from_slice(&out.stdout).expect("status JSON");
            if ok(&s) {
                return s;
            }
        }
        assert!(Instant::now() < deadline, "{what}: not within 60 s\n{}", c.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A cluster whose nodes run the share's service, with SMB user [`USER`].
fn service_cluster(tag: &str) -> (TestCluster, String) {
    let (c, addr, _) = common::smb_cluster_with_service(tag, USER, PASSWORD);
    (c, addr)
}

/// Every node process up again; waits for the service to answer.
fn start_all(c: &mut TestCluster) {
    for id in 1..=3 {
        c.start_node(id);
    }
    c.wait_healthy(3);
    wait_service(c, "share", None, None);
}

#[test]
fn power_cut_resets_the_handle_table_and_the_share_comes_back() {
    let py = venv_python();
    let (mut c, addr) = service_cluster("restart-power");
    let state = c.dir.join("restart-state.json");
    let (opener, out, seen) = start_script_opener(&py, "restart.py", &addr, &state);
    // What the reset will report as lost: the census has counted the handle.
    wait_status(&c, "the handle census counts the open", |s| handle_object(s).table.census.as_ref().is_some_and(|n| n.records >= 1));

    // A power cut: every process of every host, at once, without a word.
    crash_everything(&mut c);
    finish_opener(opener, out, seen);

    start_all(&mut c);
    let (ok, text) = run_phase(&py, "restart.py", "gone", &addr, &state);
    assert!(ok, "after a power cut:\n{text}\n{}", c.logs());

    let s = c.status();
    let h = handle_object(&s);
    assert_eq!(h.incarnation, 1, "the handle table came back under a new incarnation");
    let r = h.table.resets.last().expect("the reset is recorded");
    assert_eq!((r.incarnation, r.restored_from, r.records_lost), (1, None, Some(1)), "{r:?}");
    let text = String::from_utf8(c.cli_ok(&["status"])).unwrap();
    assert!(text.contains("reset EMPTY after every RAM copy was lost: 1 handle record(s) lost"), "{text}");
    let logs = (1..=3).map(|n| std::fs::read_to_string(c.dir.join(format!("node-{n}/node.log"))).unwrap_or_default()).collect::<String>();
    assert!(logs.contains("handle_table_reset") && logs.contains("records_lost=\"1\""), "the reset is logged as an event naming its volume");
    assert_eq!(service_addr(&c, "share"), addr);
}

/// SIGKILL of every smbd and node process at once.
fn crash_everything(c: &mut TestCluster) {
    for id in 1..=3u64 {
        if let Ok(pid) = std::fs::read_to_string(c.dir.join(format!("node-{id}/smbd-share.pid"))) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill(2) on a pid our cluster's node wrote.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
    c.kill_all();
}

#[test]
fn crash_of_every_host_mid_writes_keeps_flushed_files_and_exposes_no_foreign_bytes() {
    let py = venv_python();
    let (mut c, addr) = service_cluster("restart-crash");
    let state = c.dir.join("crash-state.json");
    let (writer, out, seen) = start_script_opener(&py, "crash.py", &addr, &state);
    // Let unflushed writes pile up, then crash everything in their midst.
    std::thread::sleep(Duration::from_millis(700));
    crash_everything(&mut c);
    let seen = finish_opener(writer, out, seen);

    start_all(&mut c);
    let (ok, text) = run_phase(&py, "crash.py", "check", &addr, &state);
    assert!(ok, "after a crash mid-writes:\n{seen}{text}\n{}", c.logs());
    println!("{seen}{text}");
    // `fsck` exits non-zero on any problem (cli_ok would fail).
    let fsck = String::from_utf8(c.cli_ok(&["fsck", "share"])).unwrap();
    println!("{fsck}");
    assert!(fsck.contains("file system: generation") && !fsck.contains("problem:"), "fsck after the crash: {fsck}");
}

#[test]
fn planned_stop_keeps_persistent_handles() {
    let py = venv_python();
    let (mut c, addr) = service_cluster("restart-planned");
    let state = c.dir.join("restart-state.json");
    let (opener, out, seen) = start_script_opener(&py, "restart.py", &addr, &state);

    let stop = String::from_utf8(c.cli_ok(&["cluster", "stop"])).unwrap();
    assert!(stop.contains("volume \"share\": 1 handle record(s) parked on the volume"), "{stop}");
    // Every node exits by itself, cleanly.
    let deadline = Instant::now() + Duration::from_secs(30);
    for (id, child) in c.children.iter_mut() {
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                assert!(st.success(), "node {id} exited with {st} at the planned stop");
                break;
            }
            assert!(Instant::now() < deadline, "node {id} still running 30 s after `cluster stop`");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    finish_opener(opener, out, seen);

    start_all(&mut c);
    let (ok, text) = run_phase(&py, "restart.py", "reclaim", &addr, &state);
    assert!(ok, "after a planned stop:\n{text}\n{}", c.logs());
    let s = c.status();
    let h = handle_object(&s);
    let r = h.table.resets.last().expect("the restore is recorded");
    assert_eq!((r.restored_from, r.records_restored, r.records_lost), (Some(0), 1, Some(0)), "{r:?}");
    assert!(h.table.parked.is_none() && s.stopping.is_none());
    // Outside a planned stop a node refuses to shut down on request: that
    // would take one host down by mistake.
    let r = common::runtime().block_on(c.client().control_at(1, &ControlRequest::Shutdown));
    let e = r.expect_err("Shutdown outside a planned stop");
    assert!(e.to_string().contains("no planned stop is under way"), "{e}");
}
