//! The file server of one host: the volumes it has mounted (those whose
//! objects this host owns), the fids of their opens, and the dispatch of
//! socket requests to file and handle operations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use holdfast_objfs::fs::{Attr, FileKind, FsError};
use holdfast_objfs::handles::HandleError;
use holdfast_objfs::names::NameError;
use holdfast_types::ntstatus::NtStatus;
use holdfast_types::share::{ShareDef, VolumeDef};

use crate::device::ObjectDevice;
use crate::park::{Prepared, TableExpect};
use crate::proto::{FileInfo, Reply, Request, ShareInfo};
use crate::volume::Volume;

/// An operation's failure: the NTSTATUS the SMB service passes on, and a
/// message naming the problem for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub status: NtStatus,
    pub message: String,
}

impl Fail {
    pub fn new(status: NtStatus, message: impl Into<String>) -> Fail {
        Fail { status, message: message.into() }
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl From<FsError> for Fail {
    fn from(e: FsError) -> Fail {
        Fail::new(e.status(), e.to_string())
    }
}

impl From<HandleError> for Fail {
    fn from(e: HandleError) -> Fail {
        Fail::new(e.status(), e.to_string())
    }
}

impl From<NtStatus> for Fail {
    fn from(s: NtStatus) -> Fail {
        Fail::new(s, s.name())
    }
}

pub fn name_fail(e: NameError) -> Fail {
    let status = match e {
        NameError::Reserved(_) => NtStatus::ACCESS_DENIED,
        NameError::PathTooLong(_) | NameError::NameTooLong(_) => NtStatus::OBJECT_NAME_INVALID,
        NameError::Absolute(_) => NtStatus::INVALID_PARAMETER,
        _ => NtStatus::OBJECT_NAME_INVALID,
    };
    Fail::new(status, e.to_string())
}

pub fn info(a: &Attr) -> FileInfo {
    FileInfo {
        ino: a.ino,
        is_dir: a.kind == FileKind::Dir,
        size_bytes: a.size_bytes,
        allocation_bytes: a.allocation_bytes,
        attributes: a.attributes,
        creation_time: a.creation_time,
        last_access_time: a.last_access_time,
        last_write_time: a.last_write_time,
        change_time: a.change_time,
        delete_pending: false,
        ea_size: a.ea_bytes as u32,
    }
}

/// What decides whether this host may serve a volume right now: the node
/// answers from its lease and its directory (docs/leases.md). `objects`
/// are the volume's two objects; empty asks about the host as a whole.
pub trait ServeGate: Send + Sync {
    fn may_serve(&self, objects: &[u64]) -> Result<(), String>;
}

pub struct FileServer {
    /// Checked before every operation; none (unit tests) lets everything through.
    gate: std::sync::OnceLock<Arc<dyn ServeGate>>,
    volumes_cfg: Vec<VolumeDef>,
    shares_cfg: Vec<ShareDef>,
    mounted: RwLock<HashMap<String, Arc<Volume>>>,
    /// fid -> the volume its open lives on.
    pub(crate) fids: Mutex<HashMap<u64, Arc<Volume>>>,
    next_fid: AtomicU64,
    detect_delay_ms: u64,
    /// Per volume whose metadata write failed: remount attempts so far
    /// and when the next may run (`recover.rs`).
    pub(crate) remounts: Mutex<HashMap<String, (u32, std::time::Instant)>>,
}

impl FileServer {
    pub fn new(volumes: Vec<VolumeDef>, shares: Vec<ShareDef>, detect_delay_ms: u64) -> Arc<FileServer> {
        Arc::new(FileServer {
            gate: std::sync::OnceLock::new(),
            volumes_cfg: volumes,
            shares_cfg: shares,
            mounted: RwLock::new(HashMap::new()),
            fids: Mutex::new(HashMap::new()),
            next_fid: AtomicU64::new(1),
            detect_delay_ms,
            remounts: Mutex::new(HashMap::new()),
        })
    }

    /// Installs the gate (once, before serving).
    pub fn set_gate(&self, gate: Arc<dyn ServeGate>) {
        let _ = self.gate.set(gate);
    }

    /// The gate for `vol`: a fenced host answers every operation, metadata
    /// reads included, with NETWORK_NAME_DELETED, so the client reconnects
    /// (to the service address, which a new host serves).
    ///
    /// A volume whose metadata write failed serves nothing, reads
    /// included, until it has remounted itself (`recover.rs`): its
    /// in-memory state may be ahead of the device.
    fn check_gate(&self, vol: &Volume) -> Result<(), Fail> {
        if let Some(why) = vol.fs.failure() {
            return Err(Fail::new(
                NtStatus::DEVICE_NOT_READY,
                format!("volume {:?} is remounting after a failed metadata write ({why}); retry shortly", vol.def.name),
            ));
        }
        let Some(g) = self.gate.get() else { return Ok(()) };
        g.may_serve(&[vol.fs.device().object, vol.handles.device().object]).map_err(|m| Fail::new(NtStatus::NETWORK_NAME_DELETED, m))
    }

    pub fn volumes(&self) -> &[VolumeDef] {
        &self.volumes_cfg
    }

    pub fn is_mounted(&self, volume: &str) -> bool {
        self.mounted.read().expect("mounted lock").contains_key(volume)
    }

    pub fn mounted_names(&self) -> Vec<String> {
        self.mounted.read().expect("mounted lock").keys().cloned().collect()
    }

    pub(crate) fn mounted_volumes(&self) -> Vec<Arc<Volume>> {
        self.mounted.read().expect("mounted lock").values().cloned().collect()
    }

    pub(crate) fn new_fid(&self) -> u64 {
        self.next_fid.fetch_add(1, Ordering::Relaxed)
    }

    /// Mounts `volume`, first making its handle table the one `table` says
    /// (formatted, restored or as it was: see `park.rs`).
    pub async fn mount(&self, volume: &str, data: ObjectDevice, handles: ObjectDevice, table: TableExpect) -> Result<Prepared, String> {
        let def = self.volumes_cfg.iter().find(|v| v.name == volume).ok_or_else(|| format!("volume {volume:?} is not in the config"))?;
        let (vol, prepared) = Volume::mount(def, &self.shares_cfg, data, handles, table, self.detect_delay_ms, || self.new_fid()).await?;
        let vol = Arc::new(vol);
        let mut fids = self.fids.lock().expect("fids lock");
        for fid in vol.opens.lock().expect("opens lock").fids() {
            fids.insert(fid, vol.clone());
        }
        drop(fids);
        self.mounted.write().expect("mounted lock").insert(volume.to_string(), vol);
        Ok(prepared)
    }

    /// Drops a volume this host no longer owns. Its opens are gone with it;
    /// the new owner re-creates persistent ones from the handle table.
    pub fn unmount(&self, volume: &str) {
        if self.take_mounted(volume).is_some() {
            tracing::warn!(volume, "volume unmounted");
        }
    }

    /// Takes `volume` out of service: no new operation finds it.
    pub(crate) fn take_mounted(&self, volume: &str) -> Option<Arc<Volume>> {
        let v = self.mounted.write().expect("mounted lock").remove(volume)?;
        self.fids.lock().expect("fids lock").retain(|_, x| !Arc::ptr_eq(x, &v));
        Some(v)
    }

    pub(crate) fn shares_cfg(&self) -> &[ShareDef] {
        &self.shares_cfg
    }

    pub(crate) fn detect_delay_ms(&self) -> u64 {
        self.detect_delay_ms
    }

    /// Puts `new` in the place of `old`, a mount of the same volume, with
    /// the fids of its opens. False (and nothing changes) when `old` is no
    /// longer the one mounted: it was unmounted or parked meanwhile.
    pub(crate) fn replace_mounted(&self, old: &Arc<Volume>, new: Volume) -> bool {
        let mut mounted = self.mounted.write().expect("mounted lock");
        if !mounted.get(&old.def.name).is_some_and(|v| Arc::ptr_eq(v, old)) {
            return false;
        }
        let new = Arc::new(new);
        let mut fids = self.fids.lock().expect("fids lock");
        fids.retain(|_, x| !Arc::ptr_eq(x, old));
        for fid in new.opens.lock().expect("opens lock").fids() {
            fids.insert(fid, new.clone());
        }
        mounted.insert(old.def.name.clone(), new);
        true
    }

    pub(crate) fn mounted_volume(&self, volume: &str) -> Option<Arc<Volume>> {
        self.mounted.read().expect("mounted lock").get(volume).cloned()
    }

    pub(crate) fn volume_of_share(&self, share: &str) -> Result<(Arc<Volume>, ShareDef, u64), Fail> {
        let def = self
            .shares_cfg
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(share))
            .ok_or_else(|| Fail::new(NtStatus::BAD_NETWORK_NAME, format!("no share named {share:?}")))?;
        let vol = self.mounted.read().expect("mounted lock").get(&def.volume).cloned().ok_or_else(|| {
            Fail::new(NtStatus::BAD_NETWORK_NAME, format!("share {share:?}: volume {:?} is not mounted on this host", def.volume))
        })?;
        self.check_gate(&vol)?;
        let root = vol.share(&def.name).map(|(_, r)| *r).ok_or_else(|| Fail::new(NtStatus::INTERNAL_ERROR, "share root missing"))?;
        Ok((vol, def.clone(), root))
    }

    pub(crate) fn volume_of_fid(&self, fid: u64) -> Result<Arc<Volume>, Fail> {
        let vol = self
            .fids
            .lock()
            .expect("fids lock")
            .get(&fid)
            .cloned()
            .ok_or_else(|| Fail::new(NtStatus::FILE_CLOSED, format!("fid {fid} is not open on this host")))?;
        self.check_gate(&vol)?;
        Ok(vol)
    }

    pub fn shares(&self) -> Vec<ShareInfo> {
        if self.gate.get().is_some_and(|g| g.may_serve(&[]).is_err()) {
            return Vec::new();
        }
        let mounted = self.mounted.read().expect("mounted lock");
        self.shares_cfg
            .iter()
            .filter(|s| mounted.contains_key(&s.volume))
            .map(|s| ShareInfo {
                name: s.name.clone(),
                ca: s.ca,
                handle_timeout_ms: s.handle_timeout_ms,
                write_through: s.write_through,
                read_only: s.read_only,
                encrypt: s.encrypt,
                // Checked when the config was read (`share::validate`);
                // were it not, the newest dialect is the safe side.
                min_dialect: s.min_dialect_code().unwrap_or(0x0311),
                valid_users: s.valid_users.clone(),
                invalid_users: s.invalid_users.clone(),
            })
            .collect()
    }

    /// Refuses a change through `fid` when its share is read-only. Opens
    /// there hold no write access, so the checks on the open's access stop
    /// these already; this stops too those that look at no access (file
    /// attributes and times) and any open a buggy caller got past them.
    fn check_writable(&self, fid: u64) -> Result<(), Fail> {
        // Most configs have no read-only share: no lookup on every WRITE.
        if !self.shares_cfg.iter().any(|s| s.read_only) {
            return Ok(());
        }
        let vol = self.volume_of_fid(fid)?;
        let opens = vol.opens.lock().expect("opens lock");
        let share = &opens.get(fid).map_err(|s| Fail::new(s, format!("fid {fid} is not open")))?.share;
        if self.shares_cfg.iter().any(|s| s.read_only && s.name.eq_ignore_ascii_case(share)) {
            return Err(Fail::new(NtStatus::ACCESS_DENIED, format!("share {share:?} is read-only")));
        }
        Ok(())
    }

    /// Runs one request.
    pub async fn handle(&self, req: Request) -> Result<Reply, Fail> {
        if let Some(fid) = changed_through(&req) {
            self.check_writable(fid)?;
        }
        match req {
            Request::Open(o) => self.open(o).await,
            Request::Close { fid } => self.close(fid).await,
            Request::Read { fid, offset, length } => self.read(fid, offset, length).await,
            Request::Write { fid, offset, data } => self.write(fid, offset, data).await,
            Request::Flush { fid } => self.flush(fid).await,
            Request::Stat { fid } => self.stat(fid),
            Request::Streams { fid } => self.streams(fid),
            Request::Path { fid } => self.path(fid),
            Request::GetEas { fid } => self.get_eas(fid).await,
            Request::SetEas { fid, eas } => self.set_eas(fid, eas).await,
            Request::GetSecurity { fid } => self.get_security(fid).await,
            Request::SetSecurity { fid, info, sd } => self.set_security(fid, info, &sd).await,
            Request::SetSparse { fid, sparse } => self.set_sparse(fid, sparse).await,
            Request::ZeroData { fid, offset, beyond } => self.zero_data(fid, offset, beyond).await,
            Request::AllocatedRanges { fid, offset, length } => self.allocated_ranges(fid, offset, length),
            Request::SetInfo(s) => self.set_info(s).await,
            Request::Readdir { fid, after, max } => self.readdir(fid, &after, max),
            Request::Rename { fid, new_path, replace } => self.rename(fid, &new_path, replace).await,
            Request::Lock { fid, offset, length, exclusive, owner } => {
                let v = self.volume_of_fid(fid)?;
                v.opens.lock().expect("opens lock").lock(fid, offset, length, exclusive, owner)?;
                Ok(Reply::Empty)
            }
            Request::Unlock { fid, offset, length, owner } => {
                let v = self.volume_of_fid(fid)?;
                v.opens.lock().expect("opens lock").unlock(fid, offset, length, owner)?;
                Ok(Reply::Empty)
            }
            Request::Shares => Ok(Reply::Shares(self.shares())),
            Request::StatFs { share } => {
                let (v, _, _) = self.volume_of_share(&share)?;
                let s = v.fs.statfs();
                Ok(Reply::StatFs { block_bytes: s.block_bytes, total_blocks: s.data_blocks, free_blocks: s.free_blocks })
            }
            Request::HandlePut { share, fid, record } => self.handle_put(&share, fid, &record).await,
            Request::HandleGet { share, id } => self.handle_get(&share, id),
            Request::HandleFind { share, client_guid, create_guid } => self.handle_find(&share, client_guid, create_guid),
            Request::HandleList { share } => self.handle_list(&share),
            Request::HandleUpdate { share, record } => self.handle_update(&share, &record).await,
            Request::HandleDelete { share, id } => self.handle_delete(&share, id).await,
            Request::Reopen { share, id } => self.reopen(&share, id),
            Request::HandleDeleteClose { share, id, fid } => {
                // As the SMB service did with two requests: a record that
                // cannot be deleted is logged, and the open is closed anyway.
                if let Err(e) = self.handle_delete(&share, id).await {
                    tracing::warn!(share = %share, id, fid, error = %e, "delete of handle record at close failed");
                }
                self.close(fid).await
            }
        }
    }
}

/// The open a request changes its file (or the namespace) through, if it
/// does: what a read-only share refuses.
fn changed_through(req: &Request) -> Option<u64> {
    match req {
        Request::Write { fid, .. }
        | Request::SetEas { fid, .. }
        | Request::SetSecurity { fid, .. }
        | Request::SetSparse { fid, .. }
        | Request::ZeroData { fid, .. }
        | Request::Rename { fid, .. } => Some(*fid),
        Request::SetInfo(s) => Some(s.fid),
        _ => None,
    }
}

/// A path whose last name may carry a stream (`file:stream[:$DATA]`).
pub(crate) fn split_stream(path: &str) -> Result<(Vec<&str>, Option<String>), Fail> {
    holdfast_objfs::names::split_stream_path(path).map_err(name_fail)
}
