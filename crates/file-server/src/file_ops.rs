//! File operations: open/create with NT dispositions, close with
//! delete-on-close, read, write, flush, stat, set info, readdir, rename.

use std::sync::Arc;

use bytes::Bytes;
use holdfast_objfs::fs::{FileKind, FsError, SetAttr, ROOT_INO};
use holdfast_types::limits::IO_BYTES_MAX;
use holdfast_types::ntstatus::NtStatus;

use crate::access::*;
use crate::opens::Open;
use crate::park::PARKED_IMAGE_NAME;
use crate::proto::{Entry, FileInfo, OpenReq, Reply, SetInfoReq, ENTRIES_MAX};
use crate::security_ops::{check_create, check_existing, store_created, token_of};
use crate::server::{info, split_stream, Fail, FileServer};
use holdfast_types::security::Token;
use crate::time::now_filetime;
use crate::volume::Volume;

/// Attempts of an open that races with another host-local create or delete
/// of the same name.
const OPEN_ATTEMPTS_MAX: usize = 4;

impl FileServer {
    pub(crate) async fn open(&self, o: OpenReq) -> Result<Reply, Fail> {
        let (vol, share, root) = self.volume_of_share(&o.share)?;
        let (names, stream) = split_stream(&o.path)?;
        if o.disposition > FILE_OVERWRITE_IF {
            return Err(Fail::new(NtStatus::INVALID_PARAMETER, format!("unknown create disposition {}", o.disposition)));
        }
        let want_dir = o.create_options & FILE_DIRECTORY_FILE != 0;
        let want_file = o.create_options & FILE_NON_DIRECTORY_FILE != 0;
        if want_dir && want_file {
            return Err(Fail::new(NtStatus::INVALID_PARAMETER, "FILE_DIRECTORY_FILE and FILE_NON_DIRECTORY_FILE together"));
        }
        if want_dir && stream.is_some() {
            return Err(Fail::new(NtStatus::NOT_A_DIRECTORY, format!("{:?} is a stream, never a directory", o.path)));
        }
        // A read-only share: the SMB service refuses such opens first; this
        // holds even should it not.
        if share.read_only && !read_only_allows(o.desired_access, o.disposition) {
            return Err(Fail::new(NtStatus::ACCESS_DENIED, format!("share {:?} is read-only", share.name)));
        }
        let access = map_generic(o.desired_access);
        let doc = o.create_options & FILE_DELETE_ON_CLOSE != 0;
        if doc && access & DELETE == 0 {
            return Err(Fail::new(NtStatus::ACCESS_DENIED, "FILE_DELETE_ON_CLOSE needs DELETE access"));
        }
        // The descriptors are checked only for a share that enforces them
        // and an open that says who it is (`OpenReq::token`).
        let token = if share.acls { token_of(&o.token) } else { None };
        let now = now_filetime();
        let (parent, last) = match names.split_last() {
            None => (None, None),
            Some((last, dirs)) => {
                let mut ino = root;
                for d in dirs {
                    ino = match vol.fs.lookup(ino, d) {
                        Ok(a) if a.kind == FileKind::Dir => a.ino,
                        Ok(_) | Err(FsError::NotFound) => {
                            return Err(Fail::new(NtStatus::OBJECT_PATH_NOT_FOUND, format!("{:?}: {d:?} is not a directory here", o.path)))
                        }
                        Err(e) => return Err(e.into()),
                    };
                }
                (Some(ino), Some(*last))
            }
        };
        // A stream's container is its file, which an open that may create
        // creates first (as NTFS does); from there the stream is opened
        // like any entry.
        let (parent, last) = match (&stream, parent, last) {
            (Some(s), Some(p), Some(n)) => (Some(self.stream_base(&vol, p, n, &o, token.as_ref(), now, share.read_only).await?), Some(s.as_str())),
            _ => (parent, last),
        };
        for _ in 0..OPEN_ATTEMPTS_MAX {
            // What the open holds: as asked, or what the descriptor of an
            // existing file grants of it (MAXIMUM_ALLOWED resolved).
            let mut granted = access;
            let existing = match (parent, last) {
                (Some(p), Some(n)) => match vol.fs.lookup(p, n) {
                    Ok(a) => Some(a),
                    Err(FsError::NotFound) => None,
                    Err(e) => return Err(e.into()),
                },
                _ => Some(vol.fs.stat(root)?),
            };
            let (attr, action) = match existing {
                Some(a) => {
                    let action = match o.disposition {
                        FILE_CREATE => return Err(Fail::new(NtStatus::OBJECT_NAME_COLLISION, format!("{:?} exists", o.path))),
                        FILE_OPEN | FILE_OPEN_IF => FILE_OPENED,
                        FILE_SUPERSEDE => FILE_SUPERSEDED,
                        _ => FILE_OVERWRITTEN,
                    };
                    if a.kind == FileKind::Dir && action != FILE_OPENED {
                        return Err(Fail::new(NtStatus::FILE_IS_A_DIRECTORY, format!("{:?} is a directory and cannot be overwritten", o.path)));
                    }
                    if let Some(t) = &token {
                        granted = check_existing(&vol, a.ino, t, o.desired_access).await?;
                    }
                    (a, action)
                }
                None => {
                    if matches!(o.disposition, FILE_OPEN | FILE_OVERWRITE) {
                        return Err(Fail::new(NtStatus::OBJECT_NAME_NOT_FOUND, format!("{:?} does not exist", o.path)));
                    }
                    if share.read_only {
                        return Err(Fail::new(NtStatus::ACCESS_DENIED, format!("share {:?} is read-only: {:?} is not created", share.name, o.path)));
                    }
                    let (p, n) = (parent.expect("a name below the root"), last.expect("a name"));
                    let kind = if want_dir { FileKind::Dir } else { FileKind::File };
                    // A directory keeps what it is given (HIDDEN, SYSTEM...)
                    // but NORMAL, which means "none" only on its own.
                    let attrs = if want_dir {
                        (o.file_attributes & 0x7fff & !FILE_ATTRIBUTE_NORMAL) | FILE_ATTRIBUTE_DIRECTORY
                    } else {
                        new_file_attributes(o.file_attributes)
                    };
                    if let Some(t) = &token {
                        check_create(&vol, p, want_dir, t).await?;
                    }
                    let a = match vol.fs.create(p, n, kind, attrs, now).await {
                        Ok(a) => a,
                        Err(FsError::Exists) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    if let (Some(t), false) = (&token, o.security.is_empty()) {
                        if let Err(e) = store_created(&vol, a.ino, p, want_dir, t, &o.security).await {
                            let _ = vol.fs.remove(p, n).await;
                            return Err(e);
                        }
                    }
                    (a, FILE_CREATED)
                }
            };
            if want_dir && attr.kind != FileKind::Dir {
                return Err(Fail::new(NtStatus::NOT_A_DIRECTORY, format!("{:?} is a file", o.path)));
            }
            if want_file && attr.kind == FileKind::Dir {
                return Err(Fail::new(NtStatus::FILE_IS_A_DIRECTORY, format!("{:?} is a directory", o.path)));
            }
            if action == FILE_OPENED && access & (FILE_WRITE_DATA | FILE_APPEND_DATA) != 0 && attr.attributes & FILE_ATTRIBUTE_READONLY != 0 {
                return Err(Fail::new(NtStatus::ACCESS_DENIED, format!("{:?} is read-only", o.path)));
            }
            // Deleting a file deletes its streams: each open of one must
            // share delete (as Samba's open_streams_for_delete).
            if access & DELETE != 0 && stream.is_none() {
                let streams = vol.fs.streams(attr.ino)?;
                let opens = vol.opens.lock().expect("opens lock");
                if streams.iter().any(|s| opens.of_ino(s.ino).any(|x| x.share_access & FILE_SHARE_DELETE == 0)) {
                    return Err(Fail::new(NtStatus::SHARING_VIOLATION, format!("{:?} has a stream open without sharing delete", o.path)));
                }
            }
            // MAXIMUM_ALLOWED on a read-only share gets what is left.
            if share.read_only {
                granted &= !READ_ONLY_DENIED;
            }
            let fid = self.new_fid();
            let open = Open {
                fid,
                ino: attr.ino,
                share: share.name.clone(),
                access: granted,
                share_access: o.share_access & (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE),
                delete_on_close: doc,
                persistent_id: 0,
                disconnected: false,
            };
            vol.opens.lock().expect("opens lock").add(open).map_err(|s| Fail::new(s, format!("{:?}: {}", o.path, s.name())))?;
            self.fids.lock().expect("fids lock").insert(fid, vol.clone());
            // The file may have been removed between lookup and the open
            // being registered; then start over.
            let attr = match vol.fs.stat(attr.ino) {
                Ok(a) => a,
                Err(_) => {
                    self.forget(&vol, fid);
                    continue;
                }
            };
            let attr = if matches!(action, FILE_OVERWRITTEN | FILE_SUPERSEDED) {
                let attrs = new_file_attributes(o.file_attributes);
                let r = async {
                    vol.fs.set_size(attr.ino, 0, now).await?;
                    let a = vol.fs.set_attr(attr.ino, &SetAttr { attributes: Some(attrs), last_write_time: Some(now), change_time: Some(now), ..Default::default() }).await?;
                    // An overwrite takes the AllocationSize asked, as a create does.
                    if o.allocation_size > 0 { vol.fs.set_allocation(attr.ino, o.allocation_size).await } else { Ok(a) }
                }
                .await;
                match r {
                    Ok(a) => a,
                    Err(e) => {
                        self.forget(&vol, fid);
                        return Err(e.into());
                    }
                }
            } else if action == FILE_CREATED && o.allocation_size > 0 && attr.kind != FileKind::Dir {
                // A directory's allocation is the file system's (Windows
                // ignores AllocationSize there).
                match vol.fs.set_allocation(attr.ino, o.allocation_size).await {
                    Ok(a) => a,
                    Err(e) => {
                        self.forget(&vol, fid);
                        return Err(e.into());
                    }
                }
            } else {
                attr
            };
            return Ok(Reply::Opened { fid, create_action: action, info: info(&attr), granted });
        }
        Err(Fail::new(NtStatus::SHARING_VIOLATION, format!("{:?} kept changing while being opened", o.path)))
    }

    /// The file (or directory) that holds a stream being opened: looked up,
    /// or created as a plain file when the disposition may create.
    async fn stream_base(&self, vol: &Volume, parent: u64, name: &str, o: &OpenReq, token: Option<&Token>, now: u64, read_only: bool) -> Result<u64, Fail> {
        for _ in 0..OPEN_ATTEMPTS_MAX {
            match vol.fs.lookup(parent, name) {
                Ok(a) => return Ok(a.ino),
                Err(FsError::NotFound) if matches!(o.disposition, FILE_OPEN | FILE_OVERWRITE) => {
                    return Err(Fail::new(NtStatus::OBJECT_NAME_NOT_FOUND, format!("{:?} does not exist", o.path)))
                }
                Err(FsError::NotFound) if read_only => {
                    return Err(Fail::new(NtStatus::ACCESS_DENIED, format!("the share is read-only: {:?} is not created", o.path)))
                }
                Err(FsError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            let attrs = new_file_attributes(o.file_attributes);
            if let Some(t) = token {
                check_create(vol, parent, false, t).await?;
            }
            match vol.fs.create(parent, name, FileKind::File, attrs, now).await {
                Ok(a) => return Ok(a.ino),
                Err(FsError::Exists) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Fail::new(NtStatus::SHARING_VIOLATION, format!("{:?} kept changing while being opened", o.path)))
    }

    /// FileStreamInformation of an open's file (through a stream's open
    /// too): the file's own data first, named "" (a directory has none),
    /// then each `:name` with its size.
    pub(crate) fn streams(&self, fid: u64) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let ino = vol.opens.lock().expect("opens lock").get(fid)?.ino;
        let mut base = vol.fs.stat(ino)?;
        if holdfast_objfs::names::is_stream(&base.name) {
            base = vol.fs.stat(base.parent)?;
        }
        let own = (base.kind == FileKind::File).then(|| Entry { name: String::new(), info: info(&base) });
        let named = vol.fs.streams(base.ino)?.into_iter().map(|a| Entry { name: a.name.clone(), info: info(&a) });
        Ok(Reply::Entries(own.into_iter().chain(named).take(ENTRIES_MAX as usize).collect()))
    }

    /// The open's path below its share's root, as stored.
    pub(crate) fn path(&self, fid: u64) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let (ino, share) = {
            let opens = vol.opens.lock().expect("opens lock");
            let o = opens.get(fid)?;
            (o.ino, o.share.clone())
        };
        let root = vol.share(&share).map(|(_, r)| *r).ok_or_else(|| Fail::new(NtStatus::INTERNAL_ERROR, "share root missing"))?;
        let full = vol.fs.path_of(ino)?;
        let root_path = vol.fs.path_of(root)?;
        let rel = if root_path.is_empty() { full.as_str() } else { full.strip_prefix(&root_path).map_or("", |r| r.trim_start_matches('\\')) };
        Ok(Reply::Path(rel.to_string()))
    }

    fn forget(&self, vol: &Arc<Volume>, fid: u64) {
        let _ = vol.opens.lock().expect("opens lock").remove(fid);
        self.fids.lock().expect("fids lock").remove(&fid);
    }

    pub(crate) async fn close(&self, fid: u64) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let closed = {
            let mut opens = vol.opens.lock().expect("opens lock");
            if opens.get(fid).is_err() {
                return Err(Fail::new(NtStatus::FILE_CLOSED, format!("fid {fid} is not open")));
            }
            opens.remove(fid)?
        };
        self.fids.lock().expect("fids lock").remove(&fid);
        let attr = vol.fs.stat(closed.open.ino)?;
        if closed.remove {
            remove_file(&vol, closed.open.ino).await?;
        }
        Ok(Reply::Info(info(&attr)))
    }

    pub(crate) async fn read(&self, fid: u64, offset: u64, length: u32) -> Result<Reply, Fail> {
        if length as u64 > IO_BYTES_MAX {
            return Err(Fail::new(NtStatus::INVALID_PARAMETER, format!("read of {length} bytes is over {IO_BYTES_MAX}")));
        }
        let vol = self.volume_of_fid(fid)?;
        let ino = vol.opens.lock().expect("opens lock").check_io(fid, offset, length as u64, false)?.ino;
        let data = vol.fs.read(ino, offset, length as u64).await?;
        Ok(Reply::Data(Bytes::from(data)))
    }

    pub(crate) async fn write(&self, fid: u64, offset: u64, data: Bytes) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let ino = vol.opens.lock().expect("opens lock").check_io(fid, offset, data.len() as u64, true)?.ino;
        // A file that is not sparse: a write past the end takes the whole
        // gap, as NTFS allocates it, so one the volume cannot hold is
        // DISK_FULL, not a hole (MS-FSA 2.1.5.3). A sparse file's gap is a
        // hole.
        let a = vol.fs.stat(ino)?;
        let end = offset.saturating_add(data.len() as u64);
        if end > a.allocation_bytes && a.attributes & FILE_ATTRIBUTE_SPARSE_FILE == 0 {
            let s = vol.fs.statfs();
            if end - a.allocation_bytes > s.free_blocks.saturating_mul(s.block_bytes) {
                return Err(Fail::new(NtStatus::DISK_FULL, format!("a write to {end} bytes needs more than the volume's free space")));
            }
        }
        vol.fs.write(ino, offset, &data, now_filetime()).await?;
        Ok(Reply::Written { count: data.len() as u32 })
    }

    /// Every acknowledged operation is already in the RAM of every copy;
    /// FLUSH puts it, with everything else acknowledged on the volume, on
    /// the disk of every copy (`Fs::flush_disk`).
    pub(crate) async fn flush(&self, fid: u64) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        vol.opens.lock().expect("opens lock").get(fid)?;
        vol.fs.flush_disk().await?;
        Ok(Reply::Empty)
    }

    /// Flushes every mounted volume (the node does so every disk-lag
    /// period): bounds how much journal replay must check after a power
    /// loss, and lets freed blocks be reused (`Fs::flush_disk`).
    pub async fn flush_volumes(&self) {
        for vol in self.mounted_volumes() {
            if let Err(e) = vol.fs.flush_disk().await {
                tracing::warn!(volume = %vol.def.name, error = %e, "periodic flush of the volume failed");
            }
        }
    }

    pub(crate) fn stat(&self, fid: u64) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let (ino, delete_pending) = {
            let opens = vol.opens.lock().expect("opens lock");
            let ino = opens.get(fid)?.ino;
            (ino, opens.is_delete_pending(ino))
        };
        Ok(Reply::Info(FileInfo { delete_pending, ..info(&vol.fs.stat(ino)?) }))
    }

    pub(crate) async fn set_info(&self, s: SetInfoReq) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(s.fid)?;
        let (ino, access) = {
            let opens = vol.opens.lock().expect("opens lock");
            let o = opens.get(s.fid)?;
            (o.ino, o.access)
        };
        let attr = vol.fs.stat(ino)?;
        if let Some(on) = s.delete_on_close {
            if on {
                if access & DELETE == 0 {
                    return Err(Fail::new(NtStatus::ACCESS_DENIED, "delete needs DELETE access"));
                }
                if attr.attributes & FILE_ATTRIBUTE_READONLY != 0 {
                    return Err(Fail::new(NtStatus::CANNOT_DELETE, "the file is read-only"));
                }
                if attr.kind == FileKind::Dir && !vol.fs.readdir(ino, None, 1)?.is_empty() {
                    return Err(Fail::new(NtStatus::DIRECTORY_NOT_EMPTY, "the directory is not empty"));
                }
                if ino == holdfast_objfs::fs::ROOT_INO || vol.shares.iter().any(|(_, r)| *r == ino) {
                    return Err(Fail::new(NtStatus::CANNOT_DELETE, "a share's root cannot be deleted"));
                }
            }
            vol.opens.lock().expect("opens lock").set_delete_on_close(s.fid, on)?;
        }
        let now = now_filetime();
        if let Some(eof) = s.end_of_file {
            if access & FILE_WRITE_DATA == 0 {
                return Err(Fail::new(NtStatus::ACCESS_DENIED, "setting the end of file needs write access"));
            }
            vol.fs.set_size(ino, eof, now).await?;
        }
        if let Some(a) = s.allocation_size {
            // MS-FSA 2.1.5.14.1: an allocation below the end of file cuts
            // the file there.
            if a < vol.fs.stat(ino)?.size_bytes {
                if access & FILE_WRITE_DATA == 0 {
                    return Err(Fail::new(NtStatus::ACCESS_DENIED, "shrinking the allocation needs write access"));
                }
                vol.fs.set_size(ino, a, now).await?;
            }
            vol.fs.set_allocation(ino, a).await?;
        }
        let set = SetAttr {
            // DIRECTORY and SPARSE are not the client's to set here (the
            // latter is FSCTL_SET_SPARSE's).
            attributes: s.attributes.filter(|&a| a != 0).map(|a| {
                let kept = attr.attributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_SPARSE_FILE);
                (a & !(FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_SPARSE_FILE) & 0x7fff & !FILE_ATTRIBUTE_NORMAL) | kept
            }),
            creation_time: s.creation_time.filter(|&t| t != 0 && t != u64::MAX),
            last_access_time: s.last_access_time.filter(|&t| t != 0 && t != u64::MAX),
            last_write_time: s.last_write_time.filter(|&t| t != 0 && t != u64::MAX),
            change_time: s.change_time.filter(|&t| t != 0 && t != u64::MAX),
        };
        let attr = if set.attributes.is_some()
            || set.creation_time.is_some()
            || set.last_access_time.is_some()
            || set.last_write_time.is_some()
            || set.change_time.is_some()
        {
            vol.fs.set_attr(ino, &set).await?
        } else {
            vol.fs.stat(ino)?
        };
        Ok(Reply::Info(info(&attr)))
    }

    pub(crate) fn readdir(&self, fid: u64, after: &str, max: u32) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let ino = vol.opens.lock().expect("opens lock").get(fid)?.ino;
        let max = max.clamp(1, ENTRIES_MAX) as usize;
        let after = (!after.is_empty()).then_some(after);
        let mut entries = vol.fs.readdir(ino, after, max)?;
        if ino == ROOT_INO {
            // The volume root holds the parked handle table between a planned
            // stop and the restart (park.rs); no client sees it. Its slot in
            // the page is filled from further on.
            if let Some(at) = entries.iter().position(|e| e.name.eq_ignore_ascii_case(PARKED_IMAGE_NAME)) {
                let page_end = entries[entries.len() - 1].name.clone();
                entries.remove(at);
                entries.extend(vol.fs.readdir(ino, Some(&page_end), 1)?);
            }
        }
        if entries.is_empty() {
            return Err(Fail::new(NtStatus::NO_MORE_FILES, "no more entries"));
        }
        Ok(Reply::Entries(entries.iter().map(|e| Entry { name: e.name.clone(), info: info(&e.attr) }).collect()))
    }

    pub(crate) async fn rename(&self, fid: u64, new_path: &str, replace: bool) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let (ino, access, share) = {
            let opens = vol.opens.lock().expect("opens lock");
            let o = opens.get(fid)?;
            (o.ino, o.access, o.share.clone())
        };
        if access & DELETE == 0 {
            return Err(Fail::new(NtStatus::ACCESS_DENIED, "rename needs DELETE access"));
        }
        let root = vol.share(&share).map(|(_, r)| *r).ok_or_else(|| Fail::new(NtStatus::INTERNAL_ERROR, "share root missing"))?;
        let (names, new_stream) = split_stream(new_path)?;
        let src = vol.fs.stat(ino)?;
        if new_stream.is_some() || holdfast_objfs::names::is_stream(&src.name) {
            return self.rename_stream(&vol, &src, root, &names, new_stream, replace).await;
        }
        let Some((last, dirs)) = names.split_last() else {
            return Err(Fail::new(NtStatus::OBJECT_NAME_INVALID, "cannot rename onto the share root"));
        };
        let mut dst_parent = root;
        for d in dirs {
            dst_parent = match vol.fs.lookup(dst_parent, d) {
                Ok(a) if a.kind == FileKind::Dir => a.ino,
                _ => return Err(Fail::new(NtStatus::OBJECT_PATH_NOT_FOUND, format!("{new_path:?}: {d:?} is not a directory"))),
            };
        }
        if ino == root {
            return Err(Fail::new(NtStatus::ACCESS_DENIED, "a share's root cannot be renamed"));
        }
        // Windows renames through an open of the file's directory for
        // DELETE, sharing read and write: an open of that directory that
        // deletes, or does not share delete, is a sharing violation
        // (smbtorture smb2.rename.*share_delete*, *delete_access*).
        let shared = FILE_SHARE_READ | FILE_SHARE_WRITE;
        if vol.opens.lock().expect("opens lock").of_ino(src.parent).any(|o| sharing_conflict(o.access, o.share_access, RENAME_PARENT_ACCESS, shared)) {
            return Err(Fail::new(NtStatus::SHARING_VIOLATION, format!("{new_path:?}: the file's directory is open without sharing delete, or for delete")));
        }
        if let Ok(target) = vol.fs.lookup(dst_parent, last) {
            if target.ino != ino {
                if !replace {
                    return Err(Fail::new(NtStatus::OBJECT_NAME_COLLISION, format!("{new_path:?} exists")));
                }
                if vol.opens.lock().expect("opens lock").opens_of(target.ino) > 0 {
                    return Err(Fail::new(NtStatus::ACCESS_DENIED, format!("{new_path:?} is open and cannot be replaced")));
                }
            }
        }
        let a = vol.fs.rename(src.parent, &src.name, dst_parent, last, replace, now_filetime()).await?;
        Ok(Reply::Info(info(&a)))
    }
}


impl FileServer {
    /// A stream is renamed within its file only: `file:old` to `file:new`
    /// (MS-FSA 2.1.5.14.11 also lets the unnamed stream become a named one
    /// and back; that is not offered).
    async fn rename_stream(&self, vol: &Volume, src: &holdfast_objfs::fs::Attr, root: u64, names: &[&str], new_stream: Option<String>, replace: bool) -> Result<Reply, Fail> {
        let (Some(new), true) = (new_stream, holdfast_objfs::names::is_stream(&src.name)) else {
            return Err(Fail::new(NtStatus::INVALID_PARAMETER, "a file's data and its streams are renamed only to each other's kind"));
        };
        let base = vol.fs.resolve_from(root, names)?;
        if base.ino != src.parent {
            return Err(Fail::new(NtStatus::INVALID_PARAMETER, "a stream is renamed only within its own file"));
        }
        if let Ok(target) = vol.fs.lookup(src.parent, &new) {
            if target.ino != src.ino {
                if !replace {
                    return Err(Fail::new(NtStatus::OBJECT_NAME_COLLISION, format!("stream {new:?} exists")));
                }
                if vol.opens.lock().expect("opens lock").opens_of(target.ino) > 0 {
                    return Err(Fail::new(NtStatus::ACCESS_DENIED, format!("stream {new:?} is open and cannot be replaced")));
                }
            }
        }
        let a = vol.fs.rename(src.parent, &src.name, src.parent, &new, replace, now_filetime()).await?;
        Ok(Reply::Info(info(&a)))
    }
}

/// The access of the directory open a rename makes (see `rename`).
const RENAME_PARENT_ACCESS: u32 = DELETE;
/// Removes the file whose last open closed with its delete pending.
pub(crate) async fn remove_file(vol: &Volume, ino: u64) -> Result<(), Fail> {
    let a = match vol.fs.stat(ino) {
        Ok(a) => a,
        Err(FsError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    match vol.fs.remove(a.parent, &a.name).await {
        Ok(()) | Err(FsError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
#[path = "read_only_tests.rs"]
mod read_only_tests;
