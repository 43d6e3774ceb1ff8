//! `holdfast status [--json]`.

use std::path::Path;

use holdfast_client::{Client, ClusterInfo};
use holdfast_wire::control::StatusView;

use crate::local::human_bytes;

pub async fn status(dir: &Path, json: bool) -> anyhow::Result<()> {
    let info = ClusterInfo::load(dir).map_err(|e| anyhow::anyhow!(e))?;
    let client = Client::from_cluster(&info);
    let s = client.status().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print_status(&s);
    }
    Ok(())
}

fn print_status(s: &StatusView) {
    match s.leader {
        Some(l) => println!("directory leader: node {l} (term {}, applied index {}, answered by node {})", s.term, s.applied_index, s.node),
        None => println!("directory leader: none (answered by node {})", s.node),
    }
    println!();
    println!("{:<6} {:<22} {:<6} {}", "NODE", "ADDR", "STATE", "REGISTERED");
    for n in &s.nodes {
        println!("{:<6} {:<22} {:<6} {}", n.id, n.addr, n.state, if n.registered { "yes" } else { "no" });
    }
    println!();
    if s.objects.is_empty() {
        println!("no objects");
    } else {
        println!("{:<20} {:<10} {:>8} {:>6} {:>6} {:<9} COMPONENTS", "OBJECT", "KIND", "SIZE", "OWNER", "EPOCH", "STATE");
        for o in &s.objects {
            let comps: Vec<String> = o
                .components
                .iter()
                .map(|c| {
                    if c.progress < 1.0 && c.state.as_str() == "resyncing" {
                        format!("{}:{}({:.0}%)", c.node, c.state.as_str(), c.progress * 100.0)
                    } else {
                        format!("{}:{}", c.node, c.state.as_str())
                    }
                })
                .collect();
            println!(
                "{:<20} {:<10} {:>8} {:>6} {:>6} {:<9} {}",
                o.name,
                o.kind.as_str(),
                human_bytes(o.size),
                o.owner,
                o.epoch,
                o.state.as_str(),
                comps.join(" ")
            );
        }
    }
    println!();
    if s.services.is_empty() {
        println!("no services");
    }
    for sv in &s.services {
        println!("service {} at {} on node {}", sv.name, sv.addr, sv.node);
    }
}
