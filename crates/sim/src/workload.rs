//! The client host: creates a 3-copy object (persistent or memory, by the
//! seed: `SimOptions::object_kind`), then runs writers and a reader for the
//! whole fault phase; after the liveness phase it reads back every
//! component for the oracle. Writers overwrite a few slots over and over,
//! each write a new version of its slot (`oracle::slots::block`), so the
//! work never runs out and every slot gets many versions, the raw material
//! of stale reads and of copies left behind by an older write.

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
use crate::oracle::{block, decode, History, Phase, ReadRecord, SLOT_BYTES};
use crate::SimOptions;

const WRITERS: u32 = 2;
/// Slots the writers overwrite. Few enough that each gets dozens of
/// versions in a fault phase; spread over the whole object (one every
/// `SLOT_STRIDE` slots) so that writes touch every part of the dirty maps
/// that delta rebuilds go by.
const SLOTS_USED: u32 = 128;
const SLOT_STRIDE: u32 = (OBJECT_BYTES / SLOT_BYTES as u64) as u32 / SLOTS_USED;

fn offset(slot: u32) -> u64 {
    u64::from(slot) * SLOT_BYTES as u64
}

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
        tasks.push(tokio::spawn(writer(client.clone(), world.clone(), stop.clone(), w, opts.seed)));
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
                    let copies = copies_at_loss(&client, &world).await;
                    world.lock().expect("history").copies_at_loss = copies;
                    break;
                }
                // A status may come from a node whose directory lags (a host
                // that restarted may still show ACTIVE there): converged
                // means every ACTIVE copy also reads back.
                let shown = format!("{:?}", s.objects.iter().map(|o| (&o.components, o.owner, o.epoch)).collect::<Vec<_>>());
                last = if healthy(&s, nodes) {
                    match final_reads(&client).await {
                        Ok(finals) => {
                            // Just after a host's power loss the directory
                            // still lists its unclean copy ACTIVE, until the
                            // owner re-fences it at the new epoch and has it
                            // rebuilt: converged means the copies agree, and
                            // the last disagreement stands if they never do.
                            let agree = finals.windows(2).all(|w| w[0].1 == w[1].1);
                            world.lock().expect("history").final_components = finals;
                            if agree {
                                break;
                            }
                            format!("{shown}, but the ACTIVE copies differ")
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

/// Each placed node's copy of a LOST object, read without an epoch (the
/// diagnostic read): `loss` judges whether a complete copy survived.
async fn copies_at_loss(client: &Client, world: &Shared) -> Vec<(u64, Option<Vec<u8>>)> {
    let (id, placement) = {
        let h = world.lock().expect("history");
        (h.object, h.placement.clone())
    };
    let Some(id) = id else { return Vec::new() };
    let mut copies = Vec::new();
    for node in placement {
        // Every fault is healed: a copy that exists reads back within a few
        // tries; one that keeps failing is gone (its host restarted).
        let mut copy = None;
        for _ in 0..5 {
            if let Ok(b) = client.component_read(node, id, 0, OBJECT_BYTES as u32).await {
                copy = Some(b.to_vec());
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        copies.push((node, copy));
    }
    copies
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

/// Writer `w` owns every `WRITERS`-th used slot, so each slot has one
/// writer and its versions are sent one after another: the oracle then
/// knows each slot's order of writes without modelling concurrent ones.
/// It picks a random slot of its own (seeded) and writes its next version,
/// until the fault phase ends or the object is LOST.
async fn writer(client: Arc<Client>, world: Shared, stop: Arc<AtomicBool>, w: u32, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9).wrapping_add(u64::from(w) + 1));
    let mine: Vec<u32> = (0..SLOTS_USED).filter(|k| k % WRITERS == w).map(|k| k * SLOT_STRIDE).collect();
    let mut versions = vec![0u32; mine.len()];
    while !stop.load(Ordering::Relaxed) {
        let k = rng.gen_range(0..mine.len());
        versions[k] += 1;
        let (slot, version) = (mine[k], versions[k]);
        let i = world.lock().expect("history").begin_write(slot, version);
        let r = client.write(OBJECT_NAME, offset(slot), Bytes::from(block(slot, version))).await;
        world.lock().expect("history").end_write(i, r.is_ok().then(now));
        if r.is_err_and(|e| e.code() == Some(ErrorCode::ObjectLost)) {
            break;
        }
    }
    world.lock().expect("history").writers_stopped.push(now());
}

/// Reads a random used slot every 5 ms, written yet or not.
async fn reader(client: Arc<Client>, world: Shared, stop: Arc<AtomicBool>, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    while !stop.load(Ordering::Relaxed) {
        let slot = rng.gen_range(0..SLOTS_USED) * SLOT_STRIDE;
        let (started, started_at) = (world.lock().expect("history").tick(), now());
        if let Ok(b) = client.read(OBJECT_NAME, offset(slot), SLOT_BYTES as u32).await {
            let mut h = world.lock().expect("history");
            let ended = h.tick();
            h.reads_checked += 1;
            h.reads.push(ReadRecord { slot, started, ended, started_at, seen: decode(slot, &b) });
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
