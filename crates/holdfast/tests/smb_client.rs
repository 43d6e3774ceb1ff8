//! The SMB service against a client we did not write: smbclient (Samba)
//! logs on as a real user over SMB 3 with signing and does mkdir, put,
//! ls, get, rename, del and rmdir on the CA share of a 3-node cluster, and
//! puts, lists and gets an alternate data stream.
//! `smbclient -L` lists the shares through the srvsvc pipe on IPC$.
//! smbclient must be installed: `scripts/install-deps.sh` installs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{free_base_port, pattern, serving_node, smb_cluster_with_smbd, start_smbd, TestCluster};

const USER: &str = "tester";
const PASSWORD: &str = "Correct-Horse-42";
/// Bytes of the file put and got back: several 64 KiB writes and reads.
const FILE_BYTES: usize = 1_000_003;

fn have_smbclient() -> bool {
    Command::new("smbclient").arg("--version").output().is_ok_and(|o| o.status.success())
}

fn smbclient(port: u16, creds: &str, workdir: &Path, commands: &str) -> Output {
    smbclient_with(port, creds, workdir, commands, &["-m", "SMB3"])
}

fn smbclient_with(port: u16, creds: &str, workdir: &Path, commands: &str, extra: &[&str]) -> Output {
    Command::new("smbclient")
        .arg("//127.0.0.1/share")
        .args(["-p", &port.to_string(), "-U", creds, "-c", commands])
        .args(extra)
        .current_dir(workdir)
        .output()
        .expect("run smbclient")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn smbd_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("smbd.log")).unwrap_or_default()
}

#[test]
fn smbclient_put_get_ls_mkdir_rename_del() {
    assert!(have_smbclient(), "smbclient is not installed: run scripts/install-deps.sh (apt-get install -y smbclient)");
    let c = TestCluster::start_with("smb-client", 3, &["--volume-size", "64MiB"]);
    c.wait_healthy(3);
    c.cli_ok(&["volume", "ensure"]);
    c.cli_ok(&["user", "add", USER, "--password", PASSWORD]);
    let users = String::from_utf8(c.cli_ok(&["user", "list"])).unwrap();
    assert!(users.lines().any(|l| l == USER), "user list: {users}");
    let node = serving_node(&c, "share");
    let port = free_base_port(1) + 1;
    let _smbd = start_smbd(&c, node, port, "smbd");

    let work: PathBuf = c.dir.join("client");
    std::fs::create_dir_all(&work).unwrap();
    let data = pattern(FILE_BYTES, 7);
    std::fs::write(work.join("localfile"), &data).unwrap();
    let creds = format!("{USER}%{PASSWORD}");

    let o = smbclient(
        port,
        &creds,
        &work,
        "mkdir d; put localfile d\\f; ls d\\*; get d\\f out; rename d\\f d\\g; ls d\\*; del d\\g; rmdir d; ls",
    );
    let t = text(&o);
    assert!(o.status.success(), "smbclient failed:\n{t}\n{}", smbd_log(&c.dir));
    assert!(!t.contains("NT_STATUS_"), "an operation failed:\n{t}\n{}", smbd_log(&c.dir));
    let listed = |name: &str| t.lines().any(|l| l.trim_start().starts_with(name) && l.contains(&FILE_BYTES.to_string()));
    assert!(listed("f "), "ls d\\* shows f:\n{t}");
    assert!(listed("g "), "ls after rename shows g:\n{t}");
    assert_eq!(std::fs::read(work.join("out")).expect("got the file"), data, "get returns the bytes put");
    // The final `ls` of the root lists neither d nor g.
    let last_ls = t.rsplit_once("..").map(|(_, rest)| rest).unwrap_or("");
    assert!(!last_ls.lines().any(|l| l.trim_start().starts_with("d ")), "d removed:\n{t}");

    // Alternate data streams: a stream put beside a file's data (as a
    // browser's Zone.Identifier), listed by allinfo, read back, carried by
    // a rename and removed with its file.
    let zone = b"[ZoneTransfer]\r\nZoneId=3\r\n";
    std::fs::write(work.join("zone"), zone).unwrap();
    let o = smbclient(
        port,
        &creds,
        &work,
        "put localfile s.txt; put zone s.txt:Zone.Identifier; allinfo s.txt; rename s.txt t.txt; get t.txt:Zone.Identifier zone-out; get t.txt data-out; allinfo t.txt",
    );
    let t = text(&o);
    assert!(o.status.success() && !t.contains("NT_STATUS_"), "streams:\n{t}\n{}", smbd_log(&c.dir));
    let streams: Vec<&str> = t.lines().filter(|l| l.starts_with("stream:")).collect();
    assert_eq!(streams.len(), 4, "allinfo lists ::$DATA and the named stream, before and after the rename:\n{t}");
    assert!(streams.iter().any(|l| l.contains("[:Zone.Identifier:$DATA]") && l.contains(&format!("{} bytes", zone.len()))), "{t}");
    assert!(streams.iter().any(|l| l.contains("[::$DATA]") && l.contains(&FILE_BYTES.to_string())), "{t}");
    assert_eq!(std::fs::read(work.join("zone-out")).unwrap(), zone, "the stream's bytes");
    assert_eq!(std::fs::read(work.join("data-out")).unwrap(), data, "the file's own data is untouched by its stream");
    let o = smbclient(port, &creds, &work, "del t.txt; get t.txt:Zone.Identifier gone");
    assert!(text(&o).contains("NT_STATUS_OBJECT_NAME_NOT_FOUND"), "the stream goes with its file:\n{}", text(&o));
    for bad in ["t.txt:s:$INDEX_ALLOCATION", "t.txt:a:b"] {
        let o = smbclient(port, &creds, &work, &format!("put zone {bad}"));
        assert!(text(&o).contains("NT_STATUS_OBJECT_NAME_INVALID"), "{bad}:\n{}", text(&o));
    }

    // A wrong password is refused.
    let o = smbclient(port, &format!("{USER}%wrong-password"), &work, "ls");
    assert!(text(&o).contains("NT_STATUS_LOGON_FAILURE"), "wrong password:\n{}", text(&o));

    // A path escape fails with an NTSTATUS, and the server keeps serving.
    let o = smbclient(port, &creds, &work, "get ..\\..\\etc\\passwd escaped");
    assert!(text(&o).contains("NT_STATUS_"), "path escape:\n{}", text(&o));
    assert!(!work.join("escaped").exists(), "nothing outside the share was read");
    let o = smbclient(port, &creds, &work, "ls");
    assert!(o.status.success() && !text(&o).contains("NT_STATUS_"), "still serving:\n{}", text(&o));

    // Every dialect logs on and lists (signed with HMAC-SHA256 on 2.x,
    // AES-CMAC on 3.x).
    for d in ["SMB2_02", "SMB2_10", "SMB3_00", "SMB3_02", "SMB3_11"] {
        let min = format!("client min protocol={d}");
        let max = format!("client max protocol={d}");
        let o = smbclient_with(port, &creds, &work, "ls", &["--option", &min, "--option", &max]);
        assert!(o.status.success() && !text(&o).contains("NT_STATUS_"), "dialect {d}:\n{}", text(&o));
    }

    // Encryption when the client asks for it (AES-128-GCM on 3.1.1,
    // AES-128-CCM on 3.0).
    for d in ["SMB3_11", "SMB3_00"] {
        let max = format!("client max protocol={d}");
        let _ = std::fs::remove_file(work.join("enc-out"));
        let o = smbclient_with(
            port,
            &creds,
            &work,
            "put localfile enc; get enc enc-out; del enc",
            &["-m", "SMB3", "--option", &max, "--client-protection=encrypt"],
        );
        assert!(o.status.success() && !text(&o).contains("NT_STATUS_"), "encrypted {d}:\n{}", text(&o));
        assert_eq!(std::fs::read(work.join("enc-out")).expect("got the file encrypted"), data, "encrypted {d}");
    }
}

/// `smbclient -L` (what Explorer's browsing does too): IPC$, the srvsvc
/// pipe, a DCE/RPC bind and NetrShareEnum level 1. The CA share is
/// listed as a disk share, IPC$ as IPC; on SMB 3.1.1 and on 2.0.2.
#[test]
fn smbclient_lists_shares() {
    assert!(have_smbclient(), "smbclient is not installed: run scripts/install-deps.sh (apt-get install -y smbclient)");
    let (c, _smbd, addr) = smb_cluster_with_smbd("smb-list", USER, PASSWORD);
    let port = addr.rsplit_once(':').unwrap().1.to_string();
    for dialect in ["SMB3_11", "SMB2_02"] {
        let o = Command::new("smbclient")
            .args(["-L", "//127.0.0.1", "-p", &port, "-U", &format!("{USER}%{PASSWORD}")])
            .args(["--option", &format!("client min protocol={dialect}"), "--option", &format!("client max protocol={dialect}")])
            .output()
            .expect("run smbclient -L");
        let t = text(&o);
        assert!(o.status.success(), "smbclient -L failed on {dialect}:\n{t}\n{}", smbd_log(&c.dir));
        // Lines are "<name> <type> <comment>", tab- and space-separated.
        let row = |name: &str| t.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|w| w.first() == Some(&name));
        assert_eq!(row("share").and_then(|w| w.get(1).copied()), Some("Disk"), "the CA share as a disk share ({dialect}):\n{t}");
        assert_eq!(row("IPC$").and_then(|w| w.get(1).copied()), Some("IPC"), "IPC$ ({dialect}):\n{t}");
    }
}
