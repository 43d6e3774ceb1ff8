//! `holdfast smbd` (the SMB service daemon), `holdfast user` (the SMB
//! user file), and the default user and credentials file `up` creates.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use clap::Subcommand;
use holdfast_smb_security::Users;
use holdfast_smb_server::SmbdConfig;

/// The user `up` creates when the user file has none.
pub const DEFAULT_USER: &str = "holdfast";
/// Domain written to the credentials file (any works for a standalone server).
pub const DOMAIN: &str = "HOLDFAST";
pub const CREDENTIALS_FILE: &str = "smb-credentials";
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
    let group = users_file_group(dir);
    match c {
        UserCmd::Add { name, password } => {
            let password = match password {
                Some(p) => p,
                None => read_password()?,
            };
            users.add(&name, &password)?;
            users.save_for_group(dir, group)?;
            println!("added SMB user {name}");
        }
        UserCmd::Del { name } => {
            users.del(&name)?;
            users.save_for_group(dir, group)?;
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
    // Bound and dropped before the runtime starts its threads.
    let listener = holdfast_smb_server::bind_and_drop(&cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(holdfast_smb_server::run(listener, cfg))?;
    Ok(())
}

/// The cluster's smbd user (`[service_host] smbd_user` of `DIR/cluster.toml`,
/// else the default).
pub fn smbd_user_name(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(holdfast_client::cluster::CLUSTER_FILE))
        .ok()
        .and_then(|t| toml::from_str::<holdfast_client::cluster::ClusterFile>(&t).ok())
        .map(|f| f.service_host.smbd_user().to_string())
        .unwrap_or_else(|| holdfast_types::share::SMBD_USER_DEFAULT.to_string())
}

/// The group the users file is written with: when run as root, the smbd
/// user's, because smbd re-reads the file at every logon after dropping
/// root (docs/security.md); none otherwise (mode 0600, as smbd then runs
/// as the node's user). A missing smbd user gets a note: the node, which
/// needs it too, names the fix when it starts.
fn users_file_group(dir: &Path) -> Option<u32> {
    use holdfast_file_server::system_user;
    if !system_user::is_root() {
        return None;
    }
    match system_user::lookup(&smbd_user_name(dir)) {
        Ok(u) => Some(u.gid),
        Err(e) => {
            eprintln!("note: users file written for root alone: {e}");
            None
        }
    }
}

/// `holdfast up` as root: creates the smbd user if this host lacks it, as a
/// package's postinst would (one line says so).
pub fn ensure_smbd_user(dir: &Path) -> anyhow::Result<()> {
    use holdfast_file_server::system_user::{self, SystemUserError};
    if !system_user::is_root() {
        return Ok(());
    }
    let name = smbd_user_name(dir);
    match system_user::lookup(&name) {
        Ok(_) => return Ok(()),
        Err(SystemUserError::Missing { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let cmd = system_user::create_command(&name);
    let out = std::process::Command::new("useradd")
        .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", &name])
        .output()
        .with_context(|| format!("run `{cmd}`"))?;
    // Another process may have created it meanwhile (exit 9: exists).
    if !out.status.success() && system_user::lookup(&name).is_err() {
        anyhow::bail!("`{cmd}` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    println!("created system user {name} (smbd runs as it after binding its port)");
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
    users.save_for_group(dir, users_file_group(dir))?;
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

/// The user, password and domain of an smbclient `-A` credentials file
/// (`DIR/smb-credentials`).
pub fn read_credentials(path: &Path) -> anyhow::Result<holdfast_smb_client::Credentials> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut c = holdfast_smb_client::Credentials::new("", "", "");
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "username" => c.user = v.trim().to_string(),
                "password" => c.password = v.trim().to_string(),
                "domain" => c.domain = v.trim().to_string(),
                _ => {}
            }
        }
    }
    anyhow::ensure!(!c.user.is_empty() && !c.password.is_empty(), "{} has no username and password", path.display());
    Ok(c)
}
