//! The seeded fault schedule, applied between simulation steps.
//!
//! Crashes (with RAM loss) happen one at a time and only while the cluster
//! is healthy, so that at least one copy of the object always survives;
//! with `harsh_crashes` they may also hit a host while a rebuild runs and
//! while another host is down (two failures at once), as long as the
//! latest status shows two other live hosts with an ACTIVE copy; the network faults (two-way and one-way partitions,
//! held links, message loss, slow hosts) may overlap anything. One more
//! crash is aimed rather than drawn on the clock: at a rebuilt copy's
//! host as its copy completes (`aim_at_promotion`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use turmoil::Sim;

use crate::cluster::host_name;
use crate::oracle::{History, Phase};
use crate::SimOptions;

const DEFAULT_MAX_LATENCY: Duration = Duration::from_millis(2);

#[derive(Debug, Clone)]
enum Heal {
    Bounce(u32),
    Repair(u32, u32),
    RepairOneway(u32, u32),
    Release(u32, u32),
    NoLoss(u32, u32),
    Latency(u32),
}

fn apply(sim: &mut Sim, h: &Heal, nodes: u32) {
    let n = host_name;
    match *h {
        Heal::Bounce(x) => sim.bounce(n(x)),
        Heal::Repair(a, b) => sim.repair(n(a), n(b)),
        Heal::RepairOneway(a, b) => sim.repair_oneway(n(a), n(b)),
        Heal::Release(a, b) => sim.release(n(a), n(b)),
        Heal::NoLoss(a, b) => sim.set_link_fail_rate(n(a), n(b), 0.0),
        Heal::Latency(x) => {
            for y in (1..=nodes).filter(|&y| y != x) {
                sim.set_link_max_message_latency(n(x), n(y), DEFAULT_MAX_LATENCY);
            }
        }
    }
}

/// Hosts down at once, at most.
const CRASHED_MAX: usize = 2;

/// May host `x` crash now? By default only while none is down and the
/// cluster is healthy. With `harsh`, also during rebuilds and with one
/// host down already, but not unless two other live hosts hold an ACTIVE
/// copy as far as the latest status knows: that status may be 200 ms old,
/// and a crash that took the last good copy of a memory object would end
/// the run in an honest LOST that tests nothing.
fn crash_allowed(x: u32, crashed: &[u32], active: &[u64], healthy: bool, harsh: bool) -> bool {
    if !harsh {
        return crashed.is_empty() && healthy;
    }
    let others = active.iter().filter(|&&n| n != x as u64 && !crashed.contains(&(n as u32))).count();
    crashed.len() < CRASHED_MAX && !crashed.contains(&x) && others >= 2
}

/// Share of crashes that are power losses (the host's unsynced writes lost)
/// rather than process crashes (the page cache survives).
const POWER_LOSS_P: f64 = 0.5;

fn ms(rng: &mut impl Rng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rng.gen_range(lo..hi))
}

/// Share of rebuilds whose copy's host is crashed the moment the copy is
/// complete (`aim_at_promotion`).
const PROMOTION_CRASH_P: f64 = 0.3;

/// The fault aimed at the promotion window: when an owner has copied
/// everything to a rebuilt copy (`RebuildEvent::Copied`, recorded in the
/// simulation step that just ran), crash the copy's host, with
/// probability `PROMOTION_CRASH_P`, before the owner's ACTIVE commit (a
/// Raft round trip of a few ms) comes back. Its connections close at once,
/// so writes in flight to it fail inside that window: the owner must then
/// commit it ABSENT, or, had it not counted the copy ACTIVE yet, give up
/// the promotion. The random schedule almost never crashes a host in those
/// few ms (it crashes only healthy clusters, one host at a time). The copy
/// holds no counted copy yet, so this crash needs only that no other host
/// is down. A process crash, not a power loss: its disk is not the point.
fn aim_at_promotion(
    sim: &mut Sim,
    e: holdfast_replication::observe::RebuildEvent,
    rng: &mut impl Rng,
    crashed: &mut Vec<u32>,
    heals: &mut Vec<(Duration, Heal)>,
    world: &Arc<Mutex<History>>,
    now: Duration,
) -> Option<(String, Duration)> {
    let holdfast_replication::observe::RebuildEvent::Copied { owner, node, .. } = e else { return None };
    let x = node as u32;
    if !crashed.is_empty() || !rng.gen_bool(PROMOTION_CRASH_P) {
        return None;
    }
    sim.crash(host_name(x));
    crashed.push(x);
    world.lock().expect("history").crashes.entry(node).or_default().push(now);
    let restart = now + ms(rng, 300, 2500);
    heals.push((restart, Heal::Bounce(x)));
    Some((format!("{now:?} crash n{x} as n{owner} finished rebuilding it"), restart))
}

/// Steps the simulation to the end, injecting faults during the fault
/// phase and healing everything for the liveness phase. Returns a log of
/// the faults injected.
pub fn drive(sim: &mut Sim, opts: &SimOptions, world: &Arc<Mutex<History>>, cluster_dir: &Path) -> Result<Vec<String>, String> {
    let r = drive_inner(sim, opts, world, cluster_dir);
    if opts.verbose {
        if let Ok(log) = &r {
            for l in log {
                eprintln!("fault: {l}");
            }
        }
    }
    r
}

fn drive_inner(sim: &mut Sim, opts: &SimOptions, world: &Arc<Mutex<History>>, cluster_dir: &Path) -> Result<Vec<String>, String> {
    let nodes = opts.nodes;
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(7));
    // Power losses draw from their own generator, so the fault schedule of
    // a seed stays what it was before they existed.
    let mut power_rng = rand::rngs::StdRng::seed_from_u64(opts.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(11));
    // So does the crash aimed at the promotion window (`aim_at_promotion`).
    let mut aim_rng = rand::rngs::StdRng::seed_from_u64(opts.seed.wrapping_mul(0xbf58_476d_1ce4_e5b9).wrapping_add(13));
    let mut rebuilds_seen = 0;
    // With `harsh_crashes`, while Some: the restart time of a host the
    // aimed crash took down. The schedule's own crashes wait until a
    // status poll a second after it shows the cluster healthy again: a
    // memory copy that crash lost
    // stays ACTIVE in the status until the restart is processed, and a
    // harsh crash trusting that (seed 50011 with `--harsh-crashes
    // --fault-secs 20`) took the owner's copy as well, and the object was
    // declared LOST with a host that never crashed (honest-loss). The aimed
    // crash is there for the promotion race, not for double failures.
    // Without `harsh_crashes` a crash already waits for a healthy cluster
    // with no host down, and holding crashes back longer there changed
    // the default schedule enough to lose most catches of the promotion
    // mutation (7 of seeds 1..=30 fell to none).
    let mut aimed: Option<Duration> = None;
    let mut heals: Vec<(Duration, Heal)> = Vec::new();
    let mut crashed: Vec<u32> = Vec::new();
    let mut fault_start: Option<Duration> = None;
    let mut next = Duration::ZERO;
    let mut log = Vec::new();
    loop {
        let done = sim.step().map_err(|e| e.to_string())?;
        if done {
            return Ok(log);
        }
        let now = sim.elapsed();
        let mut i = 0;
        while i < heals.len() {
            if heals[i].0 <= now {
                let (_, h) = heals.remove(i);
                if let Heal::Bounce(x) = h {
                    crashed.retain(|&c| c != x);
                }
                apply(sim, &h, nodes);
            } else {
                i += 1;
            }
        }
        // Read every step, so that only events of this step are acted on.
        let events = holdfast_replication::observe::since(rebuilds_seen);
        rebuilds_seen += events.len();
        let (phase, object_ready, active, healthy) = {
            let h = world.lock().expect("history");
            (h.phase.clone(), h.object.is_some(), h.active.clone(), h.healthy)
        };
        if phase != Phase::Faults || !object_ready {
            continue;
        }
        let start = *fault_start.get_or_insert_with(|| {
            world.lock().expect("history").fault_start = Some(now);
            now
        });
        if now >= start + Duration::from_secs(opts.fault_secs) {
            for (_, h) in heals.drain(..) {
                apply(sim, &h, nodes);
            }
            // Overlapping faults share one state per link direction, so
            // reset every link outright rather than trust the heal order.
            for a in 1..=nodes {
                for b in (1..=nodes).filter(|&b| b != a) {
                    sim.release(host_name(a), host_name(b));
                    sim.repair(host_name(a), host_name(b));
                    sim.set_link_fail_rate(host_name(a), host_name(b), 0.0);
                    sim.set_link_max_message_latency(host_name(a), host_name(b), DEFAULT_MAX_LATENCY);
                }
            }
            log.push(format!("{now:?} heal all"));
            let mut h = world.lock().expect("history");
            h.phase = Phase::Liveness;
            h.fault_end = Some(now);
            continue;
        }
        for e in events {
            if let Some((l, restart)) = aim_at_promotion(sim, e, &mut aim_rng, &mut crashed, &mut heals, world, now) {
                log.push(l);
                if opts.harsh_crashes {
                    aimed = Some(restart);
                }
            }
        }
        if aimed.is_some_and(|t| healthy && now >= t + Duration::from_secs(1)) {
            aimed = None;
        }
        if now < next {
            continue;
        }
        next = now + ms(&mut rng, 200, 1200);
        let x = rng.gen_range(1..=nodes);
        let y = {
            let y = rng.gen_range(1..nodes);
            if y >= x { y + 1 } else { y }
        };
        match rng.gen_range(0..6) {
            0 if aimed.is_none() && crash_allowed(x, &crashed, &active, healthy, opts.harsh_crashes) => {
                sim.crash(host_name(x));
                crashed.push(x);
                world.lock().expect("history").crashes.entry(x as u64).or_default().push(now);
                heals.push((now + ms(&mut rng, 300, 2500), Heal::Bounce(x)));
                if power_rng.gen_bool(POWER_LOSS_P) {
                    // The host's page cache dies too: each page written
                    // since its last sync reached the disk or did not.
                    let dir = cluster_dir.join(host_name(x));
                    let reverted = holdfast_local_store::sim_disk::power_loss(&dir, &mut || power_rng.gen_bool(0.5));
                    log.push(format!("{now:?} crash n{x} with power loss ({reverted} unsynced pages lost)"));
                } else {
                    log.push(format!("{now:?} crash n{x}"));
                }
            }
            1 => {
                for z in (1..=nodes).filter(|&z| z != x) {
                    sim.partition(host_name(x), host_name(z));
                    heals.push((now + ms(&mut rng, 500, 3000), Heal::Repair(x, z)));
                }
                log.push(format!("{now:?} partition n{x} from all"));
            }
            2 => {
                sim.partition_oneway(host_name(x), host_name(y));
                heals.push((now + ms(&mut rng, 500, 3000), Heal::RepairOneway(x, y)));
                log.push(format!("{now:?} one-way partition n{x}->n{y}"));
            }
            3 => {
                sim.hold(host_name(x), host_name(y));
                heals.push((now + ms(&mut rng, 50, 800), Heal::Release(x, y)));
                log.push(format!("{now:?} hold n{x}<->n{y}"));
            }
            4 => {
                let p = rng.gen_range(0.05..0.3);
                sim.set_link_fail_rate(host_name(x), host_name(y), p);
                heals.push((now + ms(&mut rng, 300, 2000), Heal::NoLoss(x, y)));
                log.push(format!("{now:?} loss {p:.2} n{x}<->n{y}"));
            }
            5 => {
                let lat = ms(&mut rng, 20, 120);
                for z in (1..=nodes).filter(|&z| z != x) {
                    sim.set_link_max_message_latency(host_name(x), host_name(z), lat);
                }
                heals.push((now + ms(&mut rng, 300, 2500), Heal::Latency(x)));
                log.push(format!("{now:?} slow n{x} ({lat:?})"));
            }
            _ => {}
        }
    }
}
