//! `holdfast service list|move`: where SMB services run, and planned moves
//! (a rolling upgrade drains a host by moving its services away).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Subcommand;
use holdfast_client::{Client, ClusterInfo};
use holdfast_types::NodeId;

/// How long `move` waits for each step: the handle table to follow, and
/// the new host's smbd to listen.
const MOVE_STEP_WAIT_MS: u64 = 30_000;

#[derive(Subcommand)]
pub enum ServiceCmd {
    /// Services with their address and the node running them.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Planned move: the service's volume (namespace, then handle table)
    /// changes owner to NODE; the old host stops its smbd, the new host
    /// mounts the volume and starts smbd on the same address. Persistent
    /// handles stay reclaimable (clients reconnect and use DH2C).
    Move {
        name: String,
        #[arg(long)]
        to: NodeId,
    },
}

pub async fn run(dir: &Path, c: ServiceCmd) -> anyhow::Result<()> {
    let info = ClusterInfo::load(dir).map_err(|e| anyhow::anyhow!(e))?;
    let client = Client::from_cluster(&info);
    match c {
        ServiceCmd::List { json } => {
            let s = client.status().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s.services)?);
                return Ok(());
            }
            if s.services.is_empty() {
                println!("no services (add [[services]] to cluster.toml, then `holdfast volume ensure`)");
            }
            for sv in &s.services {
                let shares = info.file.services.iter().find(|d| d.name == sv.name).map(|d| d.shares.join(",")).unwrap_or_default();
                println!("{}  {}  node {}  shares {}", sv.name, sv.addr, sv.node, shares);
            }
            Ok(())
        }
        ServiceCmd::Move { name, to } => move_service(&info, &client, &name, to).await,
    }
}

async fn move_service(info: &ClusterInfo, client: &Client, name: &str, to: NodeId) -> anyhow::Result<()> {
    if !info.nodes.contains_key(&to) {
        bail!("no node {to} in this cluster (nodes: {:?})", info.nodes.keys().collect::<Vec<_>>());
    }
    let def = info.file.services.iter().find(|d| d.name == name).with_context(|| format!("no service {name:?} in the cluster config"))?;
    let volume = holdfast_types::share::service_volume(def, &info.file.shares).with_context(|| format!("service {name:?} has no defined share"))?;
    let vol = info.file.volumes.iter().find(|v| v.name == volume).with_context(|| format!("no volume {volume:?}"))?;
    let s = client.status().await?;
    let placed = s.services.iter().find(|x| x.name == name).with_context(|| format!("service {name:?} is not in the directory yet; run `holdfast volume ensure`"))?;
    if placed.node != to {
        // The namespace first: the service follows it in the same directory
        // entry, and the new host's file server then pulls the handle table
        // (moving the table first would make the old host pull it back).
        client.move_object(&vol.data_object(), to).await.with_context(|| format!("move {} to node {to}", vol.data_object()))?;
    }
    let deadline = Instant::now() + Duration::from_millis(MOVE_STEP_WAIT_MS);
    loop {
        let h = client.lookup(&vol.handle_object()).await?;
        if h.owner == to {
            break;
        }
        if Instant::now() >= deadline {
            bail!("the handle table {} did not follow to node {to} within {MOVE_STEP_WAIT_MS} ms (owner: node {})", vol.handle_object(), h.owner);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // On loopback (a cluster from `up`, node directories local) the new
    // smbd is told from the old one by its pid file; on a real network the
    // pid file is on the new host, and the address answering is the sign.
    let wait = Duration::from_millis(MOVE_STEP_WAIT_MS);
    let loopback = def.listen.parse::<std::net::SocketAddr>().is_ok_and(|a| a.ip().is_loopback());
    let pid_file = info.dir.join(format!("node-{to}/smbd-{name}.pid"));
    if loopback && pid_file.parent().is_some_and(|p| p.is_dir()) {
        wait_listening(&pid_file, &def.listen, wait).await?;
    } else {
        wait_answering(&def.listen, wait).await?;
    }
    println!("service {name} ({}) now on node {to}", def.listen);
    Ok(())
}

/// Waits until `pid_file` exists and `addr` accepts a TCP connection.
pub async fn wait_listening(pid_file: &Path, addr: &str, wait: Duration) -> anyhow::Result<()> {
    wait_for(addr, Some(pid_file), wait).await
}

/// Waits until `addr` accepts a TCP connection.
pub async fn wait_answering(addr: &str, wait: Duration) -> anyhow::Result<()> {
    wait_for(addr, None, wait).await
}

async fn wait_for(addr: &str, pid_file: Option<&Path>, wait: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        let connect = tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect(addr));
        if pid_file.is_none_or(|p| p.exists()) && matches!(connect.await, Ok(Ok(_))) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let pid = pid_file.map_or_else(String::new, |p| format!(" (pid file {})", p.display()));
            bail!("no smbd listening on {addr} within {} ms{pid}", wait.as_millis());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
