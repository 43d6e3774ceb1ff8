//! `holdfast bench io --json` end to end: a temporary 3-node cluster with
//! its smbd and Samba's smbd, both driven by the SMB client. Checks the
//! report's shape only; the numbers are for people, never asserted.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");
/// Each figure comes as holdfast_*, samba_* and ratio_*.
const FIGURES: [&str; 10] = [
    "seq_write_mb_s",
    "seq_read_mb_s",
    "rand_iops_1",
    "rand_p50_us_1",
    "rand_p99_us_1",
    "meta_ops_per_s_1",
    "rand_iops_16",
    "rand_p50_us_16",
    "rand_p99_us_16",
    "meta_ops_per_s_16",
];

#[test]
fn bench_io_json_has_every_key() {
    assert!(
        std::path::Path::new("/usr/sbin/smbd").exists(),
        "Samba's smbd is not installed: run scripts/install-deps.sh (apt-get install -y samba)"
    );
    let o = Command::new(BIN)
        .args(["bench", "io", "--json", "--seq-mib", "2", "--seconds", "0.3"])
        .env_remove("HOLDFAST_DIR")
        .output()
        .expect("run holdfast bench io");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "bench io failed:\n{stdout}\n{stderr}");
    let line = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    let obj = v.as_object().expect("a JSON object");
    for f in FIGURES {
        for who in ["holdfast", "samba", "ratio"] {
            let k = format!("{who}_{f}");
            let x = obj.get(&k).unwrap_or_else(|| panic!("missing key {k}: {line}"));
            assert!(x.as_f64().is_some_and(|x| x.is_finite() && x >= 0.0), "{k} is not a number >= 0: {line}");
        }
    }
    assert_eq!(obj.len(), 3 * FIGURES.len(), "exactly the documented keys: {line}");
}
