//! Samba's smbtorture against the SMB service: the durable, persistent,
//! replay, lock-replay and change-notify suites, and the broad suites of
//! Windows semantics (create, read, rw, dir, rename, getinfo, setinfo,
//! lock, oplock, lease) on the CA share, and the persistent-open
//! tests on a non-CA share as well (where persistence must be refused).
//! Results are compared with `tests/smbtorture/expected.txt`: anything
//! not listed there must succeed, and everything listed must happen as
//! listed. `scripts/install-deps.sh` installs smbtorture
//! (samba-testsuite).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::{free_base_port, serving_node, start_smbd, TestCluster, BIN};

const USER: &str = "torture";
const PASSWORD: &str = "Torture-Pass-42";

/// (share, suite, time limit in seconds) runs. Suites run whole; names
/// in results are `suite.test`. A run that reaches its time limit fails
/// the test (a hang is a bug, not a skip).
const RUNS: &[(&str, &str, u64)] = &[
    ("share", "smb2.durable-open", 600),
    ("share", "smb2.durable-v2-open", 600),
    ("share", "smb2.durable-v2-delay", 300),
    ("share", "smb2.durable-open-disconnect", 120),
    ("share", "smb2.replay", 600),
    ("share", "smb2.notify", 300),
    ("plain", "smb2.durable-v2-open.persistent-open-oplock", 120),
    ("plain", "smb2.durable-v2-open.persistent-open-lease", 120),
    // The broad suites of Windows file semantics (issue 13).
    ("share", "smb2.create", 180),
    ("share", "smb2.read", 120),
    ("share", "smb2.rw", 180),
    ("share", "smb2.dir", 180),
    ("share", "smb2.rename", 180),
    ("share", "smb2.getinfo", 120),
    ("share", "smb2.setinfo", 120),
    // Holds lock.replay_smb3_specification_durable (the lock-replay rule).
    ("share", "smb2.lock", 180),
    ("share", "smb2.oplock", 400),
    ("share", "smb2.lease", 400),
    // Server-side copy, sparse files and re-authentication, out of wider
    // suites whose other tests need what is not built (compression,
    // multi-channel, reparse points).
    ("share", "smb2.ioctl.req_resume_key", 60),
    ("share", "smb2.ioctl.copy_chunk_simple", 60),
    ("share", "smb2.ioctl.copy_chunk_multi", 60),
    ("share", "smb2.ioctl.copy_chunk_limits", 60),
    ("share", "smb2.ioctl.copy_chunk_src_lock", 60),
    ("share", "smb2.ioctl.copy_chunk_dest_lock", 60),
    ("share", "smb2.ioctl.copy_chunk_bad_key", 60),
    ("share", "smb2.ioctl.copy_chunk_src_is_dest_overlap", 60),
    ("share", "smb2.ioctl.copy_chunk_bad_access", 60),
    ("share", "smb2.ioctl.copy_chunk_write_access", 60),
    ("share", "smb2.ioctl.copy_chunk_src_exceed_multi", 60),
    ("share", "smb2.ioctl.copy_chunk_max_output_sz", 60),
    ("share", "smb2.ioctl.copy_chunk_zero_length", 60),
    ("share", "smb2.session.reauth1", 60),
    ("share", "smb2.ioctl.sparse_file_flag", 60),
    ("share", "smb2.ioctl.sparse_file_attr", 60),
    ("share", "smb2.ioctl.sparse_dir_flag", 60),
    ("share", "smb2.ioctl.sparse_set_nobuf", 60),
    ("share", "smb2.ioctl.sparse_set_oversize", 60),
    ("share", "smb2.ioctl.sparse_qar", 60),
    ("share", "smb2.ioctl.sparse_qar_malformed", 60),
    ("share", "smb2.ioctl.sparse_punch", 60),
    ("share", "smb2.ioctl.sparse_hole_dealloc", 60),
    ("share", "smb2.ioctl.sparse_compressed", 60),
    ("share", "smb2.ioctl.sparse_copy_chunk", 60),
    ("share", "smb2.ioctl.sparse_punch_invalid", 60),
    ("share", "smb2.ioctl.sparse_perms", 60),
    ("share", "smb2.ioctl.sparse_lock", 60),
    ("share", "smb2.ioctl.sparse_qar_multi", 60),
    ("share", "smb2.ioctl.sparse_qar_overflow", 60),
    ("share", "smb2.ioctl.compress_notsup_get", 60),
    ("share", "smb2.ioctl.compress_notsup_set", 60),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Success,
    Fail,
    Skip,
}

fn have_smbtorture() -> bool {
    Command::new("smbtorture").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// `success: NAME`, `failure: NAME [`, `error: NAME [`, `skip: NAME [`.
fn parse(out: &str) -> Vec<(String, Outcome)> {
    out.lines()
        .filter_map(|l| {
            let (kind, rest) = l.split_once(": ")?;
            let outcome = match kind {
                "success" => Outcome::Success,
                "failure" | "error" => Outcome::Fail,
                "skip" => Outcome::Skip,
                _ => return None,
            };
            let name = rest.trim_end_matches('[').trim().to_string();
            Some((name, outcome))
        })
        .collect()
}

/// The expected non-successes: (share, name) -> outcome.
fn expected() -> BTreeMap<(String, String), Outcome> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/smbtorture/expected.txt");
    let text = std::fs::read_to_string(&path).expect("read expected.txt");
    let mut m = BTreeMap::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = l.splitn(4, ' ').collect();
        assert!(f.len() == 4 && !f[3].trim().is_empty(), "expected.txt line {}: want `share name fail|skip reason`", i + 1);
        let o = match f[2] {
            "fail" => Outcome::Fail,
            "skip" => Outcome::Skip,
            k => panic!("expected.txt line {}: unknown kind {k:?}", i + 1),
        };
        m.insert((f[0].to_string(), f[1].to_string()), o);
    }
    m
}

/// Appends the non-CA share `plain` (a directory of the same volume) to
/// the cluster config before the nodes start.
fn start_cluster() -> TestCluster {
    let dir = common::temp_dir("smbtorture");
    let base = free_base_port(3);
    let out = Command::new(BIN)
        .args(["--dir", dir.to_str().unwrap(), "init", "--nodes", "3", "--base-port", &base.to_string(), "--memory", "2GiB"])
        .args(["--volume-size", "256MiB"])
        .output()
        .expect("run holdfast init");
    assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
    let cfg = dir.join("cluster.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[[shares]]\nname = \"plain\"\nvolume = \"share\"\npath = \"plain\"\nca = false\n");
    std::fs::write(&cfg, text).unwrap();
    let info = holdfast_client::ClusterInfo::load(&dir).expect("load cluster");
    let mut c = TestCluster { dir, info, children: Default::default() };
    for id in 1..=3 {
        c.start_node(id);
    }
    c
}

#[test]
fn smbtorture_suites_match_expected() {
    assert!(have_smbtorture(), "smbtorture is not installed: run scripts/install-deps.sh (apt-get install -y samba-testsuite)");
    let c = start_cluster();
    c.wait_healthy(3);
    c.cli_ok(&["volume", "ensure"]);
    c.cli_ok(&["user", "add", USER, "--password", PASSWORD]);
    let node = serving_node(&c, "share");
    serving_node(&c, "plain");
    let port = free_base_port(1) + 1;
    let _smbd = start_smbd(&c, node, port, "smbd");

    let expected = expected();
    let mut seen: BTreeMap<(String, String), Outcome> = BTreeMap::new();
    let mut problems = Vec::new();
    for (share, suite, limit_s) in RUNS {
        let started = std::time::Instant::now();
        let out = Command::new("timeout")
            .args([&limit_s.to_string(), "smbtorture", &format!("//127.0.0.1/{share}"), "-p", &port.to_string()])
            .arg(format!("-U{USER}%{PASSWORD}"))
            // The notify tests check that a buffer one byte over the
            // largest the server takes (its MaxTransactSize) is refused.
            .arg(format!("--option=torture:cn_max_buffer_size={}", holdfast_types::limits::IO_BYTES_MAX))
            .arg(suite)
            .output()
            .expect("run smbtorture");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        std::fs::write(c.dir.join(format!("torture-{share}-{suite}.log")), &text).unwrap();
        let results = parse(&text);
        eprintln!("smbtorture {share} {suite}: {} results in {:.0} s", results.len(), started.elapsed().as_secs_f64());
        if out.status.code() == Some(124) {
            problems.push(format!("{share} {suite}: still running after {limit_s} s (a hang?); see the log in {}", c.dir.display()));
        }
        if results.is_empty() {
            problems.push(format!("{share} {suite}: no results (exit {:?})\n{text}", out.status.code()));
        }
        // A single test run names only the test; a suite run names tests
        // relative to the suite.
        let prefix = match suite.matches('.').count() {
            n if n >= 2 => suite.rsplit_once('.').unwrap().0.to_string(),
            _ => suite.to_string(),
        };
        for (name, o) in results {
            let key = (share.to_string(), format!("{prefix}.{name}"));
            if seen.insert(key.clone(), o).is_some() {
                problems.push(format!("{} {}: reported twice", key.0, key.1));
            }
        }
    }
    for (key, got) in &seen {
        let want = expected.get(key).copied().unwrap_or(Outcome::Success);
        if *got != want {
            problems.push(format!("{} {}: got {got:?}, expected {want:?} (see the log in {})", key.0, key.1, c.dir.display()));
        }
    }
    let ran: BTreeSet<&(String, String)> = seen.keys().collect();
    for key in expected.keys() {
        if !ran.contains(key) {
            problems.push(format!("{} {}: listed in expected.txt but did not run", key.0, key.1));
        }
    }
    let passed = seen.values().filter(|o| **o == Outcome::Success).count();
    eprintln!("smbtorture: {} results, {passed} successes, {} expected non-successes", seen.len(), expected.len());
    assert!(problems.is_empty(), "smbtorture:\n{}", problems.join("\n"));
}
