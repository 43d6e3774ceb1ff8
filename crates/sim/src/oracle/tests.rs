//! The overwrite oracle on hand-made histories: each check must report a
//! broken rule, and must let the outcomes the protocol allows pass.

use std::time::Duration;

use super::slots::{block, decode, Seen, SLOT_BYTES};
use super::{durability, linearizable, loss, History, ReadRecord};

const SLOTS: usize = 4;

/// Sends and finishes one write of `slot` (the next version) at once.
fn write(h: &mut History, slot: u32, acked: bool) -> u32 {
    let version = h.writes.iter().filter(|w| w.slot == slot).count() as u32 + 1;
    let i = h.begin_write(slot, version);
    let at = Duration::from_millis(h.clock);
    h.end_write(i, acked.then_some(at));
    version
}

/// A read of `slot` sent now that returns `seen` at once.
fn read(h: &mut History, slot: u32, seen: Seen) {
    let started = h.tick();
    let ended = h.tick();
    h.reads.push(ReadRecord { slot, started, ended, started_at: Duration::from_millis(started), seen });
}

/// The final image with `slot` holding `version` (0: zeroes).
fn finals(h: &mut History, slot: u32, version: u32) {
    let mut img = vec![0u8; SLOTS * SLOT_BYTES];
    if version > 0 {
        let at = slot as usize * SLOT_BYTES;
        img[at..at + SLOT_BYTES].copy_from_slice(&block(slot, version));
    }
    h.final_components = vec![(1, img)];
}

fn invariants(v: Vec<super::Violation>) -> Vec<&'static str> {
    v.iter().map(|v| v.invariant).collect()
}

#[test]
fn blocks_name_their_slot_and_version() {
    assert_eq!(decode(3, &block(3, 7)), Seen::Version(7));
    assert_eq!(decode(3, &[0; SLOT_BYTES]), Seen::Zero);
    assert!(matches!(decode(2, &block(3, 7)), Seen::Garbage(d) if d.contains("slot 3 version 7")));
    let mut torn = block(3, 7);
    torn[SLOT_BYTES / 2..].copy_from_slice(&block(3, 8)[SLOT_BYTES / 2..]);
    assert!(matches!(decode(3, &torn), Seen::Garbage(_)));
}

#[test]
fn durability_catches_an_older_acknowledged_version() {
    let mut h = History::default();
    write(&mut h, 1, true);
    let v2 = write(&mut h, 1, true);
    finals(&mut h, 1, v2);
    assert!(durability::check(&h).is_empty());
    finals(&mut h, 1, 1);
    let v = durability::check(&h);
    assert_eq!(invariants(v.clone()), ["durability"]);
    assert!(v[0].detail.contains("slot 1 holds version 1") && v[0].detail.contains("version 2 was acknowledged"), "{v:?}");
    finals(&mut h, 1, 0);
    assert_eq!(invariants(durability::check(&h)), ["durability"]);
    // A version never sent, and a block of another slot, are not writes of it.
    finals(&mut h, 1, 3);
    assert_eq!(invariants(durability::check(&h)), ["durability"]);
    let mut img = vec![0u8; SLOTS * SLOT_BYTES];
    img[..SLOT_BYTES].copy_from_slice(&block(1, 2));
    h.final_components = vec![(1, img)];
    assert_eq!(invariants(durability::check(&h)).len(), 2, "slot 0 holds slot 1's bytes, slot 1 zeroes");
}

#[test]
fn durability_lets_a_failed_write_land_or_not() {
    let mut h = History::default();
    write(&mut h, 2, true);
    let failed = write(&mut h, 2, false);
    finals(&mut h, 2, failed);
    assert!(durability::check(&h).is_empty(), "a failed write may have been applied");
    finals(&mut h, 2, 1);
    assert!(durability::check(&h).is_empty(), "or not");
    // A failed write may even be applied after a later acknowledged one.
    let v3 = write(&mut h, 2, true);
    finals(&mut h, 2, failed);
    assert!(durability::check(&h).is_empty());
    finals(&mut h, 2, 1);
    assert_eq!(invariants(durability::check(&h)), ["durability"], "version 1 was acknowledged before version {v3}");
    // Nothing acknowledged: zeroes are fine.
    let mut h = History::default();
    write(&mut h, 0, false);
    finals(&mut h, 0, 0);
    assert!(durability::check(&h).is_empty());
}

#[test]
fn reads_must_not_go_back_before_an_acknowledged_version() {
    let mut h = History::default();
    read(&mut h, 1, Seen::Zero);
    write(&mut h, 1, true);
    read(&mut h, 1, Seen::Version(1));
    let v2 = write(&mut h, 1, true);
    read(&mut h, 1, Seen::Version(v2));
    assert!(linearizable::check(&h).is_empty());
    read(&mut h, 1, Seen::Version(1));
    let v = linearizable::check(&h);
    assert_eq!(invariants(v.clone()), ["linearizable-reads"]);
    assert!(v[0].detail.contains("returned version 1") && v[0].detail.contains("version 2 was acknowledged"), "{v:?}");
    read(&mut h, 1, Seen::Zero);
    assert_eq!(linearizable::check(&h).len(), 2);
}

#[test]
fn reads_may_see_writes_in_flight_but_not_unsent_ones() {
    let mut h = History::default();
    write(&mut h, 3, true);
    // Version 2 is sent while the read is out; the read may see either.
    let r_started = h.tick();
    let i = h.begin_write(3, 2);
    let r_ended = h.tick();
    h.reads.push(ReadRecord { slot: 3, started: r_started, ended: r_ended, started_at: Duration::ZERO, seen: Seen::Version(2) });
    h.reads.push(ReadRecord { slot: 3, started: r_started, ended: r_ended, started_at: Duration::ZERO, seen: Seen::Version(1) });
    h.end_write(i, Some(Duration::from_millis(9)));
    assert!(linearizable::check(&h).is_empty());
    // A read that returned before version 3 was sent cannot hold it.
    read(&mut h, 3, Seen::Version(3));
    write(&mut h, 3, false);
    assert_eq!(invariants(linearizable::check(&h)), ["linearizable-reads"]);
    read(&mut h, 3, Seen::Garbage("garbage".into()));
    assert_eq!(linearizable::check(&h).len(), 2);
}

#[test]
fn loss_is_dishonest_only_while_a_complete_copy_survives() {
    let mut h = History::default();
    h.created_at = Some(Duration::ZERO);
    h.placement = vec![1, 2, 3];
    let v = write(&mut h, 1, true);
    h.lost_at = Some(Duration::from_secs(5));
    let image = |version: u32| {
        let mut img = vec![0u8; SLOTS * SLOT_BYTES];
        if version > 0 {
            img[SLOT_BYTES..2 * SLOT_BYTES].copy_from_slice(&block(1, version));
        }
        img
    };
    // Nodes 1 and 2 crashed before the declaration; node 3 holds a stale
    // copy that misses the acknowledged write: honest.
    h.crashes.insert(1, vec![Duration::from_secs(1)]);
    h.crashes.insert(2, vec![Duration::from_secs(2)]);
    h.copies_at_loss = vec![(1, None), (2, None), (3, Some(image(0)))];
    assert!(loss::check(&h).is_empty());
    // Node 3 holds every acknowledged write: declaring LOST lost it.
    h.copies_at_loss[2].1 = Some(image(v));
    assert_eq!(invariants(loss::check(&h)), ["honest-loss"]);
    // Node 3's copy could not be read: nothing shows it was incomplete.
    h.copies_at_loss[2].1 = None;
    assert_eq!(invariants(loss::check(&h)), ["honest-loss"]);
    // Node 3 crashed too, before the declaration: honest whatever it read.
    h.crashes.insert(3, vec![Duration::from_secs(3)]);
    assert!(loss::check(&h).is_empty());
}
