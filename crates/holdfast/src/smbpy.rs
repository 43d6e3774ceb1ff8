//! The Python smbprotocol client (`tests/smb/failover.py`) as the CLI runs
//! it for `bench failover` and `demo failover`: the scripts are built into
//! the binary and written to the cluster directory, so both run from the
//! binary alone (with a Python that has smbprotocol).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

/// The SMB user these clients log on as (added with a random password).
pub const USER: &str = "smbclient-py";
const FAILOVER_PY: &str = include_str!("../../../tests/smb/failover.py");
const TEST_PERSISTENT_PY: &str = include_str!("../../../tests/smb/test_persistent.py");

/// Writes the scripts to `DIR/smbclient-py/` and adds [`USER`] with a new
/// random password; returns the path of `failover.py` and the password.
pub fn write_scripts(dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    let scripts = dir.join("smbclient-py");
    std::fs::create_dir_all(&scripts)?;
    std::fs::write(scripts.join("failover.py"), FAILOVER_PY)?;
    std::fs::write(scripts.join("test_persistent.py"), TEST_PERSISTENT_PY)?;
    let password: String = {
        use rand::Rng;
        rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(20).map(char::from).collect()
    };
    let mut users = holdfast_smb_security::Users::load(dir)?;
    if users.list().contains(&USER) {
        users.del(USER)?;
    }
    users.add(USER, &password)?;
    users.save(dir)?;
    Ok((scripts.join("failover.py"), password))
}

pub fn find_python(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let mut tried = Vec::new();
    let candidates: Vec<PathBuf> = match given {
        Some(p) => vec![p],
        None => {
            let mut v = Vec::new();
            if let Some(venv) = std::env::var_os("HOLDFAST_SMB_VENV") {
                v.push(PathBuf::from(venv).join("bin/python3"));
            }
            v.push(PathBuf::from("target/smb-venv/bin/python3"));
            v.push(PathBuf::from("python3"));
            v
        }
    };
    for py in candidates {
        let ok = Command::new(&py).args(["-c", "import smbprotocol"]).output().is_ok_and(|o| o.status.success());
        if ok {
            return Ok(py);
        }
        tried.push(py.display().to_string());
    }
    bail!("no Python with smbprotocol (tried {}); run scripts/install-deps.sh or pass --python", tried.join(", "))
}

pub fn unix_ms_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

/// One `failover.py bench` client holding a persistent handle.
pub struct Holder {
    child: Child,
    out: BufReader<ChildStdout>,
    seen: String,
}

impl Holder {
    /// Starts `failover.py PHASE STATE` against `addr`; returns once it
    /// holds its handle (printed READY).
    pub fn start(py: &Path, script: &Path, addr: &str, password: &str, state: &Path, phase: &str) -> anyhow::Result<Holder> {
        let (host, port) = addr.rsplit_once(':').context("service address is not IP:PORT")?;
        let mut child = Command::new(py)
            .arg(script)
            .args([phase, &state.display().to_string()])
            .env("SMB_HOST", host)
            .env("SMB_PORT", port)
            .env("SMB_USER", USER)
            .env("SMB_PASSWORD", password)
            .env("SMB_SHARE", "share")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {}", py.display()))?;
        let out = BufReader::new(child.stdout.take().context("client stdout")?);
        let mut h = Holder { child, out, seen: String::new() };
        h.wait_line("READY")?;
        Ok(h)
    }

    /// Reads lines until one starts with `prefix`; returns it.
    pub fn wait_line(&mut self, prefix: &str) -> anyhow::Result<String> {
        loop {
            let mut line = String::new();
            if self.out.read_line(&mut line)? == 0 {
                let st = self.child.wait()?;
                bail!("the smbprotocol client exited ({st}) before {prefix}:\n{}", self.seen);
            }
            self.seen.push_str(&line);
            if line.starts_with(prefix) {
                return Ok(line);
            }
        }
    }

    /// Sends `cmd`, waits for `RECLAIMED T0 T1`; returns (t0, t1) in Unix ms.
    pub fn reclaim(mut self, cmd: &str) -> anyhow::Result<(f64, f64)> {
        writeln!(self.child.stdin.as_mut().context("client stdin")?, "{cmd}")?;
        let line = self.wait_line("RECLAIMED")?;
        let mut it = line.split_whitespace().skip(1).map(|x| x.parse::<f64>());
        let (Some(Ok(t0)), Some(Ok(t1))) = (it.next(), it.next()) else { bail!("bad client line {line:?}") };
        let st = self.child.wait()?;
        anyhow::ensure!(st.success(), "the smbprotocol client failed ({st}):\n{}", self.seen);
        Ok((t0, t1))
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

