//! `holdfast bench smb --json` end to end: a temporary 3-node cluster with
//! its smbd and Samba's smbd, both driven by the SMB client. Checks the
//! report's shape only; the numbers are for people, never asserted.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");
const KEYS: [&str; 8] = [
    "holdfast_ops_per_s_1",
    "samba_ops_per_s_1",
    "holdfast_ops_per_s_16",
    "samba_ops_per_s_16",
    "ratio_1",
    "ratio_16",
    "holdfast_open_p50_us",
    "samba_open_p50_us",
];

#[test]
fn bench_smb_json_has_every_key() {
    assert!(
        std::path::Path::new("/usr/sbin/smbd").exists(),
        "Samba's smbd is not installed: run scripts/install-deps.sh (apt-get install -y samba)"
    );
    let o = Command::new(BIN)
        .args(["bench", "smb", "--json", "--seconds", "0.5", "--warmup-seconds", "0.2"])
        .env_remove("HOLDFAST_DIR")
        .output()
        .expect("run holdfast bench smb");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "bench smb failed:\n{stdout}\n{stderr}");
    let line = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    let obj = v.as_object().expect("a JSON object");
    for k in KEYS {
        let x = obj.get(k).unwrap_or_else(|| panic!("missing key {k}: {line}"));
        assert!(x.as_f64().is_some_and(f64::is_finite), "{k} is not a finite number: {line}");
    }
    assert_eq!(obj.len(), KEYS.len(), "exactly the documented keys: {line}");
}
