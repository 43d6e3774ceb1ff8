//! The client host: creates a 3-copy object (persistent or memory, by the
//! seed: `SimOptions::object_kind`), then runs writers (each
//! slot written once, retried until acknowledged or given up) and a reader
//! of acknowledged slots during the fault phase; after the liveness phase
//! it reads back every component for the oracle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use holdfast_client::Client;
use holdfast_types::{ErrorCode, ObjectState};
use holdfast_wire::control::{ControlRequest, StatusView};
use rand::{Rng, SeedableRng};

use crate::cluster::{ClientInfo, OBJECT_BYTES, OBJECT_NAME};
use crate::net::TurmoilNet;
use crate::oracle::{slot_content, History, Phase, ReadRecord, SLOT_BYTES};
use crate::SimOptions;

const WRITERS: u64 = 2;
const SLOTS: u64 = OBJECT_BYTES / SLOT_BYTES as u64;

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

fn healthy(s: &StatusView, nodes: usize) -> bool {
    s.leader.is_some()
        && s.nodes.len() == nodes
        && s.nodes.iter().all(|n| n.state == "up" && n.registered)
        && s.objects.iter().all(|o| o.components.iter().all(|c| c.state.as_str() == "active"))
}

type Shared = Arc<Mutex<History>>;

pub async fn run(opts: SimOptions, info: ClientInfo, world: Shared) -> turmoil::Result {
    let client = Arc::new(Client::with_net(Arc::new(TurmoilNet), info.credential.clone(), info.nodes.clone()));
    let nodes = opts.nodes as usize;
    let start = now();
    loop {
        if let Ok(s) = client.status().await {
            if healthy(&s, nodes) {
                break;
            }
        }
        if now() - start > Duration::from_secs(60) {
            return Err("the cluster never became healthy".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let req = ControlRequest::CreateObject { name: OBJECT_NAME.into(), kind: opts.object_kind(), size_bytes: OBJECT_BYTES, replicas: 3 };
    let view = client.create_object(req).await.map_err(|e| format!("create object: {e}"))?;
    {
        let mut h = world.lock().expect("history");
        h.object = Some(view.id);
        h.created_at = Some(now());
        h.placement = view.components.iter().map(|c| c.node).collect();
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        tasks.push(tokio::spawn(writer(client.clone(), world.clone(), stop.clone(), w)));
    }
    tasks.push(tokio::spawn(reader(client.clone(), world.clone(), stop.clone(), opts.seed)));
    let poller = tokio::spawn(poll_status(client.clone(), world.clone(), nodes));
    while world.lock().expect("history").phase == Phase::Faults {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }

    // Liveness: every fault is healed; the cluster must converge.
    let deadline = now() + Duration::from_secs(opts.liveness_secs);
    let mut last;
    loop {
        match client.status().await {
            Ok(s) => {
                let lost = s.objects.iter().any(|o| o.state == ObjectState::Lost);
                if lost {
                    let mut h = world.lock().expect("history");
                    h.lost_at.get_or_insert(now());
                }
                if lost && s.leader.is_some() {
                    break;
                }
                // A status may come from a node whose directory lags (a host
                // that restarted may still show ACTIVE there): converged
                // means every ACTIVE copy also reads back.
                let shown = format!("{:?}", s.objects.iter().map(|o| (&o.components, o.owner, o.epoch)).collect::<Vec<_>>());
                last = if healthy(&s, nodes) {
                    match final_reads(&client).await {
                        Ok(finals) => {
                            world.lock().expect("history").final_components = finals;
                            break;
                        }
                        Err(e) => format!("{shown}, but {e}"),
                    }
                } else {
                    shown
                };
            }
            Err(e) => last = e.to_string(),
        }
        if now() > deadline {
            world.lock().expect("history").liveness_failure =
                Some(format!("not converged {} s after healing: {last}", opts.liveness_secs));
            poller.abort();
            world.lock().expect("history").phase = Phase::Done;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    poller.abort();

    world.lock().expect("history").phase = Phase::Done;
    Ok(())
}

/// Every ACTIVE component's bytes, as the leader's directory lists them.
async fn final_reads(client: &Client) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let view = client.lookup(OBJECT_NAME).await.map_err(|e| format!("lookup: {e}"))?;
    let mut finals = Vec::new();
    for c in view.components.iter().filter(|c| c.state.as_str() == "active") {
        let b = client.component_read(c.node, view.id, 0, OBJECT_BYTES as u32).await.map_err(|e| format!("read node {}: {e}", c.node))?;
        finals.push((c.node, b.to_vec()));
    }
    Ok(finals)
}

async fn writer(client: Arc<Client>, world: Shared, stop: Arc<AtomicBool>, w: u64) {
    let mut slot = w;
    while !stop.load(Ordering::Relaxed) && slot < SLOTS {
        let data = Bytes::from(slot_content(slot));
        match client.write(OBJECT_NAME, slot * SLOT_BYTES as u64, data).await {
            Ok(()) => {
                world.lock().expect("history").acked.insert(slot, now());
            }
            Err(e) => {
                world.lock().expect("history").uncertain.insert(slot);
                if e.code() == Some(ErrorCode::ObjectLost) {
                    return;
                }
            }
        }
        slot += WRITERS;
    }
}

async fn reader(client: Arc<Client>, world: Shared, stop: Arc<AtomicBool>, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    while !stop.load(Ordering::Relaxed) {
        let pick = {
            let h = world.lock().expect("history");
            let n = h.acked.len();
            (n > 0).then(|| *h.acked.keys().nth(rng.gen_range(0..n)).expect("in range"))
        };
        let Some(slot) = pick else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let started = now();
        if let Ok(b) = client.read(OBJECT_NAME, slot * SLOT_BYTES as u64, SLOT_BYTES as u32).await {
            let mut h = world.lock().expect("history");
            h.reads_checked += 1;
            h.reads.push(ReadRecord { slot, started, bytes: b.to_vec() });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn poll_status(client: Arc<Client>, world: Shared, nodes: usize) {
    loop {
        if let Ok(s) = client.status().await {
            let mut h = world.lock().expect("history");
            h.healthy = healthy(&s, nodes);
            h.active = s
                .objects
                .iter()
                .flat_map(|o| o.components.iter().filter(|c| c.state.as_str() == "active").map(|c| c.node))
                .collect();
            if s.objects.iter().any(|o| o.state == ObjectState::Lost) && h.lost_at.is_none() {
                h.lost_at = Some(now());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
