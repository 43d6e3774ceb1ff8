//! Failure handling with real processes: owner loss under load, host
//! restart and rebuild, loss of every copy, and a partitioned owner.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{check_acked_everywhere, runtime, TestCluster, Writer};
use holdfast_client::Client;
use holdfast_types::{ErrorCode, ObjectKind};
use holdfast_wire::control::ControlRequest;

fn create(c: &TestCluster, name: &str, kind: ObjectKind, size: u64, replicas: u32) -> holdfast_wire::control::ObjectView {
    let rt = runtime();
    rt.block_on(c.client().create_object(ControlRequest::CreateObject { name: name.into(), kind, size_bytes: size, replicas }))
        .expect("create object")
}

/// Kill the owner of a 3-copy memory object under load: writes resume on a
/// new owner, every acknowledged byte is on every ACTIVE component; the
/// restarted host's copy is rebuilt and identical.
#[test]
fn owner_killed_under_load_writes_resume_on_a_new_owner() {
    let mut c = TestCluster::start("ownerkill", 3);
    c.wait_healthy(3);
    let o = create(&c, "w", ObjectKind::Memory, 16 << 20, 3);
    let rt = runtime();
    let acked = rt.block_on(async {
        let w = Writer::start(Arc::new(c.client()), "w", 3000);
        w.wait_acked(800).await;
        c.kill(o.owner);
        w.wait_acked(2000).await;
        w.finish().await
    });
    let s = c.status();
    let v = s.objects.iter().find(|x| x.name == "w").unwrap();
    assert_ne!(v.owner, o.owner, "ownership did not move");
    assert!(v.epoch > o.epoch);
    assert_eq!(v.components.iter().find(|x| x.node == o.owner).unwrap().state.as_str(), "absent");
    let active = rt.block_on(check_acked_everywhere(&c, "w", acked));
    assert_eq!(active.len(), 2);

    c.start_node(o.owner);
    c.wait_all_active(3);
    let active = rt.block_on(check_acked_everywhere(&c, "w", acked));
    assert_eq!(active.len(), 3, "restarted host's copy not rebuilt");
}

/// Restart a non-owner host while writes continue: its memory component
/// goes STALE, is rebuilt, and returns to ACTIVE; writes never stop.
#[test]
fn restarted_host_is_rebuilt_while_writes_continue() {
    let mut c = TestCluster::start("rebuild", 3);
    c.wait_healthy(3);
    let o = create(&c, "w", ObjectKind::Memory, 64 << 20, 3);
    let victim = (1..=3).find(|&n| n != o.owner).unwrap();
    let rt = runtime();
    let acked = rt.block_on(async {
        let w = Writer::start(Arc::new(c.client()), "w", 1_000_000);
        w.wait_acked(500).await;
        c.kill(victim);
        let before = w.acked();
        w.wait_acked(before + 300).await;
        c.start_node(victim);
        // Writes continue while the rebuild runs; watch the state change.
        let mut saw_not_active = false;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let s = c.status_async().await;
            let comp = s.objects[0].components.iter().find(|x| x.node == victim).unwrap().state;
            if comp.as_str() != "active" {
                saw_not_active = true;
            } else if saw_not_active {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "component of node {victim} never came back ACTIVE");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let after = w.acked();
        w.wait_acked(after + 300).await;
        w.finish().await
    });
    let active = rt.block_on(check_acked_everywhere(&c, "w", acked));
    assert_eq!(active.len(), 3);
}

/// A persistent component that missed writes while its host was down is
/// caught up by delta: only the regions written meanwhile are sent.
#[test]
fn persistent_component_is_caught_up_by_delta() {
    let mut c = TestCluster::start("delta", 3);
    c.wait_healthy(3);
    let o = create(&c, "p", ObjectKind::Persistent, 64 << 20, 3);
    let victim = (1..=3).find(|&n| n != o.owner).unwrap();
    let rt = runtime();
    let acked = rt.block_on(async {
        let w = Writer::start(Arc::new(c.client()), "p", 400);
        w.wait_acked(100).await;
        c.kill(victim);
        w.wait_acked(400).await;
        w.finish().await
    });
    assert_eq!(acked, 400);
    c.start_node(victim);
    c.wait_all_active(3);
    let active = rt.block_on(check_acked_everywhere(&c, "p", acked));
    assert_eq!(active.len(), 3);
    let log = std::fs::read_to_string(c.dir.join(format!("node-{}/node.log", o.owner))).unwrap();
    let line = log.lines().find(|l| l.contains("rebuilt component is ACTIVE") && l.contains(&format!("node={victim}"))).expect("rebuild logged");
    assert!(line.contains("delta=true"), "expected a delta rebuild: {line}");
    // 300 slots of 512 B fall in a handful of 4 KiB regions, far from 64 MiB.
    let bytes: u64 = line.split("bytes=").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(bytes < 1 << 20, "delta rebuild sent {bytes} bytes");
}

/// Kill every host holding a memory object: it cannot serve (a clear
/// error), and once those hosts come back without their RAM it is LOST.
#[test]
fn losing_every_copy_makes_a_memory_object_lost() {
    let mut c = TestCluster::start("lost", 5);
    c.wait_healthy(5);
    let o = create(&c, "m", ObjectKind::Memory, 4 << 20, 2);
    let rt = runtime();
    rt.block_on(c.client().write("m", 0, Bytes::from(vec![1u8; 4096]))).unwrap();
    let holders: Vec<u64> = o.components.iter().map(|x| x.node).collect();
    for &h in &holders {
        c.kill(h);
    }
    std::thread::sleep(Duration::from_millis(1500));
    let survivor = (1..=5).find(|n| !holders.contains(n)).unwrap();
    rt.block_on(async {
        let client = c.client();
        let conn = client.conn(survivor).await.unwrap();
        let e = Client::write_at(&conn, o.id, 0, Bytes::from(vec![2u8; 512])).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::Unavailable), "{e}");
        assert!(e.to_string().contains("down"), "{e}");
    });
    let s = c.status();
    assert_ne!(s.objects[0].state.as_str(), "lost", "not LOST while its hosts might still hold it");
    for &h in &holders {
        c.start_node(h);
    }
    c.wait_healthy(5);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while c.status().objects[0].state.as_str() != "lost" {
        assert!(std::time::Instant::now() < deadline, "object not LOST after its hosts restarted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = c.cli(&["object", "read", "m", "--offset", "0", "--length", "512"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("OBJECT_LOST"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Partition the owner away: it cannot acknowledge writes; the majority
/// moves ownership and goes on; after healing the old owner rejoins and its
/// copy is rebuilt.
#[test]
fn partitioned_owner_cannot_write_and_rejoins_cleanly() {
    let c = TestCluster::start_with("partition", 3, &["--fault-injection"]);
    c.wait_healthy(3);
    let o = create(&c, "w", ObjectKind::Memory, 16 << 20, 3);
    let others: Vec<u64> = (1..=3).filter(|&n| n != o.owner).collect();
    let rt = runtime();
    let acked = rt.block_on(async {
        let client = Arc::new(c.client());
        let w = Writer::start(client.clone(), "w", 1_000_000);
        w.wait_acked(300).await;
        let from = others.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
        let out = c.cli(&["debug", "partition", "--node", &o.owner.to_string(), "--from", &from]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // The isolated owner cannot get a write acknowledged.
        let conn = Client::dial(&c.info.credential, o.owner, &c.info.nodes[&o.owner]).await.unwrap();
        let e = Client::write_at(&conn, o.id, 512 * 2_000_000, Bytes::from(vec![7u8; 512])).await;
        assert!(e.is_err(), "a partitioned owner acknowledged a write");
        // The majority side keeps writing through a new owner.
        let now = w.acked();
        w.wait_acked(now + 300).await;
        let out = c.cli(&["debug", "partition", "--node", &o.owner.to_string()]);
        assert!(out.status.success());
        let now = w.acked();
        w.wait_acked(now + 100).await;
        w.finish().await
    });
    let s = c.wait_all_active(3);
    let v = &s.objects[0];
    assert_ne!(v.owner, o.owner);
    let active = rt.block_on(check_acked_everywhere(&c, "w", acked));
    assert_eq!(active.len(), 3);
    // The old owner's attempted write never reached any copy.
    rt.block_on(async {
        let client = c.client();
        for n in 1..=3 {
            let b = client.component_read(n, o.id, (512 * 2_000_000) % (16 << 20), 512).await.unwrap();
            assert_ne!(&b[..], &[7u8; 512][..], "node {n} holds the partitioned owner's write");
        }
    });
}

/// Re-protection: a host that stays away longer than the repair delay has
/// its component replaced by a new one on another host, rebuilt from the
/// owner; the object is back to three ACTIVE copies without that host.
#[test]
fn a_host_away_past_the_repair_delay_is_replaced() {
    let mut c = TestCluster::start_with("reprotect", 5, &["--repair-delay-ms", "1500"]);
    c.wait_healthy(5);
    let o = create(&c, "m", ObjectKind::Memory, 8 << 20, 3);
    let data = common::pattern(64 * 1024, 11);
    let f = common::write_file(&c.dir, "data", &data);
    c.cli_ok(&["object", "write", "m", "--offset", "0", "--data-file", f.to_str().unwrap()]);
    let victim = o.components.iter().map(|x| x.node).find(|&n| n != o.owner).unwrap();
    c.kill(victim);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let replaced = loop {
        let s = c.status();
        let v = s.objects.iter().find(|x| x.name == "m").unwrap();
        let nodes: Vec<u64> = v.components.iter().map(|x| x.node).collect();
        if !nodes.contains(&victim) && v.components.len() == 3 && v.components.iter().all(|x| x.state.as_str() == "active") {
            break nodes;
        }
        assert!(std::time::Instant::now() < deadline, "not re-protected in 60 s: {:?}", v.components);
        std::thread::sleep(Duration::from_millis(200));
    };
    let len = data.len().to_string();
    for n in replaced {
        assert_eq!(c.cli_ok(&["object", "read", "m", "--offset", "0", "--length", &len, "--node", &n.to_string()]), data, "node {n}");
    }
}
