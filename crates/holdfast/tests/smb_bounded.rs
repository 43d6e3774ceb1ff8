//! A bounded SMB service (issue 15): real `holdfast smbd` processes on a
//! 3-node cluster, with real clients over real TCP.
//! - 300 idle TCP connections from one address do not lock a real client
//!   (smbclient) out: the ones over `connections_per_ip_max` are closed at
//!   once, and smbclient lists and reads a file while the rest stay open;
//! - a message over `preauth_frame_bytes_max` before any session closes
//!   the connection, while a logged-on client moves 1 MiB per request;
//! - a connection that never negotiates, one that negotiates and never
//!   sets up a session, and one with a session but no open file that goes
//!   quiet are closed after their deadlines; one with an open file is not;
//! - a user's sessions on more than `connections_per_user_max`
//!   connections are refused (STATUS_REQUEST_NOT_ACCEPTED);
//! - a CHANGE_NOTIFY over `async_requests_per_connection_max` gets
//!   STATUS_INSUFFICIENT_RESOURCES, and the places come back when the
//!   waiting ones end;
//! - failed logons are answered after a delay that doubles per failure.
//!
//! Deadlines are set low in the smbd under test and waited for with a
//! generous guard: the test asserts what happens, never how fast.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use holdfast_smb_client::proto::msg::change_notify::{filter, ChangeNotifyRequest};
use holdfast_smb_client::proto::msg::create::{create_options, disposition};
use holdfast_smb_client::proto::{access, Command, FileId};
use holdfast_smb_client::{unc, ClientConfig, Credentials, NtStatus, OpenOptions, SmbClient, Tree};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USER: &str = "tester";
const PASSWORD: &str = "Correct-Horse-42";
const OTHER_USER: &str = "second";

/// How long the test waits for something the server must do before it
/// calls it a hang: far beyond every deadline set below.
const GUARD: Duration = Duration::from_secs(60);

const IDLE_CONNECTIONS: usize = 300;
const PER_IP_MAX: usize = 64;

/// The smbd that keeps connections: deadlines far away, so only the
/// connection limits protect it; the old 256-connection limit.
fn patient_limits() -> String {
    format!(
        "[limits]\nconnections_max = 256\nconnections_per_ip_max = {PER_IP_MAX}\nconnections_per_user_max = 2\n\
         negotiate_ms_max = 600000\nsession_setup_ms_max = 600000\nidle_ms_max = 600000\n\
         async_requests_per_connection_max = 2\n"
    )
}

/// The smbd with short deadlines.
const HASTY_LIMITS: &str = "[limits]\nnegotiate_ms_max = 1000\nsession_setup_ms_max = 3000\nidle_ms_max = 2000\n\
                            logon_failure_delay_ms_min = 100\nlogon_failure_delay_ms_max = 1000\n";

fn creds(user: &str) -> Credentials {
    Credentials::new(user, PASSWORD, "WORKGROUP")
}

async fn logged_on(addr: &str, user: &str) -> (SmbClient, Tree) {
    let mut c = SmbClient::connect(addr, ClientConfig::default()).await.expect("connect");
    c.session_setup(&creds(user), 0).await.expect("log on");
    let tree = c.tree_connect(&unc("127.0.0.1", "share")).await.expect("tree connect");
    (c, tree)
}

/// Waits until the server closes `s` (EOF or reset), reading and
/// discarding whatever it sends; panics if it is still open after GUARD.
async fn closed_by_server(s: &mut tokio::net::TcpStream, what: &str) {
    let mut b = [0u8; 4096];
    let r = tokio::time::timeout(GUARD, async {
        loop {
            match s.read(&mut b).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(r.is_ok(), "{what}: the connection is still open after {GUARD:?}");
}

/// A TCP connection to `addr` from source address `from`.
async fn connect_from(from: &str, addr: &str) -> std::io::Result<tokio::net::TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(format!("{from}:0").parse().expect("source address"))?;
    sock.connect(addr.parse().expect("server address")).await
}

/// smbclient (Samba's) puts a file, lists the share, gets the file back.
fn smbclient_round_trip(c: &common::TestCluster, port: u16) {
    let work = c.dir.join("smbclient-work");
    std::fs::create_dir_all(&work).unwrap();
    let data = common::pattern(100_003, 7);
    std::fs::write(work.join("up.bin"), &data).unwrap();
    let out = std::process::Command::new("smbclient")
        .arg("//127.0.0.1/share")
        .args(["-p", &port.to_string(), "-U", &format!("{USER}%{PASSWORD}"), "-m", "SMB3"])
        .args(["-c", "put up.bin; ls; get up.bin back.bin"])
        .current_dir(&work)
        .output()
        .expect("run smbclient (scripts/install-deps.sh installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "smbclient: {text}");
    assert!(text.contains("up.bin"), "smbclient's listing shows the file: {text}");
    assert_eq!(std::fs::read(work.join("back.bin")).unwrap(), data, "the file read back through smbclient");
}

async fn idle_connections_do_not_lock_out(c: &common::TestCluster, addr: &str, port: u16) {
    // 300 connections from 127.0.0.2 that never send a byte.
    let mut idle = Vec::new();
    for _ in 0..IDLE_CONNECTIONS {
        idle.push(connect_from("127.0.0.2", addr).await.expect("the kernel accepts the connection"));
    }
    // The ones over the per-IP limit are closed at once, not queued.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watchers = Vec::new();
    for mut s in idle {
        let tx = tx.clone();
        watchers.push(tokio::spawn(async move {
            let mut b = [0u8; 16];
            let _ = s.read(&mut b).await;
            let _ = tx.send(());
        }));
    }
    let refused = IDLE_CONNECTIONS - PER_IP_MAX;
    for i in 0..refused {
        let r = tokio::time::timeout(GUARD, rx.recv()).await;
        assert!(r.is_ok(), "only {i} of the {refused} connections over connections_per_ip_max were closed");
    }
    // A real client from another address is served while the other 64
    // idle connections are open.
    tokio::task::block_in_place(|| smbclient_round_trip(c, port));
    let (mut rs, tree) = logged_on(addr, USER).await;
    let o = rs.create(&tree, &OpenOptions::new("up.bin").disposition(disposition::OPEN)).await.expect("open smbclient's file");
    assert_eq!(rs.read(&tree, o.file_id, 0, 10).await.unwrap(), common::pattern(100_003, 7)[..10]);
    rs.close(&tree, o.file_id).await.unwrap();
    assert!(rx.try_recv().is_err(), "an admitted idle connection was closed: the deadlines are far away");
    for w in watchers {
        w.abort();
    }
}

async fn preauth_frames_are_small(addr: &str) {
    // A frame header announcing 100 KiB, then a little of it: refused on
    // the header, not buffered until the rest comes (it never does).
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let len = 100 * 1024u32;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&[0xfe, b'S', b'M', b'B']);
    s.write_all(&framed).await.unwrap();
    closed_by_server(&mut s, "100 KiB frame before NEGOTIATE").await;
    // After a session, large messages are fine.
    let (mut c, tree) = logged_on(addr, USER).await;
    let big = common::pattern(1 << 20, 3);
    let o = c.create(&tree, &OpenOptions::new("big.bin")).await.unwrap();
    c.write(&tree, o.file_id, 0, &big).await.expect("a 1 MiB WRITE after logon");
    assert_eq!(c.read(&tree, o.file_id, 0, big.len() as u32).await.unwrap(), big);
    c.close(&tree, o.file_id).await.unwrap();
}

async fn per_user_limit(addr: &str) {
    let (_a, _) = logged_on(addr, OTHER_USER).await;
    let (_b, _) = logged_on(addr, OTHER_USER).await;
    let mut c = SmbClient::connect(addr, ClientConfig::default()).await.unwrap();
    let e = c.session_setup(&creds(OTHER_USER), 0).await.expect_err("a third connection of the user");
    assert_eq!(e.status(), Some(NtStatus::REQUEST_NOT_ACCEPTED), "{e}");
    // Another user is not held back.
    let _ = logged_on(addr, USER).await;
}

/// The share root, opened as a directory to watch.
async fn open_root(c: &mut SmbClient, tree: &Tree) -> FileId {
    let mut o = OpenOptions::new("").disposition(disposition::OPEN);
    o.create_options = create_options::DIRECTORY_FILE;
    o.desired_access = access::GENERIC_READ;
    c.create(tree, &o).await.expect("open the share root").file_id
}

/// Sends a CHANGE_NOTIFY on `dir` without waiting; its MessageId.
async fn send_notify(c: &mut SmbClient, tree: &Tree, dir: FileId) -> u64 {
    let mut body = BytesMut::new();
    ChangeNotifyRequest { flags: 0, output_buffer_length: 4096, file_id: dir, completion_filter: filter::FILE_NAME }.encode(&mut body);
    let (pdu, id) = c.build_pdu(Command::ChangeNotify, tree.id, &body, true).unwrap();
    c.send_message(&pdu).await.unwrap();
    id
}

/// The next response, which must be to `id` with `status`.
async fn expect_response(c: &mut SmbClient, id: u64, status: NtStatus) {
    let r = tokio::time::timeout(GUARD, c.recv()).await.expect("a response").expect("a response, not a disconnect");
    assert_eq!((r.header.message_id, r.header.status), (id, status), "response to {id}");
}

async fn async_cap(addr: &str) {
    let (mut c, tree) = logged_on(addr, USER).await;
    let dir = open_root(&mut c, &tree).await;
    // Two wait (interim STATUS_PENDING); the third is over the cap of 2.
    for _ in 0..2 {
        let id = send_notify(&mut c, &tree, dir).await;
        expect_response(&mut c, id, NtStatus::PENDING).await;
    }
    let id = send_notify(&mut c, &tree, dir).await;
    let r = c.recv_reply(id).await.expect("an answer to the third CHANGE_NOTIFY");
    assert_eq!(r.status(), NtStatus::INSUFFICIENT_RESOURCES);
    // Closing the handle ends the two and frees their places. (The first
    // gets NOTIFY_CLEANUP; the second, run after the watch went, gets
    // FILE_CLOSED: `handlers/change_notify.rs` reports the close once.)
    c.close(&tree, dir).await.expect("close the watched directory");
    for _ in 0..2 {
        let r = tokio::time::timeout(GUARD, c.recv()).await.expect("a response").expect("a response");
        let st = r.header.status;
        assert!(st == NtStatus::NOTIFY_CLEANUP || st == NtStatus::FILE_CLOSED, "a waiting CHANGE_NOTIFY ended with {st}");
    }
    let dir = open_root(&mut c, &tree).await;
    let id = send_notify(&mut c, &tree, dir).await;
    expect_response(&mut c, id, NtStatus::PENDING).await;
}

async fn deadlines(addr: &str) {
    // Never negotiates.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    closed_by_server(&mut s, "no NEGOTIATE").await;
    // Negotiates, never sets up a session.
    let mut c = SmbClient::connect(addr, ClientConfig::default()).await.unwrap();
    let r = tokio::time::timeout(GUARD, c.recv()).await.expect("no SESSION_SETUP: still open after the guard");
    assert!(r.is_err_and(|e| e.is_disconnect()), "no SESSION_SETUP: closed");
    // A session with an open file, then one with none: the second is
    // closed when idle; the first, idle longer, still serves.
    let (mut busy, tb) = logged_on(addr, USER).await;
    let o = busy.create(&tb, &OpenOptions::new("kept.bin")).await.unwrap();
    busy.write(&tb, o.file_id, 0, b"kept").await.unwrap();
    let (mut quiet, _) = logged_on(addr, USER).await;
    let r = tokio::time::timeout(GUARD, quiet.recv()).await.expect("idle with no open file: still open after the guard");
    assert!(r.is_err_and(|e| e.is_disconnect()), "idle with no open file: closed");
    assert_eq!(busy.read(&tb, o.file_id, 0, 4).await.expect("the connection with an open file lives"), b"kept");
    busy.close(&tb, o.file_id).await.unwrap();
}

async fn logon_backoff(addr: &str, log: impl Fn() -> String) {
    for _ in 0..3 {
        let mut c = SmbClient::connect(addr, ClientConfig::default()).await.unwrap();
        let e = c.session_setup(&Credentials::new(USER, "wrong-password", "WORKGROUP"), 0).await.unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::LOGON_FAILURE), "{e}");
    }
    assert_eq!(delays(&log()), [100, 200, 400], "each failure from the address waits twice as long");
    // A good logon from the address starts the count again.
    let _ = logged_on(addr, USER).await;
    let mut c = SmbClient::connect(addr, ClientConfig::default()).await.unwrap();
    let _ = c.session_setup(&Credentials::new(USER, "wrong-again", "WORKGROUP"), 0).await.unwrap_err();
    assert_eq!(delays(&log()), [100, 200, 400, 100], "the delay after a good logon");
}

/// The delays smbd logged for failed logons, in order.
fn delays(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains("logon failed: reply delayed"))
        .filter_map(|l| l.split("delay_ms=").nth(1))
        .map(|v| v.chars().take_while(char::is_ascii_digit).collect::<String>().parse().expect("a delay in ms"))
        .collect()
}

#[test]
fn a_bounded_smb_service() {
    // The smbd this starts with default limits is not used.
    let (c, _default_smbd, _) = common::smb_cluster_with_smbd("smb-bounded", USER, PASSWORD);
    c.cli_ok(&["user", "add", OTHER_USER, "--password", PASSWORD]);
    let node = common::serving_node(&c, "share");
    let patient_port = common::free_base_port(1) + 1;
    let _patient = common::start_smbd_with(&c, node, patient_port, "patient", &patient_limits());
    let hasty_port = common::free_base_port(1) + 1;
    let _hasty = common::start_smbd_with(&c, node, hasty_port, "hasty", HASTY_LIMITS);
    let patient = format!("127.0.0.1:{patient_port}");
    let hasty = format!("127.0.0.1:{hasty_port}");
    let hasty_log = || std::fs::read_to_string(c.dir.join("hasty.log")).unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        idle_connections_do_not_lock_out(&c, &patient, patient_port).await;
        preauth_frames_are_small(&patient).await;
        per_user_limit(&patient).await;
        async_cap(&patient).await;
        deadlines(&hasty).await;
        logon_backoff(&hasty, hasty_log).await;
    });
}
