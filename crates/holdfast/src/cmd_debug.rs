//! `holdfast debug …`: fault injection for tests, on clusters whose nodes
//! were configured with `fault_injection = true`.

use std::path::Path;

use clap::Subcommand;
use holdfast_client::{Client, ClusterInfo};
use holdfast_wire::control::ControlRequest;

#[derive(Subcommand)]
pub enum DebugCmd {
    /// Cut node --node off from the nodes in --from (both directions); no
    /// --from heals it.
    Partition {
        #[arg(long)]
        node: u64,
        #[arg(long, value_delimiter = ',')]
        from: Vec<u64>,
    },
}

pub async fn run(dir: &Path, cmd: DebugCmd) -> anyhow::Result<()> {
    let info = ClusterInfo::load(dir).map_err(|e| anyhow::anyhow!(e))?;
    let client = Client::from_cluster(&info);
    match cmd {
        DebugCmd::Partition { node, from } => {
            client.control_at(node, &ControlRequest::Partition { nodes: from.clone() }).await?;
            if from.is_empty() {
                eprintln!("node {node} healed");
            } else {
                eprintln!("node {node} partitioned from nodes {from:?}");
            }
        }
    }
    Ok(())
}
