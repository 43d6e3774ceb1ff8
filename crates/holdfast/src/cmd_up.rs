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
        println!("Holdfast cluster is up: {} nodes, directory leader node {}.", s.nodes.len(), s.leader.unwrap_or(0));
        println!("  dir:   {d}");
        for n in &s.nodes {
            println!("  node {}: {} (log {d}/node-{}/node.log)", n.id, n.addr, n.id);
        }
        for sh in &info.file.shares {
            println!("  share {:?} on volume {:?} (continuously available: {})", sh.name, sh.volume, sh.ca);
        }
        println!("Use it from another terminal:");
        println!("  holdfast --dir {d} status");
        println!("  holdfast --dir {d} object create h --size 64MiB --memory --replicas 3");
        println!("  holdfast --dir {d} object write h --offset 0 --data-file FILE");
        println!("  holdfast --dir {d} object read h --offset 0 --length 4096 --node 2");
        println!("  holdfast --dir {d} fsck share");
        println!("Press Ctrl-C to stop the cluster.");
        wait_for_stop(&mut procs, &mut term, &mut int).await
    });
    eprintln!("stopping {} node processes", procs.children.len());
    procs.stop();
    r
}

async fn wait_for_stop(
    procs: &mut NodeProcs,
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = tick.tick() => {
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
