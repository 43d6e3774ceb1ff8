use super::*;
use crate::error::status;

const RW_ACCESS: u32 = 0x0012_019F;
const SHARE_ALL: u32 = 7;

fn holder(conn: u64) -> Holder {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    Holder { conn_id: conn, session_id: 1, file_id: FileId { persistent: conn, volatile: conn }, tx }
}

fn open(t: &mut Table, req: Requested, conn: Option<u64>, share_access: u32, persistent: Option<bool>) -> (u64, Granted) {
    let g = t.grant("s", 5, false, RW_ACCESS, true, &req).unwrap();
    let lease = match req {
        Requested::Lease { id, .. } => Some(id),
        _ => None,
    };
    let record = persistent.map(|p| HandleRecord { persistent_id: 77, share: "s".into(), is_persistent: p, ..Default::default() });
    let id = t.insert(Entry {
        share: "s".into(),
        ino: 5,
        path_key: "f".into(),
        holder: conn.map(holder),
        access: RW_ACCESS,
        share_access,
        oplock: g.oplock,
        lease,
        breaking_to: None,
        record,
        position: 0,
        create_key: None,
        replay_eligible: false,
        create_action: 0,
        disconnecting: false,
        delete_on_close: false,
    });
    (id, g)
}

fn new_open(lease: Option<LeaseId>, share_access: u32) -> NewOpen<'static> {
    NewOpen { share: "s", path_key: "f", access: RW_ACCESS, share_access, overwrite: false, lease, retry: false }
}

fn lease(key: u8, state: u32) -> Requested {
    Requested::Lease { id: ([1; 16], [key; 16]), state, version: 2, epoch: 0, parent_key: [0; 16], flags: 0 }
}

#[test]
fn batch_alone_then_broken_to_level_ii_with_ack() {
    let mut t = Table::default();
    let (a, g) = open(&mut t, Requested::Oplock(oplock::BATCH), Some(1), SHARE_ALL, None);
    assert_eq!(g.oplock, oplock::BATCH);
    let p = t.plan_open(&new_open(None, SHARE_ALL));
    assert!(p.wait && p.sends.len() == 1 && !p.blocked);
    assert!(matches!(p.sends[0].notice, Notice::Oplock { level: oplock::LEVEL_II, .. }));
    // Not acknowledged yet: a second planner waits too and sends nothing.
    let p2 = t.plan_open(&new_open(None, SHARE_ALL));
    assert!(p2.wait && p2.sends.is_empty());
    assert_eq!(t.ack_oplock(a, oplock::LEVEL_II).unwrap().0, oplock::LEVEL_II);
    assert!(!t.breaking_on_path("s", "f"));
    let (_, g2) = open(&mut t, Requested::Oplock(oplock::BATCH), Some(2), SHARE_ALL, None);
    assert_eq!(g2.oplock, oplock::LEVEL_II);
    // A second ack is a protocol error.
    assert_eq!(t.ack_oplock(a, oplock::NONE).unwrap_err(), status::INVALID_OPLOCK_PROTOCOL);
}

#[test]
fn a_later_open_tightens_a_break_which_goes_on_in_steps() {
    let mut t = Table::default();
    let key = ([1; 16], [1; 16]);
    open(&mut t, lease(1, R | H | W), Some(1), SHARE_ALL, None);
    let p = t.plan_open(&new_open(None, SHARE_ALL));
    assert!(p.wait && p.sends.len() == 1, "write caching must go first");
    let mut overwrite = new_open(None, SHARE_ALL);
    overwrite.overwrite = true;
    let p = t.plan_open(&overwrite);
    assert!(p.wait && p.sends.is_empty(), "no second break while one is in flight");
    let (_, _, next) = t.ack_lease(&key, R | H).unwrap();
    match next.expect("next step").notice {
        Notice::Lease { current, new, flags, .. } => assert_eq!((current, new, flags), (R | H, R, BREAK_ACK_REQUIRED)),
        _ => panic!("lease break expected"),
    }
    let (_, _, next) = t.ack_lease(&key, R).unwrap();
    match next.expect("last step").notice {
        Notice::Lease { current, new, flags, .. } => assert_eq!((current, new, flags), (R, 0, 0)),
        _ => panic!("lease break expected"),
    }
    assert_eq!(t.lease(&key).unwrap().state, 0);
    assert!(!t.breaking_on_path("s", "f"));
}

#[test]
fn sharing_violation_breaks_handle_caching_too() {
    let mut t = Table::default();
    open(&mut t, lease(1, R | H | W), Some(1), 0, None);
    let p = t.plan_open(&new_open(None, SHARE_ALL));
    match &p.sends[0].notice {
        Notice::Lease { current, new, flags, epoch, .. } => {
            assert_eq!((*current, *new, *flags), (R | H | W, R | W, BREAK_ACK_REQUIRED));
            assert_eq!(*epoch, 2, "granted at request epoch + 1, the break adds one");
        }
        _ => panic!("lease break expected"),
    }
    assert_eq!(t.ack_lease(&([1; 16], [1; 16]), R | H).err(), Some(status::REQUEST_NOT_ACCEPTED));
    assert_eq!(t.ack_lease(&([1; 16], [1; 16]), R | W).unwrap().0, R | W);
    assert_eq!(t.ack_lease(&([1; 16], [1; 16]), R).err(), Some(status::UNSUCCESSFUL));
    // Still a violation: no further break (the file server refuses).
    assert!(t.plan_open(&new_open(None, SHARE_ALL)).sends.is_empty());
}

#[test]
fn same_lease_never_breaks_itself_and_second_lease_loses_write() {
    let mut t = Table::default();
    open(&mut t, lease(1, R | H | W), Some(1), SHARE_ALL, None);
    let p = t.plan_open(&new_open(Some(([1; 16], [1; 16])), SHARE_ALL));
    assert!(p.sends.is_empty() && !p.wait);
    let (_, g) = open(&mut t, lease(1, R | H | W), Some(1), SHARE_ALL, None);
    assert_eq!(g.lease.unwrap().state, R | H | W);
    let p = t.plan_open(&new_open(Some(([1; 16], [2; 16])), SHARE_ALL));
    assert!(p.wait);
    t.ack_lease(&([1; 16], [1; 16]), R | H).unwrap();
    let (_, g2) = open(&mut t, lease(2, R | H | W), Some(2), SHARE_ALL, None);
    assert_eq!(g2.lease.unwrap().state, R | H);
}

#[test]
fn disconnected_durable_is_purged_and_persistent_blocks() {
    let mut t = Table::default();
    open(&mut t, Requested::Oplock(oplock::BATCH), None, SHARE_ALL, Some(false));
    let p = t.plan_open(&new_open(None, SHARE_ALL));
    assert_eq!(p.purges.len(), 1);
    assert!(!p.wait && !p.blocked && p.sends.is_empty());
    let (_, g) = open(&mut t, Requested::Oplock(oplock::BATCH), Some(2), SHARE_ALL, None);
    assert_eq!(g.oplock, oplock::BATCH, "the purged open no longer counts");

    let mut t = Table::default();
    open(&mut t, lease(1, R | H), None, SHARE_ALL, Some(true));
    // An RH lease and a compatible open: nothing to break, kept.
    let p = t.plan_open(&new_open(Some(([1; 16], [2; 16])), SHARE_ALL));
    assert!(p.purges.is_empty() && !p.blocked);
    // A conflicting open would need H broken: refused.
    let p = t.plan_open(&new_open(None, 0));
    assert!(p.blocked && p.purges.is_empty());
}

#[test]
fn writes_break_read_caches_without_waiting() {
    let mut t = Table::default();
    let (a, _) = open(&mut t, Requested::Oplock(oplock::LEVEL_II), Some(1), SHARE_ALL, None);
    let (b, g) = open(&mut t, Requested::Oplock(oplock::LEVEL_II), Some(2), SHARE_ALL, None);
    assert_eq!(g.oplock, oplock::LEVEL_II);
    let p = t.plan_contend(b);
    assert_eq!(p.sends.len(), 2, "the writer's own level II oplock breaks too");
    assert!(!p.wait);
    assert_eq!(t.entry(a).unwrap().oplock, oplock::NONE);
    assert_eq!(t.entry(b).unwrap().oplock, oplock::NONE);
}

#[test]
fn lease_key_on_another_file_is_refused_and_stat_opens_break_nothing() {
    let mut t = Table::default();
    open(&mut t, lease(1, R | H | W), Some(1), SHARE_ALL, None);
    let err = t.grant("s", 6, false, RW_ACCESS, true, &lease(1, R)).unwrap_err();
    assert_eq!(err, NtStatus::INVALID_PARAMETER);
    let stat = NewOpen { share: "s", path_key: "f", access: 0x80, share_access: 0, overwrite: false, lease: None, retry: false };
    assert!(t.plan_open(&stat).sends.is_empty());
}

/// The indexes say what a scan of every entry would.
fn assert_indexes(t: &Table) {
    for (id, e) in &t.entries {
        assert!(t.entry_ids_on_path(&e.share, &e.path_key).contains(id));
        assert!(t.entry_ids_on_ino(&e.share, e.ino).contains(id));
    }
    let n: usize = t.by_path.values().map(|v| v.len()).sum();
    let m: usize = t.by_file.values().map(|v| v.len()).sum();
    assert_eq!((n, m), (t.entries.len(), t.entries.len()), "no stale index entries");
}

#[test]
fn indexes_follow_insert_remove_and_rename() {
    let mut t = Table::default();
    let (a, _) = open(&mut t, Requested::Oplock(oplock::NONE), Some(1), SHARE_ALL, Some(true));
    let (b, _) = open(&mut t, lease(1, R | H), Some(2), SHARE_ALL, None);
    assert_indexes(&t);
    assert_eq!(t.find_durable("s", 77), Some(a));
    t.renamed(b, "Dir\\G");
    assert_eq!(t.entry_ids_on_path("s", "dir\\g"), vec![a, b], "every open of the file follows");
    assert!(t.entry_ids_on_path("s", "f").is_empty());
    assert_indexes(&t);
    t.remove(a);
    assert_eq!(t.find_durable("s", 77), None);
    assert_eq!(t.lease_entry_ids(([1; 16], [1; 16])), vec![b]);
    t.remove(b);
    assert!(t.lease(&([1; 16], [1; 16])).is_none(), "the lease goes with its last open");
    assert_indexes(&t);
    assert!(t.by_path.is_empty() && t.by_file.is_empty() && t.by_record.is_empty());
}
