//! `holdfast object create|write|read|list|move|rebuild`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Subcommand;
use holdfast_client::{Client, ClientError, ClusterInfo};
use holdfast_types::limits::IO_BYTES_MAX;
use holdfast_types::{ComponentState, NodeId, ObjectKind, ObjectState};
use holdfast_wire::control::{ControlReply, ControlRequest, StatusView};

use crate::local::{human_bytes, parse_size};
use crate::progress::RebuildProgress;

#[derive(Subcommand)]
pub enum ObjectCmd {
    /// Create an object (a replicated virtual block device).
    Create {
        name: String,
        /// Size, a multiple of 4 KiB (e.g. 64MiB).
        #[arg(long)]
        size: String,
        /// Components in RAM.
        #[arg(long, conflicts_with = "persistent", required_unless_present = "persistent")]
        memory: bool,
        /// Components in files on local disk.
        #[arg(long)]
        persistent: bool,
        #[arg(long, default_value_t = 3)]
        replicas: u32,
    },
    /// Write a file's bytes at an offset (offset and length in 512-byte sectors).
    Write {
        name: String,
        #[arg(long)]
        offset: String,
        /// File to write; `-` reads standard input.
        #[arg(long)]
        data_file: PathBuf,
    },
    /// Read raw bytes to standard output.
    Read {
        name: String,
        #[arg(long)]
        offset: String,
        #[arg(long)]
        length: String,
        /// Read this node's component directly (diagnostic).
        #[arg(long)]
        node: Option<u64>,
    },
    /// List objects.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Move ownership to another node holding an ACTIVE component (planned).
    Move {
        name: String,
        #[arg(long)]
        to: u64,
    },
    /// Rebuild a node's component in full from the owner, then wait until
    /// it is ACTIVE again, with a progress bar (rate, ETA).
    Rebuild {
        name: String,
        /// The node whose component is rebuilt (not the owner).
        #[arg(long)]
        node: u64,
        /// Return once the rebuild is requested.
        #[arg(long)]
        no_wait: bool,
    },
}

pub async fn run(dir: &Path, cmd: ObjectCmd) -> anyhow::Result<()> {
    let info = ClusterInfo::load(dir).map_err(|e| anyhow::anyhow!(e))?;
    let client = Client::from_cluster(&info);
    match cmd {
        ObjectCmd::Create { name, size, memory, persistent: _, replicas } => {
            let size_bytes = parse_size(&size)?;
            let kind = if memory { ObjectKind::Memory } else { ObjectKind::Persistent };
            let o = client.create_object(ControlRequest::CreateObject { name, kind, size_bytes, replicas }).await?;
            let nodes: Vec<String> = o.components.iter().map(|c| c.node.to_string()).collect();
            println!(
                "created {} object {:?} (id {}), {}, owner node {}, epoch {}, components on nodes {}",
                o.kind.as_str(),
                o.name,
                o.id,
                human_bytes(o.size),
                o.owner,
                o.epoch,
                nodes.join(",")
            );
        }
        ObjectCmd::Write { name, offset, data_file } => {
            let offset = parse_size(&offset)?;
            let data = if data_file.as_os_str() == "-" {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
                v
            } else {
                std::fs::read(&data_file).with_context(|| format!("read {}", data_file.display()))?
            };
            if data.is_empty() {
                bail!("data file {} is empty", data_file.display());
            }
            let data = Bytes::from(data);
            let mut at = 0usize;
            while at < data.len() {
                let n = (data.len() - at).min(IO_BYTES_MAX as usize);
                client.write(&name, offset + at as u64, data.slice(at..at + n)).await?;
                at += n;
            }
            eprintln!("wrote {} bytes to {name:?} at offset {offset}", data.len());
        }
        ObjectCmd::Read { name, offset, length, node } => {
            let offset = parse_size(&offset)?;
            let length = parse_size(&length)?;
            let id = match node {
                Some(_) => client.lookup(&name).await?.id,
                None => 0,
            };
            let mut out = std::io::stdout().lock();
            let mut done = 0u64;
            while done < length {
                let n = (length - done).min(IO_BYTES_MAX) as u32;
                let bytes = match node {
                    Some(nd) => client.component_read(nd, id, offset + done, n).await?,
                    None => client.read(&name, offset + done, n).await?,
                };
                out.write_all(&bytes)?;
                done += n as u64;
            }
            out.flush()?;
        }
        ObjectCmd::List { json } => {
            let objs = client.list_objects().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&objs)?);
            } else {
                for o in objs {
                    println!(
                        "{:<20} {:<10} {:>8} replicas {} owner {} epoch {} {}",
                        o.name,
                        o.kind.as_str(),
                        human_bytes(o.size),
                        o.replicas,
                        o.owner,
                        o.epoch,
                        o.state.as_str()
                    );
                }
            }
        }
        ObjectCmd::Move { name, to } => {
            let o = client.move_object(&name, to).await?;
            println!("object {:?} is now owned by node {} at epoch {}", o.name, o.owner, o.epoch);
        }
        ObjectCmd::Rebuild { name, node, no_wait } => {
            let answered = request_rebuild(&client, &name, node).await?;
            if no_wait {
                println!("object {name}: rebuild of node {node} requested");
                return Ok(());
            }
            wait_rebuilt(&client, answered, &name, node).await?;
            println!("object {name}: node {node} rebuilt, ACTIVE");
        }
    }
    Ok(())
}

/// How often `object rebuild` looks at the rebuild.
const REBUILD_POLL: Duration = Duration::from_millis(200);
/// How long `object rebuild` waits for the component to be ACTIVE again.
const REBUILD_WAIT: Duration = Duration::from_secs(600);

/// Sends `Rebuild` to the first node that answers it, like
/// [`Client::control`], and returns which node did: its directory already
/// shows the component out of ACTIVE.
async fn request_rebuild(client: &Client, name: &str, node: NodeId) -> anyhow::Result<NodeId> {
    let req = ControlRequest::Rebuild { name: name.to_string(), node };
    let mut errors = Vec::new();
    for n in client.node_ids() {
        match client.control_at(n, &req).await {
            Ok(ControlReply::Done) => return Ok(n),
            Ok(other) => bail!("node {n} answered the rebuild request with {other:?}"),
            Err(e) if e.code().is_some_and(|c| !c.is_retryable()) => return Err(e.into()),
            Err(e) => errors.push(format!("node {n}: {e}")),
        }
    }
    bail!("no node accepted the rebuild request: {}", errors.join("; "))
}

/// Polls until `node`'s component of `name` is ACTIVE again, showing the
/// owner's copy progress. Errors reaching the cluster are shown and retried.
async fn wait_rebuilt(client: &Client, answered: NodeId, name: &str, node: NodeId) -> anyhow::Result<()> {
    let mut show = RebuildProgress::new(format!("object {name} -> node {node}"), std::io::stdout().is_terminal());
    let deadline = tokio::time::Instant::now() + REBUILD_WAIT;
    // The component's last state seen out of ACTIVE, if any.
    let mut pending: Option<ComponentState> = None;
    let mut last_error: Option<String> = None;
    let mut tick = tokio::time::interval(REBUILD_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if tokio::time::Instant::now() >= deadline {
            show.abandon();
            let state = pending.map_or("active", |s| s.as_str()).to_uppercase();
            bail!(
                "gave up after {} s: node {node}'s component of object {name:?} is still {state} (see holdfast status)",
                REBUILD_WAIT.as_secs()
            );
        }
        let (status, trusted) = match rebuild_status(client, answered).await {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("error (retrying): {e}");
                if last_error.as_deref() != Some(msg.as_str()) {
                    show.note(&msg);
                    last_error = Some(msg);
                }
                continue;
            }
        };
        last_error = None;
        let Some(o) = status.objects.iter().find(|o| o.name == name) else {
            show.abandon();
            bail!("object {name:?} is gone");
        };
        if o.state == ObjectState::Lost {
            show.abandon();
            bail!("object {name:?} is LOST: no copy is left to rebuild from");
        }
        let Some(c) = o.components.iter().find(|c| c.node == node) else {
            show.abandon();
            let nodes: Vec<String> = o.components.iter().map(|c| c.node.to_string()).collect();
            bail!("node {node} no longer holds a component of object {name:?}; its components are on nodes {}", nodes.join(","));
        };
        if c.state == ComponentState::Active {
            // ACTIVE means rebuilt only in a view that includes the request:
            // that of the node that accepted it, one that showed the
            // component out of ACTIVE before, or the leader's (it applied
            // the request before the request was accepted).
            if trusted || pending.is_some() || status.leader == Some(status.node) {
                show.finish();
                return Ok(());
            }
        } else {
            pending = Some(c.state);
        }
        let resync = client.resyncs().await.into_iter().find(|r| r.object == o.id && r.node == node);
        let host_down = status.nodes.iter().any(|n| n.id == node && n.state != "up");
        match (resync, pending) {
            (Some(r), _) => show.progress(&r),
            (None, Some(st)) if host_down => {
                show.waiting(&format!("{}: node {node} is down; waiting for it to come back", st.as_str().to_uppercase()), false)
            }
            (None, Some(ComponentState::Resyncing)) => {
                show.waiting(&format!("RESYNCING: waiting for node {} (owner) to report progress", o.owner), true)
            }
            (None, Some(ComponentState::Absent)) => {
                show.waiting(&format!("ABSENT: waiting for node {node} to rejoin and node {} (owner) to rebuild it", o.owner), false)
            }
            (None, Some(_)) => show.waiting(&format!("STALE: waiting for node {} (owner) to start the rebuild", o.owner), false),
            (None, None) => show.waiting("waiting for the cluster to show the request", false),
        }
    }
}

/// The status as the node that accepted the rebuild sees it (`true`: its
/// view already includes the request), or any node's when it does not
/// answer (`false`).
async fn rebuild_status(client: &Client, answered: NodeId) -> Result<(StatusView, bool), ClientError> {
    match client.control_at(answered, &ControlRequest::Status).await {
        Ok(ControlReply::Status(s)) => Ok((s, true)),
        Ok(other) => Err(ClientError::Reply(format!("expected a status, got {other:?}"))),
        Err(_) => Ok((client.status().await?, false)),
    }
}
