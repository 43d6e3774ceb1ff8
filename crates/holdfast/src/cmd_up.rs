//! `holdfast up`: a local cluster in the foreground. The SMB services are
//! started by the node daemons (docs/services.md); `up` waits for them.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use holdfast_client::cluster::CLUSTER_FILE;
use holdfast_client::{Client, ClusterInfo};

use crate::procs::{wait_healthy, NodeProcs};
use crate::UpArgs;

const HEALTHY_TIMEOUT_S: u64 = 60;
/// How long `up` waits for each service's smbd to listen.
const SMBD_LISTEN_TIMEOUT_S: u64 = 30;

pub fn up(dir: &Path, a: &UpArgs) -> anyhow::Result<()> {
    if !a.init.node_addrs.is_empty() {
        bail!("`up` runs a local cluster on 127.0.0.1; for real hosts write the cluster with `holdfast init --node ID=IP:PORT ...` and start `holdfast node` on each host (README, \"Real hosts\")");
    }
    if !dir.join(CLUSTER_FILE).exists() {
        crate::cluster_dir::init_with_service(dir, &a.init, &a.smb)?;
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
    // Before any smbd can start: the user it runs as, and the users file
    // it reads at every logon.
    crate::cmd_smb::ensure_smbd_user(&info.dir)?;
    crate::cmd_smb::ensure_default_user(&info.dir)?;
    let mut procs = NodeProcs::start(&info)?;
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
        // Also defines the services; the node each is placed on starts it.
        tokio::select! {
            r = crate::volumes::ensure_volumes(&client, &info) => r?,
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
        let d = info.dir.canonicalize()?.display().to_string();
        let smb_lines = tokio::select! {
            l = services_listening(&client, &info, &d) => l,
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        };
        println!("Holdfast cluster is up: {} nodes, directory leader node {}.", s.nodes.len(), s.leader.unwrap_or(0));
        println!("  dir:   {d}");
        for n in &s.nodes {
            println!("  node {}: {} (log {d}/node-{}/node.log)", n.id, n.addr, n.id);
        }
        for sh in &info.file.shares {
            println!("  share {:?} on volume {:?} (continuously available: {})", sh.name, sh.volume, sh.ca);
        }
        for (smbd, _) in &smb_lines {
            println!("{smbd}");
        }
        println!("Use it from another terminal:");
        for (_, connect) in &smb_lines {
            println!("{connect}");
        }
        println!("  holdfast --dir {d} status");
        println!("  holdfast --dir {d} service move share --to 2");
        println!("  holdfast --dir {d} object create h --size 64MiB --memory --replicas 3");
        println!("  holdfast --dir {d} object write h --offset 0 --data-file FILE");
        println!("  holdfast --dir {d} object read h --offset 0 --length 4096 --node 2");
        println!("  holdfast --dir {d} fsck share");
        println!("  holdfast --dir {d} demo failover   # kill -9 the serving host; the client reclaims its handle");
        println!("Press Ctrl-C to stop the cluster (its handles are kept for the next `up`). A node process that dies is restarted after {} s.", NODE_RESTART_DELAY.as_secs());
        match wait_for_stop(&info.dir, &mut procs, &mut term, &mut int).await? {
            Stop::Asked => {
                eprintln!("planned stop: parking the handle tables (Ctrl-C again stops at once, and loses them)");
                tokio::select! {
                    r = crate::cmd_cluster::park_all(&client, &info) => r,
                    _ = term.recv() => Ok(eprintln!("stopping without parking")),
                    _ = int.recv() => Ok(eprintln!("stopping without parking")),
                }
            }
            Stop::NodesExited => Ok(()),
        }
    });
    // Each node stops the smbd processes it runs as it shuts down.
    eprintln!("stopping {} node processes", procs.children.len());
    procs.stop();
    r
}

/// Waits until each service's smbd listens (started by the node it is
/// placed on) and returns, per service, the `smbd:` line and how to
/// connect.
async fn services_listening(client: &Client, info: &ClusterInfo, d: &str) -> Vec<(String, String)> {
    use crate::cmd_smb::CREDENTIALS_FILE;
    let mut out = Vec::new();
    if info.file.services.is_empty() {
        out.push(("  smbd: none (no [[services]] in cluster.toml)".to_string(), "  (SMB service not started: no service defined)".to_string()));
    }
    for svc in &info.file.services {
        let share = svc.shares.first().cloned().unwrap_or_default();
        let (ip, port) = match svc.listen.parse::<std::net::SocketAddr>() {
            Ok(a) => (a.ip().to_string(), a.port()),
            Err(_) => (svc.listen.clone(), 445),
        };
        let placed = match client.status().await {
            Ok(s) => s.services.iter().find(|x| x.name == svc.name).map(|x| x.node),
            Err(_) => None,
        };
        let Some(node) = placed else {
            out.push((format!("  smbd: {} (service {:?} not placed)", svc.listen, svc.name), format!("  (SMB service {} not started)", svc.name)));
            continue;
        };
        let pid_file = info.dir.join(format!("node-{node}/smbd-{}.pid", svc.name));
        let log = format!("{d}/node-{node}/smbd-{}.log", svc.name);
        let smbd = format!("  smbd: {} (log {log})", svc.listen);
        match crate::cmd_service::wait_listening(&pid_file, &svc.listen, Duration::from_secs(SMBD_LISTEN_TIMEOUT_S)).await {
            Ok(()) => out.push((smbd, format!("  smbclient //{ip}/{share} -p {port} -A {d}/{CREDENTIALS_FILE} -m SMB3"))),
            Err(e) => out.push((smbd, format!("  (SMB service not started: {e:#})"))),
        }
    }
    out
}

/// A node process that exits comes back after this long, as a host
/// would reboot (`demo failover --dir` kills one).
const NODE_RESTART_DELAY: Duration = Duration::from_secs(2);
/// A node that exits this soon after starting ...
const NODE_CRASH_WINDOW: Duration = Duration::from_secs(10);
/// ... this many times in a row is left down (it is broken, not killed).
const NODE_CRASHES_MAX: u32 = 5;

/// Why `up` stops.
enum Stop {
    /// Ctrl-C or SIGTERM.
    Asked,
    /// Every node process exited cleanly (`holdfast cluster stop`).
    NodesExited,
}

async fn wait_for_stop(
    dir: &std::path::Path,
    procs: &mut NodeProcs,
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) -> anyhow::Result<Stop> {
    use std::collections::HashMap;
    use std::time::Instant;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut started: HashMap<u64, Instant> = procs.children.iter().map(|(id, _)| (*id, Instant::now())).collect();
    let mut restart_at: HashMap<u64, Instant> = HashMap::new();
    let mut crashes: HashMap<u64, u32> = HashMap::new();
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(Stop::Asked),
            _ = int.recv() => return Ok(Stop::Asked),
            _ = tick.tick() => {
                for (id, how, clean) in procs.exited() {
                    procs.children.retain(|(i, _)| *i != id);
                    if clean {
                        // Only a planned stop makes a node exit with 0.
                        eprintln!("node {id} stopped (planned stop); not restarted");
                        continue;
                    }
                    let quick = started.get(&id).is_some_and(|t| t.elapsed() < NODE_CRASH_WINDOW);
                    let n = crashes.entry(id).or_insert(0);
                    *n = if quick { *n + 1 } else { 1 };
                    if *n >= NODE_CRASHES_MAX {
                        eprintln!("node {id} exited ({how}) {n} times in a row within {} s of starting; left down, see its node.log", NODE_CRASH_WINDOW.as_secs());
                    } else {
                        eprintln!("node {id} exited ({how}); restarting it in {} s (see its node.log)", NODE_RESTART_DELAY.as_secs());
                        restart_at.insert(id, Instant::now() + NODE_RESTART_DELAY);
                    }
                }
                let due: Vec<u64> = restart_at.iter().filter(|(_, t)| Instant::now() >= **t).map(|(id, _)| *id).collect();
                for id in due {
                    restart_at.remove(&id);
                    match procs.restart(dir, id) {
                        Ok(()) => {
                            started.insert(id, Instant::now());
                            eprintln!("node {id} restarted");
                        }
                        Err(e) => eprintln!("node {id} not restarted: {e:#}"),
                    }
                }
                if procs.children.is_empty() && restart_at.is_empty() {
                    if crashes.is_empty() {
                        eprintln!("every node stopped (holdfast cluster stop)");
                        return Ok(Stop::NodesExited);
                    }
                    bail!("every node process has exited");
                }
            }
        }
    }
}
