//! Running the Python smbprotocol clients of `tests/smb/` from tests.
//!
//! The venv is `$HOLDFAST_SMB_VENV` or `target/smb-venv` (made by
//! `scripts/install-deps.sh`); when missing it is created here
//! (`python3 -m venv`, `pip install -r tests/smb/requirements.txt`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

pub const USER: &str = "tester";
pub const PASSWORD: &str = "Correct-Horse-42";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The venv's python, creating the venv when it is missing.
pub fn venv_python() -> PathBuf {
    let root = workspace_root();
    let venv = std::env::var_os("HOLDFAST_SMB_VENV").map(PathBuf::from).unwrap_or_else(|| root.join("target/smb-venv"));
    let py = venv.join("bin/python3");
    let has_smbprotocol =
        |py: &Path| Command::new(py).args(["-c", "import smbprotocol"]).output().is_ok_and(|o| o.status.success());
    if has_smbprotocol(&py) {
        return py;
    }
    let o = Command::new("python3").args(["-m", "venv"]).arg(&venv).output().expect("run python3 -m venv");
    assert!(
        o.status.success(),
        "python3 -m venv {} failed (apt-get install -y python3-venv, or scripts/install-deps.sh):\n{}",
        venv.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "-r"])
        .arg(root.join("tests/smb/requirements.txt"))
        .output()
        .expect("run pip");
    assert!(o.status.success(), "pip install smbprotocol failed:\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(has_smbprotocol(&py), "smbprotocol not importable from {}", py.display());
    py
}

/// `tests/smb/SCRIPT` against `addr` ("IP:PORT"), as [`USER`], share `share`.
pub fn python_at(py: &Path, script: &str, addr: &str) -> Command {
    let (host, port) = addr.rsplit_once(':').expect("IP:PORT");
    let mut cmd = Command::new(py);
    cmd.arg(workspace_root().join("tests/smb").join(script))
        .env("SMB_HOST", host)
        .env("SMB_PORT", port)
        .env("SMB_USER", USER)
        .env("SMB_PASSWORD", PASSWORD)
        .env("SMB_SHARE", "share");
    cmd
}

/// `failover.py open STATE`: returns once it printed READY (it then holds
/// its persistent handle until a line arrives on its stdin).
pub fn start_opener(py: &Path, addr: &str, state: &Path) -> (Child, std::io::BufReader<std::process::ChildStdout>, String) {
    start_script_opener(py, "failover.py", addr, state)
}

/// `SCRIPT open STATE` for a script of `tests/smb/` that opens, prints
/// READY and holds its handle until a line arrives on its stdin.
#[allow(clippy::zombie_processes)]
pub fn start_script_opener(py: &Path, script: &str, addr: &str, state: &Path) -> (Child, std::io::BufReader<std::process::ChildStdout>, String) {
    use std::io::BufRead;
    let mut opener = python_at(py, script, addr)
        .args(["open", state.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {script} open: {e}"));
    let mut out = std::io::BufReader::new(opener.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            let st = opener.wait();
            panic!("{script} open ended before READY ({st:?}):\n{seen}");
        }
        seen.push_str(&line);
        if line.trim() == "READY" {
            return (opener, out, seen);
        }
    }
}

/// Lets a [`start_opener`] client notice its connection is gone and exit
/// without CLOSE; returns everything it printed.
pub fn finish_opener(mut opener: Child, mut out: std::io::BufReader<std::process::ChildStdout>, mut seen: String) -> String {
    use std::io::Write;
    let _ = opener.stdin.take().unwrap().write_all(b"go\n");
    let _ = std::io::Read::read_to_string(&mut out, &mut seen);
    let st = opener.wait().unwrap();
    assert!(st.success(), "failover.py open failed ({st}):\n{seen}");
    seen
}

/// `failover.py reclaim STATE` against `addr`: DH2C with the same
/// ClientGuid, then the bytes read back. Returns (success, output).
pub fn reclaim(py: &Path, addr: &str, state: &Path) -> (bool, String) {
    run_phase(py, "failover.py", "reclaim", addr, state)
}

/// `SCRIPT PHASE STATE` against `addr`; success is exit 0 with PASS
/// printed. Returns (success, output).
pub fn run_phase(py: &Path, script: &str, phase: &str, addr: &str, state: &Path) -> (bool, String) {
    let o = python_at(py, script, addr).args([phase, state.to_str().unwrap()]).output().unwrap_or_else(|e| panic!("run {script} {phase}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.success() && text.contains("PASS"), text)
}
