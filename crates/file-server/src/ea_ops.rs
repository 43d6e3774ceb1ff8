//! Extended attributes: kept in the file's internal EA stream
//! (`objfs::names::EA_STREAM`) as `proto::encode_eas` lays them out, so
//! they are replicated, survive failover and go with the file like its
//! data. A file without EAs has no such stream.

use bytes::Bytes;
use holdfast_objfs::fs::{FileKind, FsError};
use holdfast_objfs::names::{is_stream, EA_STREAM};
use holdfast_types::ntstatus::NtStatus;

use crate::codec::{Dec, Enc};
use crate::proto::{decode_eas, encode_eas, EaEntry, Reply, EA_BYTES_MAX, EA_NAME_BYTES_MAX};
use crate::server::{Fail, FileServer};
use crate::time::now_filetime;
use crate::volume::Volume;

impl FileServer {
    pub(crate) async fn get_eas(&self, fid: u64) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let base = ea_holder(&vol, fid)?;
        Ok(Reply::Eas(read_eas(&vol, base).await?))
    }

    /// Merges `eas` into the file's: names match case-insensitively and
    /// are stored upper-case (as NTFS does); an empty value removes one.
    pub(crate) async fn set_eas(&self, fid: u64, eas: Vec<EaEntry>) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let base = ea_holder(&vol, fid)?;
        if eas.iter().any(|e| e.name.is_empty() || e.name.len() > EA_NAME_BYTES_MAX) {
            return Err(Fail::new(NtStatus::INVALID_EA_NAME, "an EA name is empty or too long"));
        }
        // One writer of a volume's EAs at a time, so that two merges never
        // lose each other's changes.
        let _one = vol.ea_lock.lock().await;
        let mut all = read_eas(&vol, base).await?;
        for e in eas {
            let name = e.name.to_ascii_uppercase();
            all.retain(|x| x.name != name);
            if !e.value.is_empty() {
                all.push(EaEntry { name, value: e.value });
            }
        }
        let mut enc = Enc::with_capacity(256);
        encode_eas(&mut enc, &all);
        let bytes = enc.finish();
        if bytes.len() > EA_BYTES_MAX {
            return Err(Fail::new(NtStatus::EA_TOO_LARGE, format!("the file's EAs would take {} bytes; at most {EA_BYTES_MAX}", bytes.len())));
        }
        let now = now_filetime();
        match vol.fs.lookup(base, EA_STREAM) {
            Ok(a) if all.is_empty() => vol.fs.remove(base, &a.name).await?,
            Ok(a) => {
                vol.fs.set_size(a.ino, 0, now).await?;
                vol.fs.write(a.ino, 0, &bytes, now).await?;
            }
            Err(FsError::NotFound) if all.is_empty() => {}
            Err(FsError::NotFound) => {
                let a = vol.fs.create(base, EA_STREAM, FileKind::File, 0, now).await?;
                vol.fs.write(a.ino, 0, &bytes, now).await?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Reply::Empty)
    }
}

/// The file or directory whose EAs an open sees (a stream's are its file's).
fn ea_holder(vol: &Volume, fid: u64) -> Result<u64, Fail> {
    let ino = vol.opens.lock().expect("opens lock").get(fid)?.ino;
    let a = vol.fs.stat(ino)?;
    Ok(if is_stream(&a.name) { a.parent } else { ino })
}

async fn read_eas(vol: &Volume, base: u64) -> Result<Vec<EaEntry>, Fail> {
    let a = match vol.fs.lookup(base, EA_STREAM) {
        Ok(a) => a,
        Err(FsError::NotFound) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let raw = Bytes::from(vol.fs.read(a.ino, 0, a.size_bytes.min(EA_BYTES_MAX as u64)).await?);
    let mut d = Dec::new(&raw, "EA stream");
    let eas = decode_eas(&mut d).and_then(|v| d.end().map(|()| v));
    eas.map_err(|e| Fail::new(NtStatus::FILE_CORRUPT_ERROR, format!("the file's EA stream is damaged: {e}")))
}
