//! `holdfast object create|write|read|list|move`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Subcommand;
use holdfast_client::{Client, ClusterInfo};
use holdfast_types::limits::IO_BYTES_MAX;
use holdfast_types::ObjectKind;
use holdfast_wire::control::ControlRequest;

use crate::local::{human_bytes, parse_size};

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
    }
    Ok(())
}
