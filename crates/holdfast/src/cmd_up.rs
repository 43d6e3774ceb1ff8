//! `holdfast up`: a local cluster in the foreground.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use holdfast_client::cluster::CLUSTER_FILE;
use holdfast_client::{Client, ClusterInfo};

use crate::procs::{wait_healthy, NodeProcs};
use crate::UpArgs;

const HEALTHY_TIMEOUT_S: u64 = 60;

pub fn up(dir: &Path, a: &UpArgs) -> anyhow::Result<()> {
    if !dir.join(CLUSTER_FILE).exists() {
        crate::cluster_dir::init(dir, &a.init)?;
    }
    let info = ClusterInfo::load(dir).map_err(|e| anyhow::anyhow!(e))?;
    if info.nodes.len() != a.init.nodes as usize {
        bail!(
            "{} holds a {}-node cluster; pass --nodes {} or use another --dir",
            dir.display(),
            info.nodes.len(),
            info.nodes.len()
        );
    }
    let mut procs = NodeProcs::start(&info)?;
    let mut smbd: Option<std::process::Child> = None;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let r = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        // Installed before anything else, so a stop request during start-up
        // still stops the nodes cleanly.
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let client = Client::from_cluster(&info);
        let s = tokio::select! {
            s = wait_healthy(&client, info.nodes.len(), Duration::from_secs(HEALTHY_TIMEOUT_S)) => s?,
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        };
        let client = std::sync::Arc::new(client);
        tokio::select! {
            r = crate::volumes::ensure_volumes(&client, &info) => r?,
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
        let d = info.dir.canonicalize()?.display().to_string();
        let smb_line = match start_smb(&client, &info, a.smb_port, &mut smbd).await {
            Ok(share) => format!("  smbclient //127.0.0.1/{share} -p {} -A {d}/{} -m SMB3", a.smb_port, crate::cmd_smb::CREDENTIALS_FILE),
            Err(e) => format!("  (SMB service not started: {e:#})"),
        };
        println!("Holdfast cluster is up: {} nodes, directory leader node {}.", s.nodes.len(), s.leader.unwrap_or(0));
        println!("  dir:   {d}");
        for n in &s.nodes {
            println!("  node {}: {} (log {d}/node-{}/node.log)", n.id, n.addr, n.id);
        }
        for sh in &info.file.shares {
            println!("  share {:?} on volume {:?} (continuously available: {})", sh.name, sh.volume, sh.ca);
        }
        println!("  smbd: 127.0.0.1:{} (log {d}/{})", a.smb_port, crate::cmd_smb::LOG_FILE);
        println!("Use it from another terminal:");
        println!("{smb_line}");
        println!("  holdfast --dir {d} status");
        println!("  holdfast --dir {d} object create h --size 64MiB --memory --replicas 3");
        println!("  holdfast --dir {d} object write h --offset 0 --data-file FILE");
        println!("  holdfast --dir {d} object read h --offset 0 --length 4096 --node 2");
        println!("  holdfast --dir {d} fsck share");
        println!("Press Ctrl-C to stop the cluster.");
        wait_for_stop(&mut procs, &mut smbd, &mut term, &mut int).await
    });
    if let Some(c) = smbd.as_mut() {
        crate::cmd_smb::stop_child(c, Duration::from_secs(5));
    }
    eprintln!("stopping {} node processes", procs.children.len());
    procs.stop();
    r
}

/// The default user and credentials, `smbd.toml` for the node serving the
/// first share, and the smbd child. Returns the share's name.
async fn start_smb(
    client: &Client,
    info: &ClusterInfo,
    port: u16,
    smbd: &mut Option<std::process::Child>,
) -> anyhow::Result<String> {
    use crate::cmd_smb;
    let share = info.file.shares.first().map(|s| s.name.clone()).ok_or_else(|| anyhow::anyhow!("no share configured"))?;
    cmd_smb::ensure_default_user(&info.dir)?;
    let node = cmd_smb::serving_node(client, info, &share).await?;
    let config = cmd_smb::write_config(&info.dir, node, port)?;
    *smbd = Some(cmd_smb::spawn_smbd(&info.dir, &config)?);
    Ok(share)
}

async fn wait_for_stop(
    procs: &mut NodeProcs,
    smbd: &mut Option<std::process::Child>,
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = tick.tick() => {
                if let Some(Ok(Some(how))) = smbd.as_mut().map(|c| c.try_wait()) {
                    eprintln!("smbd exited ({how}); see smbd.log");
                    *smbd = None;
                }
                for (id, how) in procs.exited() {
                    eprintln!("node {id} exited ({how}); see its node.log");
                    procs.children.retain(|(i, _)| *i != id);
                }
                if procs.children.is_empty() {
                    bail!("every node process has exited");
                }
            }
        }
    }
}
