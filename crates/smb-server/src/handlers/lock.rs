//! LOCK ([MS-SMB2] 3.3.5.14): each element a file-server Lock or Unlock,
//! owned by FileId.Persistent (stable across a reconnect, and the owner
//! the file server gives locks it restores from a handle record). The
//! file server keeps the locks and applies MS-FSA's rules to them
//! (`file-server/src/opens.rs`), so they hold across a failover.
//!
//! The request's shape is checked as Windows does: the first element
//! says whether it unlocks or locks; a lock request of several elements
//! must fail immediately on every one; flags other than the four lock
//! forms, or UNLOCK alone, are INVALID_PARAMETER. Unlocks run in order
//! and stop at the first error (the ones before it stay done); on a
//! failed lock the elements already locked in the same request are
//! unlocked again.
//!
//! A single lock without FAIL_IMMEDIATELY that conflicts *blocks*: the
//! request goes async (STATUS_PENDING) and runs again whenever locks may
//! have been released ([`Server::locks_released`]: an unlock or a close
//! through this service), and at least every [`LOCK_RETRY_MS`]. CANCEL
//! ends it with STATUS_CANCELLED; if its open, tree or session goes while
//! it waits, it ends with RANGE_NOT_LOCKED (as Samba answers).
//!
//! On a durable or persistent open over 3.x the lock-sequence replay rule
//! applies: a LockSequence (index 1..=64, number) already recorded is a
//! replay of a request that succeeded and is answered with success
//! without acting. The lock-sequence array and the locks held are kept in
//! the handle record, written before the response, so both survive a
//! reconnect and a failover. A record that cannot be written fails the
//! request with the file server's status, and what the request did is
//! undone (at the file server and in the record kept here): a lock the
//! client was granted but the record lacks would vanish on a failover,
//! and a record listing a lock that was refused would restore it there.
//!
//! [`Server::locks_released`]: crate::server::Server::locks_released

use holdfast_file_server::proto::Request as FsRequest;
use holdfast_objfs::handles::{
    ByteRangeLock, LOCKS_MAX, LOCK_SEQUENCE_ENTRIES, LOCK_SEQUENCE_NUMBER_MASK, LOCK_SEQUENCE_VALID,
};
use holdfast_smb_proto::msg::lock::{lock_flags, LockElement, LockRequest, LockResponse};
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};
use crate::error::status;

/// How often a blocked lock tries again with no release seen: a lock
/// held by a disconnected persistent handle goes when the file server
/// expires the handle, which this service is not told of.
pub const LOCK_RETRY_MS: u64 = 1000;

const SHARED: u32 = lock_flags::SHARED_LOCK;
const EXCLUSIVE: u32 = lock_flags::EXCLUSIVE_LOCK;
const FAIL_NOW: u32 = lock_flags::FAIL_IMMEDIATELY;

/// What the request asks, from its first element.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unlock,
    Lock { blocking: bool },
}

fn kind(locks: &[LockElement]) -> Result<Kind, NtStatus> {
    let first = locks.first().ok_or(NtStatus::INVALID_PARAMETER)?;
    let kind = match first.flags {
        f if f == SHARED || f == EXCLUSIVE => Kind::Lock { blocking: true },
        f if f == SHARED | FAIL_NOW || f == EXCLUSIVE | FAIL_NOW => Kind::Lock { blocking: false },
        lock_flags::UNLOCK => Kind::Unlock,
        _ => return Err(NtStatus::INVALID_PARAMETER),
    };
    if let Kind::Lock { .. } = kind {
        // [MS-SMB2] 3.3.5.14.2: several locks may not wait.
        let lock_form = |f: u32| f == SHARED | FAIL_NOW || f == EXCLUSIVE | FAIL_NOW;
        if locks.len() > 1 && !locks.iter().all(|l| lock_form(l.flags)) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
    }
    Ok(kind)
}

pub async fn handle(ctx: &mut Ctx<'_>, req: LockRequest) -> HResult {
    let r = lock(ctx, &req).await;
    match r {
        // A blocked lock whose open, tree or session went while it waited.
        Err(NtStatus::FILE_CLOSED | status::NETWORK_NAME_DELETED | status::USER_SESSION_DELETED) if ctx.resumed => {
            Err(NtStatus::RANGE_NOT_LOCKED)
        }
        r => r,
    }
}

async fn lock(ctx: &mut Ctx<'_>, req: &LockRequest) -> HResult {
    let (fid, entry, durable) = {
        let o = ctx.open(req.file_id)?;
        (o.fs_fid, o.entry, o.durable)
    };
    let owner = ctx.file_id(req.file_id).persistent;
    let idx = req.lock_sequence_index as usize;
    let sequenced = durable && ctx.conn.neg.is_smb3() && (1..=LOCK_SEQUENCE_ENTRIES).contains(&idx);
    if durable {
        let mut t = ctx.srv.leases.lock().expect("lease table");
        if let Some(r) = t.entry_mut(entry).and_then(|e| e.record.as_mut()) {
            // The record holds every lock of the open, within its bound.
            if r.byte_range_locks.len() + req.locks.len() > LOCKS_MAX {
                return Err(NtStatus::INSUFFICIENT_RESOURCES);
            }
        }
    }
    if sequenced {
        let mut t = ctx.srv.leases.lock().expect("lease table");
        if let Some(r) = t.entry_mut(entry).and_then(|e| e.record.as_mut()) {
            let slot = &mut r.lock_sequence[idx - 1];
            if *slot & LOCK_SEQUENCE_VALID != 0 && *slot & LOCK_SEQUENCE_NUMBER_MASK == req.lock_sequence_number {
                return Ok(Reply::ok(&LockResponse));
            }
            *slot = 0;
        }
    }
    let kind = kind(&req.locks)?;
    let fs = ctx.srv.fs().await?;
    // Taken before trying, so a release from here on wakes the wait.
    let mut releases = ctx.srv.lock_releases.subscribe();
    let mut done: Vec<&LockElement> = Vec::new();
    let mut failed = None;
    for l in &req.locks {
        let r = match kind {
            // Unlocks before a malformed element stay done.
            Kind::Unlock if l.flags != lock_flags::UNLOCK => {
                failed = Some(NtStatus::INVALID_PARAMETER);
                break;
            }
            Kind::Unlock => fs.call(&FsRequest::Unlock { fid, offset: l.offset, length: l.length, owner }).await,
            Kind::Lock { .. } => {
                let exclusive = l.flags & EXCLUSIVE != 0;
                fs.call(&FsRequest::Lock { fid, offset: l.offset, length: l.length, exclusive, owner }).await
            }
        };
        match r {
            Ok(_) => done.push(l),
            Err(e) => {
                failed = Some(ctx.srv.fs_error(e).await);
                break;
            }
        }
    }
    if kind == Kind::Unlock && !done.is_empty() {
        ctx.srv.locks_released();
    }
    if matches!(kind, Kind::Lock { .. }) && failed.is_none() {
        // A lock granted changes what reads may see: level II caches go
        // (the holder's own too), as Samba and Windows do.
        crate::breaks::contend(ctx.srv, entry).await;
    }
    if let (Kind::Lock { .. }, Some(_)) = (kind, failed) {
        for l in std::mem::take(&mut done) {
            let _ = fs.call(&FsRequest::Unlock { fid, offset: l.offset, length: l.length, owner }).await;
        }
    }
    if durable && (!done.is_empty() || (sequenced && failed.is_none())) {
        if let Err(e) = record(ctx, entry, &done, sequenced.then_some(req)).await {
            undo(ctx, entry, fid, owner, &done).await;
            return Err(e);
        }
    }
    match failed {
        None => Ok(Reply::ok(&LockResponse)),
        Some(NtStatus::LOCK_NOT_GRANTED) if kind == (Kind::Lock { blocking: true }) => {
            ctx.wait = Some(std::sync::Mutex::new(Box::pin(async move {
                let _ = tokio::time::timeout(std::time::Duration::from_millis(LOCK_RETRY_MS), releases.changed()).await;
            })));
            Err(NtStatus::PENDING)
        }
        Some(e) => Err(e),
    }
}

/// Writes what the request did to the open's handle record: the locks
/// taken or released and, for a sequenced request that succeeded, its
/// LockSequence. On failure the record kept here is as before the request
/// (its LockSequence entry stays invalid, as set before acting), and the
/// error is the file server's.
async fn record(ctx: &mut Ctx<'_>, entry: u64, done: &[&LockElement], sequenced: Option<&LockRequest>) -> Result<(), NtStatus> {
    let mut removed: Vec<ByteRangeLock> = Vec::new();
    let rec = {
        let mut t = ctx.srv.leases.lock().expect("lease table");
        t.entry_mut(entry).and_then(|e| e.record.as_mut()).map(|r| {
            for l in done {
                if l.flags & lock_flags::UNLOCK != 0 {
                    if let Some(i) = r.byte_range_locks.iter().position(|b| b.offset == l.offset && b.length == l.length) {
                        removed.push(r.byte_range_locks.remove(i));
                    }
                } else {
                    r.byte_range_locks.push(ByteRangeLock { offset: l.offset, length: l.length, exclusive: l.flags & EXCLUSIVE != 0 });
                }
            }
            if let Some(req) = sequenced {
                let idx = req.lock_sequence_index as usize;
                r.lock_sequence[idx - 1] = LOCK_SEQUENCE_VALID | (req.lock_sequence_number & LOCK_SEQUENCE_NUMBER_MASK);
            }
            r.clone()
        })
    };
    let Some(r) = rec else { return Ok(()) };
    let Err(e) = crate::breaks::write_record(ctx.srv, &r).await else { return Ok(()) };
    tracing::warn!(id = format!("{:#x}", r.persistent_id), status = ?e, "LOCK fails: its handle record was not written");
    let mut t = ctx.srv.leases.lock().expect("lease table");
    if let Some(r) = t.entry_mut(entry).and_then(|e| e.record.as_mut()) {
        for l in done.iter().filter(|l| l.flags & lock_flags::UNLOCK == 0) {
            let exclusive = l.flags & EXCLUSIVE != 0;
            if let Some(i) = r.byte_range_locks.iter().rposition(|b| b.offset == l.offset && b.length == l.length && b.exclusive == exclusive) {
                r.byte_range_locks.remove(i);
            }
        }
        r.byte_range_locks.extend(removed);
        if let Some(req) = sequenced {
            r.lock_sequence[req.lock_sequence_index as usize - 1] = 0;
        }
    }
    Err(e)
}

/// Undoes at the file server what a request whose record failed did, so
/// the locks held match the record kept here again: locks taken are
/// released, ranges unlocked are locked again. A range another open took
/// meanwhile cannot be had back; it leaves the record too.
async fn undo(ctx: &mut Ctx<'_>, entry: u64, fid: u64, owner: u64, done: &[&LockElement]) {
    let Ok(fs) = ctx.srv.fs().await else { return };
    let mut released = false;
    for l in done {
        if l.flags & lock_flags::UNLOCK == 0 {
            if let Err(e) = fs.call(&FsRequest::Unlock { fid, offset: l.offset, length: l.length, owner }).await {
                tracing::warn!(offset = l.offset, length = l.length, "undoing a lock whose record failed: {e}");
            }
            released = true;
            continue;
        }
        let held = {
            let t = ctx.srv.leases.lock().expect("lease table");
            t.entry(entry).and_then(|e| e.record.as_ref()).and_then(|r| r.byte_range_locks.iter().find(|b| b.offset == l.offset && b.length == l.length).cloned())
        };
        let Some(b) = held else { continue };
        let relock = FsRequest::Lock { fid, offset: b.offset, length: b.length, exclusive: b.exclusive, owner };
        if let Err(e) = fs.call(&relock).await {
            tracing::warn!(offset = l.offset, length = l.length, "an unlock whose record failed cannot be undone: {e}");
            let mut t = ctx.srv.leases.lock().expect("lease table");
            if let Some(r) = t.entry_mut(entry).and_then(|e| e.record.as_mut()) {
                r.byte_range_locks.retain(|x| !(x.offset == b.offset && x.length == b.length));
            }
        }
    }
    if released {
        ctx.srv.locks_released();
    }
}
