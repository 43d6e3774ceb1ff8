//! `holdfast demo failover`: the whole story once, narrated. A temporary
//! 3-node cluster; a Python smbprotocol client opens a file on the CA share
//! with a persistent handle and writes; the host running the SMB service is
//! killed (`kill -9`, its RAM and its smbd gone); the directory moves the
//! volume and the service to a survivor, which starts smbd on the same
//! address; the client reconnects, reclaims the handle (DH2C) and reads its
//! bytes back; the killed host returns and its copies are rebuilt.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use holdfast_client::Client;

use crate::bench::cluster::{require_own_cluster, wait_all_active, BenchCluster};
use crate::bench::failover::service_ready;
use crate::smbpy::{find_python, unix_ms_now, write_scripts, Holder};

const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to watch the directory for the service's new placement.
const MOVE_WATCH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Subcommand)]
pub enum DemoCmd {
    /// Kill the host serving a persistent handle; the client reclaims it
    /// from the survivor on the same address. Starts its own temporary
    /// cluster.
    Failover(DemoArgs),
}

#[derive(Args)]
pub struct DemoArgs {
    /// Python with smbprotocol (default as for `bench failover`).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Keep the temporary cluster's directory (logs) afterwards.
    #[arg(long)]
    keep_dir: bool,
}

pub fn run(dir: Option<&Path>, c: DemoCmd) -> anyhow::Result<()> {
    let DemoCmd::Failover(a) = c;
    require_own_cluster(dir, "demo failover")?;
    let py = find_python(a.python.clone())?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let t = Instant::now();
        let say = move |what: String| println!("[{:>7.3} s] {what}", t.elapsed().as_secs_f64());
        say("starting a temporary 3-node cluster on loopback".into());
        let mut cluster = BenchCluster::start_temp(true).await?;
        let r = story(&mut cluster, &py, &say).await;
        if r.is_err() || a.keep_dir {
            if let Some(d) = cluster.keep_dir() {
                println!("cluster directory kept (node-N/node.log, node-N/smbd-share.log): {}", d.display());
            }
        }
        r
    })
}

async fn story(cluster: &mut BenchCluster, py: &Path, say: &impl Fn(String)) -> anyhow::Result<()> {
    let dir = cluster.info.dir.clone();
    let (script, password) = write_scripts(&dir)?;
    let client = Arc::new(Client::from_cluster(&cluster.info));
    crate::volumes::ensure_volumes(&client, &cluster.info).await?;
    let svc = cluster.info.file.services.first().context("the temporary cluster has no service")?.clone();
    let vol = cluster.info.file.volumes.first().context("no volume")?.clone();
    for object in [vol.data_object(), vol.handle_object()] {
        wait_all_active(&client, &object, 3, READY_TIMEOUT).await?;
    }
    let node = service_ready(&client, &dir, &svc.name, &svc.listen).await?;
    say(format!(
        "volume {:?} (objects {} and {}, a copy of each on every host) is owned by node {node}; \
         the directory places service {:?} there, and node {node} runs its smbd on {}",
        vol.name,
        vol.data_object(),
        vol.handle_object(),
        svc.name,
        svc.listen
    ));
    let state = script.with_file_name("state.json");
    let holder = Holder::start(py, &script, &svc.listen, &password, &state, "bench")?;
    say(format!(
        "client: opened a file on \\\\{}\\share with a persistent handle (DH2Q) and wrote to it; the handle record is in RAM on all 3 hosts",
        svc.listen
    ));
    let t0 = unix_ms_now();
    let killed_at = Instant::now();
    cluster.kill_node(node)?;
    say(format!("kill -9 node {node}: its RAM, its file server and its smbd are gone"));
    // The client starts reconnecting at once, in its own process, while
    // this one watches the directory move the service.
    let reclaim = std::thread::spawn(move || holder.reclaim("go"));
    let deadline = Instant::now() + MOVE_WATCH_TIMEOUT;
    let to = loop {
        if let Ok(s) = client.status().await {
            if let Some(x) = s.services.iter().find(|x| x.name == svc.name && x.node != node) {
                break x.node;
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the service did not move within {} s", MOVE_WATCH_TIMEOUT.as_secs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    say(format!(
        "directory: node {node} missed its heartbeats; {} moved to node {to}, and service {:?} with it (+{} ms)",
        vol.data_object(),
        svc.name,
        killed_at.elapsed().as_millis()
    ));
    service_ready(&client, &dir, &svc.name, &svc.listen).await?;
    say(format!("node {to}: volume mounted from its own copies, smbd listening on {} (+{} ms)", svc.listen, killed_at.elapsed().as_millis()));
    let (_, t1) = reclaim.join().map_err(|_| anyhow::anyhow!("client thread panicked"))??;
    say(format!(
        "client: reconnected to {}, reclaimed the same handle with DH2C and read its bytes back: {:.0} ms after the kill",
        svc.listen,
        t1 - t0
    ));
    cluster.restart_node(node)?;
    say(format!("node {node} restarted with empty RAM; rebuilding its copies"));
    for object in [vol.data_object(), vol.handle_object()] {
        wait_all_active(&client, &object, 3, READY_TIMEOUT).await?;
    }
    say("every copy ACTIVE again; done".into());
    Ok(())
}
