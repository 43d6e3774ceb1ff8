//! Chaos with real processes: a writer runs while a random host is killed
//! with SIGKILL and restarted, over and over. At the end no acknowledged
//! write is lost, every component is ACTIVE again, and all copies match.
//!
//! HOLDFAST_CHAOS_CYCLES (default 30) sets the number of kill/restart cycles;
//! HOLDFAST_CHAOS_SEED picks the victims (printed for replay).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{check_acked_everywhere, runtime, TestCluster, Writer};
use holdfast_types::ObjectKind;
use holdfast_wire::control::ControlRequest;
use rand::{Rng, SeedableRng};

#[test]
fn kill_and_restart_random_hosts_under_writes() {
    let cycles: u32 = std::env::var("HOLDFAST_CHAOS_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let seed: u64 = std::env::var("HOLDFAST_CHAOS_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("chaos: {cycles} cycles, seed {seed} (HOLDFAST_CHAOS_SEED={seed} replays the victims)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut c = TestCluster::start("chaos", 3);
    c.wait_healthy(3);
    let rt = runtime();
    rt.block_on(c.client().create_object(ControlRequest::CreateObject {
        name: "w".into(),
        kind: ObjectKind::Memory,
        size_bytes: 512 << 20,
        replicas: 3,
    }))
    .expect("create");
    let acked = rt.block_on(async {
        let w = Writer::start(Arc::new(c.client()), "w", (512 << 20) / common::SLOT_BYTES as u64);
        w.wait_acked(200).await;
        for cycle in 0..cycles {
            let victim = rng.gen_range(1..=3u64);
            c.kill(victim);
            tokio::time::sleep(Duration::from_millis(rng.gen_range(1000..3000))).await;
            c.start_node(victim);
            // One failure at a time: wait until every copy is ACTIVE again
            // (a second kill before that could take the last copy).
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                let s = c.status_async().await;
                let up = s.nodes.iter().filter(|n| n.state == "up" && n.registered).count();
                if up == 3 && s.objects.iter().all(|o| o.components.iter().all(|x| x.state.as_str() == "active")) {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "cycle {cycle}: not all ACTIVE 60 s after restarting node {victim}: {:?}", s.objects);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(!w.handle.is_finished(), "writer stopped at cycle {cycle}");
            eprintln!("chaos cycle {cycle}: killed and restarted node {victim}; {} writes acknowledged", w.acked());
        }
        w.finish().await
    });
    let active = rt.block_on(check_acked_everywhere(&c, "w", acked));
    assert_eq!(active.len(), 3, "not every component is ACTIVE at the end");
    eprintln!("chaos: {acked} acknowledged writes, none lost, 3 identical copies");
}
