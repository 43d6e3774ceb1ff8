//! `holdfast smbd` (the SMB service daemon), `holdfast user` (the SMB
//! user file), and the default user and credentials file `up` creates.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;
use clap::Subcommand;
use holdfast_smb_security::Users;
use holdfast_smb_server::SmbdConfig;

/// The user `up` creates when the user file has none.
pub const DEFAULT_USER: &str = "holdfast";
/// Domain written to the credentials file (any works for a standalone server).
pub const DOMAIN: &str = "HOLDFAST";
pub const CREDENTIALS_FILE: &str = "smb-credentials";
pub const CONFIG_FILE: &str = "smbd.toml";
pub const LOG_FILE: &str = "smbd.log";
/// Length of generated passwords, in characters.
const PASSWORD_CHARS: usize = 20;

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a user (password from --password, else prompted / read from stdin).
    Add {
        name: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Delete a user.
    Del { name: String },
    /// List users.
    List,
}

pub fn user(dir: &Path, c: UserCmd) -> anyhow::Result<()> {
    let mut users = Users::load(dir)?;
    match c {
        UserCmd::Add { name, password } => {
            let password = match password {
                Some(p) => p,
                None => read_password()?,
            };
            users.add(&name, &password)?;
            users.save(dir)?;
            println!("added SMB user {name}");
        }
        UserCmd::Del { name } => {
            users.del(&name)?;
            users.save(dir)?;
            println!("deleted SMB user {name}");
        }
        UserCmd::List => {
            for n in users.list() {
                println!("{n}");
            }
        }
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(!p.is_empty(), "empty password");
    Ok(p)
}

pub fn smbd(config: &Path) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).init();
    let cfg = SmbdConfig::load(config)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(holdfast_smb_server::run(cfg))?;
    Ok(())
}

/// Creates the default user with a random password when the user file
/// has no user, and writes its credentials (mode 0600) for smbclient -A.
pub fn ensure_default_user(dir: &Path) -> anyhow::Result<()> {
    let mut users = Users::load(dir)?;
    if !users.is_empty() {
        return Ok(());
    }
    use rand::Rng;
    let password: String =
        rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(PASSWORD_CHARS).map(char::from).collect();
    users.add(DEFAULT_USER, &password)?;
    users.save(dir)?;
    let path = dir.join(CREDENTIALS_FILE);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("write {}", path.display()))?;
    writeln!(f, "username = {DEFAULT_USER}\npassword = {password}\ndomain = {DOMAIN}")?;
    Ok(())
}

// `up` no longer starts smbd (the node daemons run the services the
// directory places on them, docs/services.md). What follows runs one smbd
// by hand against one node's file server, for tools that need an instance
// outside the supervision (benchmarks).

#[allow(dead_code)]
pub fn write_config(dir: &Path, node: u64, port: u16) -> anyhow::Result<PathBuf> {
    let dir = dir.canonicalize()?;
    let cfg = SmbdConfig {
        listen: format!("127.0.0.1:{port}"),
        fs_socket: dir.join(format!("node-{node}/fs.sock")),
        users_file: Users::path(&dir),
        server_name: "HOLDFAST".into(),
        shares: Vec::new(),
        limits: Default::default(),
    };
    let path = dir.join(CONFIG_FILE);
    std::fs::write(&path, cfg.to_toml()).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// Starts `holdfast smbd`, logging to DIR/smbd.log; it gets SIGTERM if
/// this process dies.
#[allow(dead_code)]
pub fn spawn_smbd(dir: &Path, config: &Path) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("locate the holdfast binary")?;
    let log_path = dir.join(LOG_FILE);
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).with_context(|| format!("open {}", log_path.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("smbd").arg("--config").arg(config).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.spawn().context("start smbd")
}

/// SIGTERM, then SIGKILL after `grace`.
#[allow(dead_code)]
pub fn stop_child(c: &mut Child, grace: std::time::Duration) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(c.id() as i32, libc::SIGTERM);
    }
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
}
