//! Handle-table operations: put, get, find (the replay table), list,
//! update, delete, reopen, and the scavenger that expires disconnected
//! handles. Each put or update is one write to the share's in-memory object,
//! acknowledged once every ACTIVE copy holds it.

use bytes::Bytes;
use holdfast_objfs::handles::HandleRecord;
use holdfast_types::ntstatus::NtStatus;

use crate::file_ops::remove_file;
use crate::opens::Open;
use crate::proto::{Reply, ENTRIES_MAX};
use crate::server::{info, Fail, FileServer};
use crate::time::now_unix_ms;

fn decode(record: &[u8]) -> Result<HandleRecord, Fail> {
    HandleRecord::decode(record).map_err(|e| Fail::new(NtStatus::INVALID_PARAMETER, format!("bad handle record: {e}")))
}

fn encode(rec: &HandleRecord) -> Result<Reply, Fail> {
    Ok(Reply::Record(Bytes::from(rec.encode()?)))
}

fn check_share(rec: &HandleRecord, share: &str) -> Result<(), Fail> {
    if !rec.share.eq_ignore_ascii_case(share) {
        return Err(Fail::new(NtStatus::INVALID_PARAMETER, format!("record is for share {:?}, not {share:?}", rec.share)));
    }
    Ok(())
}

impl FileServer {
    pub(crate) async fn handle_put(&self, share: &str, fid: u64, record: &[u8]) -> Result<Reply, Fail> {
        let (vol, _, _) = self.volume_of_share(share)?;
        let rec = decode(record)?;
        check_share(&rec, share)?;
        if fid != 0 {
            let opens = vol.opens.lock().expect("opens lock");
            if opens.get(fid)?.ino != rec.ino {
                return Err(Fail::new(NtStatus::INVALID_PARAMETER, format!("record names inode {}, fid {fid} another", rec.ino)));
            }
        }
        let rec = vol.handles.put(rec).await?;
        if fid != 0 {
            vol.opens.lock().expect("opens lock").link_persistent(fid, rec.persistent_id)?;
        }
        encode(&rec)
    }

    pub(crate) fn handle_get(&self, share: &str, id: u64) -> Result<Reply, Fail> {
        let (vol, _, _) = self.volume_of_share(share)?;
        let rec = vol.handles.get(id)?;
        check_share(&rec, share)?;
        encode(&rec)
    }

    pub(crate) fn handle_find(&self, share: &str, client_guid: [u8; 16], create_guid: [u8; 16]) -> Result<Reply, Fail> {
        let (vol, _, _) = self.volume_of_share(share)?;
        match vol.handles.find(client_guid, create_guid) {
            Some(rec) if rec.share.eq_ignore_ascii_case(share) => encode(&rec),
            _ => Err(Fail::new(NtStatus::OBJECT_NAME_NOT_FOUND, "no handle with that client and create GUID")),
        }
    }

    pub(crate) fn handle_list(&self, share: &str) -> Result<Reply, Fail> {
        let (vol, _, _) = self.volume_of_share(share)?;
        let recs = vol.handles.list(share);
        if recs.len() > ENTRIES_MAX as usize {
            return Err(Fail::new(NtStatus::BUFFER_OVERFLOW, format!("{} handles; a list carries at most {ENTRIES_MAX}", recs.len())));
        }
        let mut out = Vec::with_capacity(recs.len());
        for r in &recs {
            out.push(Bytes::from(r.encode()?));
        }
        Ok(Reply::Records(out))
    }

    /// Replaces a record (lease state, lock sequence, byte-range locks,
    /// disconnect time, delete-on-close...). A disconnect time marks the open
    /// disconnected; clearing it marks it connected again.
    pub(crate) async fn handle_update(&self, share: &str, record: &[u8]) -> Result<Reply, Fail> {
        let (vol, _, _) = self.volume_of_share(share)?;
        let rec = decode(record)?;
        check_share(&rec, share)?;
        let old = vol.handles.get(rec.persistent_id)?;
        if old.ino != rec.ino {
            return Err(Fail::new(NtStatus::INVALID_PARAMETER, "an update cannot move a handle to another file"));
        }
        vol.handles.update(rec.clone()).await?;
        let mut opens = vol.opens.lock().expect("opens lock");
        if rec.disconnect_time_unix_ms != 0 {
            opens.disconnect(rec.persistent_id);
        } else {
            opens.reconnect(rec.persistent_id);
        }
        Ok(Reply::Empty)
    }

    /// Deletes a record. A disconnected open that belonged to it goes too
    /// (an expired or abandoned handle); a connected one stays until closed.
    pub(crate) async fn handle_delete(&self, share: &str, id: u64) -> Result<Reply, Fail> {
        let (vol, _, _) = self.volume_of_share(share)?;
        check_share(&vol.handles.get(id)?, share)?;
        vol.handles.delete(id).await?;
        self.drop_disconnected(&vol, id).await?;
        Ok(Reply::Empty)
    }

    async fn drop_disconnected(&self, vol: &std::sync::Arc<crate::volume::Volume>, id: u64) -> Result<(), Fail> {
        let closed = {
            let mut opens = vol.opens.lock().expect("opens lock");
            match opens.fid_of_persistent(id) {
                Some(fid) if opens.open_of(fid).is_some_and(|o| o.disconnected) => Some(opens.remove(fid)?),
                _ => None,
            }
        };
        if let Some(c) = closed {
            self.fids.lock().expect("fids lock").remove(&c.open.fid);
            if c.remove {
                remove_file(vol, c.open.ino).await?;
            }
        }
        Ok(())
    }

    /// Reclaims a persistent handle: its disconnected open becomes live
    /// again and keeps its share access and locks.
    pub(crate) fn reopen(&self, share: &str, id: u64) -> Result<Reply, Fail> {
        let (vol, _, _) = self.volume_of_share(share)?;
        let rec = vol.handles.get(id)?;
        check_share(&rec, share)?;
        let attr = vol.fs.stat(rec.ino).map_err(|_| Fail::new(NtStatus::OBJECT_NAME_NOT_FOUND, "the handle's file no longer exists"))?;
        let mut opens = vol.opens.lock().expect("opens lock");
        let fid = match opens.fid_of_persistent(id) {
            Some(fid) => {
                opens.reconnect(id);
                fid
            }
            None => {
                let fid = self.new_fid();
                opens.add(Open::from_record(&rec, fid, false))?;
                fid
            }
        };
        drop(opens);
        self.fids.lock().expect("fids lock").insert(fid, vol.clone());
        Ok(Reply::Opened { fid, create_action: crate::access::FILE_OPENED, info: info(&attr), granted: rec.granted_access })
    }

    /// The socket client that opened `fids` went away. A fid of a
    /// persistent handle stays, disconnected (its record gets a disconnect
    /// time if it had none, so it expires on schedule); any other is closed.
    pub async fn connection_closed(&self, fids: Vec<u64>) {
        for fid in fids {
            let Ok(vol) = self.volume_of_fid(fid) else { continue };
            let pid = vol.opens.lock().expect("opens lock").open_of(fid).map(|o| o.persistent_id).unwrap_or(0);
            if pid == 0 {
                if let Err(e) = self.close(fid).await {
                    tracing::debug!(fid, error = %e, "closing an abandoned fid");
                }
                continue;
            }
            if let Ok(mut rec) = vol.handles.get(pid) {
                if rec.disconnect_time_unix_ms == 0 {
                    rec.disconnect_time_unix_ms = now_unix_ms();
                    if let Err(e) = vol.handles.update(rec).await {
                        tracing::warn!(fid, id = pid, error = %e, "cannot mark an abandoned handle disconnected");
                    }
                }
            }
            vol.opens.lock().expect("opens lock").disconnect(pid);
            tracing::info!(fid, id = pid, "socket client gone; persistent handle left disconnected");
        }
    }

    /// Expires disconnected handles whose deadline passed. Deadlines are
    /// absolute wall-clock times in the records, so whichever host runs this
    /// expires a handle at the same instant.
    pub async fn scavenge(&self) {
        let vols: Vec<_> = self.mounted_volumes();
        let now = now_unix_ms();
        for vol in vols {
            for id in vol.handles.expired(now) {
                tracing::info!(volume = %vol.def.name, id, "persistent handle expired");
                if let Err(e) = vol.handles.delete(id).await {
                    tracing::warn!(volume = %vol.def.name, id, error = %e, "cannot expire handle; will retry");
                    continue;
                }
                if let Err(e) = self.drop_disconnected(&vol, id).await {
                    tracing::warn!(volume = %vol.def.name, id, error = %e, "expired handle's open could not be closed");
                }
            }
        }
    }
}
