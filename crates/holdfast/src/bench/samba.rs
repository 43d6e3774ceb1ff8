//! Samba's smbd as the baseline of `bench smb`: a child on a loopback port
//! with every file it writes (config, passdb, locks, state, cache, pid,
//! log, the share) inside one temporary directory removed at the end.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// How long smbd gets to start listening.
const LISTEN_TIMEOUT_S: u64 = 20;

pub struct Samba {
    child: Option<Child>,
    dir: PathBuf,
    pub port: u16,
    pub user: String,
    pub password: String,
}

/// The unix user we run as: Samba maps its SMB user to a unix account,
/// and the share's files are created as it.
fn unix_user() -> anyhow::Result<String> {
    let o = Command::new("id").arg("-un").output().context("run id -un")?;
    anyhow::ensure!(o.status.success(), "id -un failed");
    Ok(String::from_utf8(o.stdout)?.trim().to_string())
}

fn conf(dir: &Path, port: u16) -> String {
    let d = dir.display();
    // Durable handles need kernel oplocks, kernel share modes and POSIX
    // locking off (smb.conf(5), "durable handles"). Signing is mandatory
    // because Holdfast always signs: both servers then do the same work.
    format!(
        "[global]
  server role = standalone server
  smb ports = {port}
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  private dir = {d}/private
  lock directory = {d}/lock
  state directory = {d}/state
  cache directory = {d}/cache
  pid directory = {d}/pid
  ncalrpc dir = {d}/ncalrpc
  log file = {d}/smbd.log
  log level = 0
  passdb backend = tdbsam:{d}/private/passdb.tdb
  server signing = mandatory
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = never
  kernel oplocks = no
  kernel share modes = no
  posix locking = no
[share]
  path = {d}/share
  read only = no
  durable handles = yes
"
    )
}

impl Samba {
    /// Writes the config, adds the user, starts `smbd` and waits for it to
    /// listen on 127.0.0.1:`port`.
    pub fn start(smbd: &Path, port: u16) -> anyhow::Result<Samba> {
        anyhow::ensure!(smbd.exists(), "{} not found: install Samba (scripts/install-deps.sh installs the Debian package samba)", smbd.display());
        let dir = std::env::temp_dir().join(format!("holdfast-bench-samba-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["private", "lock", "state", "cache", "pid", "ncalrpc", "share"] {
            std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("create {}", dir.join(sub).display()))?;
        }
        let mut s = Samba { child: None, dir: dir.clone(), port, user: unix_user()?, password: String::new() };
        use rand::Rng;
        s.password = rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(20).map(char::from).collect();
        let cfg = dir.join("smb.conf");
        std::fs::write(&cfg, conf(&dir, port)).with_context(|| format!("write {}", cfg.display()))?;

        let smbpasswd = smbd.parent().and_then(|p| p.parent()).map(|p| p.join("bin/smbpasswd")).filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("smbpasswd"));
        let mut add = Command::new(&smbpasswd)
            .arg("-c")
            .arg(&cfg)
            .args(["-a", "-s", &s.user])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("run {}", smbpasswd.display()))?;
        {
            use std::io::Write;
            let mut stdin = add.stdin.take().context("smbpasswd stdin")?;
            writeln!(stdin, "{}\n{}", s.password, s.password)?;
        }
        let o = add.wait_with_output()?;
        anyhow::ensure!(o.status.success(), "smbpasswd -a {} failed: {}{}", s.user, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));

        let out = std::fs::File::create(dir.join("smbd.out"))?;
        let mut cmd = Command::new(smbd);
        // Our own process group (smbd must not make one itself then), so
        // that stopping it reaches every child smbd forked per client.
        cmd.args(["--foreground", "--no-process-group", "--debug-stdout"])
            .arg(format!("--configfile={}", cfg.display()))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        s.child = Some(cmd.spawn().with_context(|| format!("start {}", smbd.display()))?);
        let deadline = Instant::now() + Duration::from_secs(LISTEN_TIMEOUT_S);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(Ok(Some(how))) = s.child.as_mut().map(|c| c.try_wait()) {
                let log = std::fs::read_to_string(dir.join("smbd.out")).unwrap_or_default();
                anyhow::bail!("Samba smbd exited at start ({how}):\n{log}");
            }
            anyhow::ensure!(Instant::now() < deadline, "Samba smbd does not listen on port {port} after {LISTEN_TIMEOUT_S} s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(s)
    }
}

impl Drop for Samba {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pgid = c.id() as i32;
            // SAFETY: kill(2) on the process group we created for smbd.
            unsafe {
                libc::kill(-pgid, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && !matches!(c.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(20));
            }
            // SAFETY: as above; the children may outlive the parent.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
