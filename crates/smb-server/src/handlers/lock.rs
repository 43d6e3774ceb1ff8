//! LOCK ([MS-SMB2] 3.3.5.14): each element a file-server Lock or Unlock,
//! owned by FileId.Persistent (stable across a reconnect, and the owner
//! the file server gives locks it restores from a handle record). Locks
//! never wait (as if FAIL_IMMEDIATELY), and on a failure the elements
//! already locked in the same request are unlocked again.
//!
//! On a durable or persistent open over 3.x the lock-sequence replay rule
//! applies: a LockSequence (index 1..=64, number) already recorded is a
//! replay of a request that succeeded and is answered with success
//! without acting. The lock-sequence array and the locks held are kept in
//! the handle record, written before the response, so both survive a
//! reconnect and a failover.

use holdfast_file_server::proto::Request as FsRequest;
use holdfast_objfs::handles::{
    ByteRangeLock, LOCKS_MAX, LOCK_SEQUENCE_ENTRIES, LOCK_SEQUENCE_NUMBER_MASK, LOCK_SEQUENCE_VALID,
};
use holdfast_types::ntstatus::NtStatus;
use holdfast_smb_proto::msg::lock::{lock_flags, LockRequest, LockResponse};

use crate::ctx::{Ctx, HResult, Reply};

pub async fn handle(ctx: &mut Ctx<'_>, req: LockRequest) -> HResult {
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
    crate::breaks::contend(ctx.srv, entry).await;
    let fs = ctx.srv.fs().await?;
    let mut done: Vec<(u64, u64)> = Vec::new();
    for l in &req.locks {
        let r = if l.flags & lock_flags::UNLOCK != 0 {
            fs.call(&FsRequest::Unlock { fid, offset: l.offset, length: l.length, owner }).await
        } else {
            let exclusive = l.flags & lock_flags::EXCLUSIVE_LOCK != 0;
            fs.call(&FsRequest::Lock { fid, offset: l.offset, length: l.length, exclusive, owner }).await
        };
        match r {
            Ok(_) if l.flags & lock_flags::UNLOCK == 0 => done.push((l.offset, l.length)),
            Ok(_) => {}
            Err(e) => {
                for (offset, length) in done {
                    let _ = fs.call(&FsRequest::Unlock { fid, offset, length, owner }).await;
                }
                return Err(ctx.srv.fs_error(e).await);
            }
        }
    }
    if durable {
        let rec = {
            let mut t = ctx.srv.leases.lock().expect("lease table");
            t.entry_mut(entry).and_then(|e| e.record.as_mut()).map(|r| {
                for l in &req.locks {
                    if l.flags & lock_flags::UNLOCK != 0 {
                        if let Some(i) = r.byte_range_locks.iter().position(|b| b.offset == l.offset && b.length == l.length) {
                            r.byte_range_locks.remove(i);
                        }
                    } else {
                        let exclusive = l.flags & lock_flags::EXCLUSIVE_LOCK != 0;
                        r.byte_range_locks.push(ByteRangeLock { offset: l.offset, length: l.length, exclusive });
                    }
                }
                if sequenced {
                    r.lock_sequence[idx - 1] = LOCK_SEQUENCE_VALID | (req.lock_sequence_number & LOCK_SEQUENCE_NUMBER_MASK);
                }
                r.clone()
            })
        };
        if let Some(r) = rec {
            crate::breaks::write_records(ctx.srv, vec![r]).await;
        }
    }
    Ok(Reply::ok(&LockResponse))
}
