//! A mounted share volume: its file system, its handle table and the opens
//! on it. Mounting is also the takeover path: the new owner replays the
//! journal from its own copy of the persistent object and reads the handle
//! table from its own RAM copy of the in-memory object.

use std::sync::Mutex;

use holdfast_objfs::fs::{FileKind, Fs, Ino, ROOT_INO};
use holdfast_objfs::handles::{HandleRecord, HandleTable};
use holdfast_objfs::names::split_path;
use holdfast_types::share::{ShareDef, VolumeDef};

use crate::access::FILE_ATTRIBUTE_DIRECTORY;
use crate::device::ObjectDevice;
use crate::park::{prepare_table, Prepared, TableExpect};
use crate::opens::{ByteLock, Open, OpenTable};
use crate::time::{now_filetime, now_unix_ms};

pub struct Volume {
    pub def: VolumeDef,
    pub fs: Fs<ObjectDevice>,
    pub handles: HandleTable<ObjectDevice>,
    /// The shares this volume exports, with the inode of each share's root.
    pub shares: Vec<(ShareDef, Ino)>,
    pub opens: Mutex<OpenTable>,
    /// Held across a read-merge-write of a file's internal streams, its
    /// EAs or its descriptor (`internal_streams.rs`).
    pub ea_lock: tokio::sync::Mutex<()>,
    /// Descriptors stored per file, decoded (`security_ops.rs`).
    pub sd_cache: Mutex<std::collections::HashMap<Ino, std::sync::Arc<holdfast_types::security::SecurityDescriptor>>>,
}

impl Volume {
    /// Mounts both objects. `next_fid` hands out fids for the disconnected
    /// opens re-created from the handle table. Handles that were connected
    /// when the previous owner stopped are marked disconnected as of
    /// `now - detect_delay_ms`: the last moment that owner was known alive,
    /// so a takeover does not lengthen their life by the detection time.
    pub async fn mount(
        def: &VolumeDef,
        shares: &[ShareDef],
        data: ObjectDevice,
        handles: ObjectDevice,
        table: TableExpect,
        detect_delay_ms: u64,
        mut next_fid: impl FnMut() -> u64,
    ) -> Result<(Volume, Prepared), String> {
        let fs = Fs::mount(data).await.map_err(|e| format!("volume {:?}: file system: {e}", def.name))?;
        let prepared = prepare_table(&def.name, &fs, &handles, table).await.map_err(|e| format!("volume {:?}: {e}", def.name))?;
        let handles = HandleTable::mount(handles, fs.volume_id()).await.map_err(|e| format!("volume {:?}: handle table: {e}", def.name))?;
        let mut roots = Vec::new();
        for s in shares.iter().filter(|s| s.volume == def.name) {
            let ino = share_root(&fs, s).await.map_err(|e| format!("share {:?}: {e}", s.name))?;
            roots.push((s.clone(), ino));
        }
        let vol = Volume { def: def.clone(), fs, handles, shares: roots, opens: Mutex::new(OpenTable::default()), ea_lock: tokio::sync::Mutex::new(()), sd_cache: Mutex::new(Default::default()) };
        let disconnect_at = now_unix_ms().saturating_sub(detect_delay_ms);
        let mut reopened = 0;
        for (share, _) in &vol.shares {
            for mut rec in vol.handles.list(&share.name) {
                if vol.fs.stat(rec.ino).is_err() {
                    tracing::warn!(volume = %def.name, id = rec.persistent_id, ino = rec.ino, "handle names a file that no longer exists; dropping it");
                    vol.handles.delete(rec.persistent_id).await.map_err(|e| e.to_string())?;
                    continue;
                }
                if rec.disconnect_time_unix_ms == 0 {
                    rec.disconnect_time_unix_ms = disconnect_at;
                    vol.handles.update(rec.clone()).await.map_err(|e| format!("handle {}: {e}", rec.persistent_id))?;
                }
                vol.add_disconnected(&rec, next_fid());
                reopened += 1;
            }
        }
        tracing::info!(volume = %def.name, handles = reopened, incarnation = vol.handles.incarnation(), "volume mounted");
        Ok((vol, prepared))
    }

    pub fn add_disconnected(&self, rec: &HandleRecord, fid: u64) {
        let mut opens = self.opens.lock().expect("opens lock");
        opens.add_disconnected(Open::from_record(rec, fid, true));
        for l in &rec.byte_range_locks {
            opens.restore_lock(ByteLock { fid, owner: rec.persistent_id, offset: l.offset, length: l.length, exclusive: l.exclusive }, rec.ino);
        }
    }

    pub fn share(&self, name: &str) -> Option<&(ShareDef, Ino)> {
        self.shares.iter().find(|(s, _)| s.name.eq_ignore_ascii_case(name))
    }
}

/// The share's directory inside the volume, created when missing (a new
/// volume, or a share added to the config later).
async fn share_root(fs: &Fs<ObjectDevice>, share: &ShareDef) -> Result<Ino, String> {
    let names = split_path(&share.path).map_err(|e| format!("path {:?}: {e}", share.path))?;
    let mut ino = ROOT_INO;
    for n in names {
        ino = match fs.lookup(ino, n) {
            Ok(a) if a.kind == FileKind::Dir => a.ino,
            Ok(_) => return Err(format!("path {:?}: {n:?} is a file", share.path)),
            Err(_) => fs.create(ino, n, FileKind::Dir, FILE_ATTRIBUTE_DIRECTORY, now_filetime()).await.map_err(|e| e.to_string())?.ino,
        };
    }
    Ok(ino)
}
