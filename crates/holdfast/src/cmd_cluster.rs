//! `holdfast cluster stop`: a planned whole-cluster stop that keeps the
//! persistent handles (docs/restarts.md). `up` runs the same park on
//! Ctrl-C or SIGTERM before it stops its node processes.

use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;
use holdfast_client::{Client, ClusterInfo};
use holdfast_types::ObjectState;
use holdfast_wire::control::{ControlRequest, StatusView};

use crate::procs::poll_status;

/// How long a planned stop waits for every handle table to be parked.
const PARK_TIMEOUT_S: u64 = 30;

#[derive(Subcommand)]
pub enum ClusterCmd {
    /// Planned stop of every node: SMB services stop, each volume's handle
    /// table is written to the volume (on disk on every host), then every
    /// node process exits. Clients reclaim their handles after the restart.
    Stop,
}

pub async fn run(dir: &std::path::Path, c: ClusterCmd) -> anyhow::Result<()> {
    match c {
        ClusterCmd::Stop => {
            let info = ClusterInfo::load(dir).map_err(|e| anyhow::anyhow!(e))?;
            let client = Client::from_cluster(&info);
            park_all(&client, &info).await?;
            let mut failed = Vec::new();
            for &id in info.nodes.keys() {
                match client.control_at(id, &ControlRequest::Shutdown).await {
                    Ok(_) => println!("node {id}: stopping"),
                    Err(e) => {
                        eprintln!("node {id}: {e}");
                        failed.push(id);
                    }
                }
            }
            if !failed.is_empty() {
                bail!("nodes {failed:?} did not take the stop; stop them by hand (their handle tables are parked already)");
            }
            Ok(())
        }
    }
}

/// What is left to park: a line per volume whose handle table is served
/// and not yet parked. Volumes whose table is LOST or not there have
/// nothing to park.
fn unparked(s: &StatusView, info: &ClusterInfo) -> Vec<String> {
    info.file
        .volumes
        .iter()
        .filter_map(|v| {
            let o = s.objects.iter().find(|o| o.name == v.handle_object())?;
            (o.state != ObjectState::Lost && o.table.parked.is_none()).then(|| format!("volume {:?}", v.name))
        })
        .collect()
}

/// Begins the planned stop and waits until every volume's handle table is
/// parked. Prints what was parked.
pub async fn park_all(client: &Client, info: &ClusterInfo) -> anyhow::Result<()> {
    client.control(&ControlRequest::StopCluster).await.map_err(|e| anyhow::anyhow!("begin the planned stop: {e}"))?;
    let s = poll_status(client, Duration::from_secs(PARK_TIMEOUT_S), Duration::from_millis(100), |s| {
        let left = unparked(&s, info);
        if left.is_empty() && s.stopping.is_some() {
            Ok(s)
        } else {
            Err(format!("not parked yet: {}", left.join(", ")))
        }
    })
    .await
    .map_err(|last| anyhow::anyhow!("handle tables not parked within {PARK_TIMEOUT_S} s ({last}); their handles will be lost at the restart, see each node.log"))?;
    for v in &info.file.volumes {
        match s.objects.iter().find(|o| o.name == v.handle_object()).and_then(|o| o.table.parked.as_ref()) {
            Some(p) => println!("volume {:?}: {} handle record(s) parked on the volume", v.name, p.records),
            None => println!("volume {:?}: no handle table to park", v.name),
        }
    }
    Ok(())
}
