//! Extended attributes: kept in the file's internal EA stream
//! (`objfs::names::EA_STREAM`) as the FILE_FULL_EA_INFORMATION list
//! NTFS and SMB use (`holdfast_types::ea`), so the stream's length is the
//! file's EaSize (`objfs::fs::Attr::ea_bytes`). They are replicated,
//! survive failover and go with the file like its data. A file without
//! EAs has no such stream.

use bytes::Bytes;
use holdfast_objfs::names::{is_stream, EA_STREAM};
use holdfast_types::ea::{decode_full_ea_list, encode_full_ea_list, Ea, EA_LIST_BYTES_MAX, EA_NAME_BYTES_MAX};
use holdfast_types::ntstatus::NtStatus;

use crate::internal_streams;
use crate::proto::{EaEntry, Reply};
use crate::server::{Fail, FileServer};
use crate::volume::Volume;

impl FileServer {
    pub(crate) async fn get_eas(&self, fid: u64) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let base = ea_holder(&vol, fid)?;
        let eas = read_eas(&vol, base).await?;
        Ok(Reply::Eas(eas.into_iter().map(|e| EaEntry { name: e.name, value: Bytes::from(e.value) }).collect()))
    }

    /// Merges `eas` into the file's: names match case-insensitively and
    /// are stored upper-case (as NTFS does); an empty value removes one.
    pub(crate) async fn set_eas(&self, fid: u64, eas: Vec<EaEntry>) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let base = ea_holder(&vol, fid)?;
        if eas.iter().any(|e| e.name.is_empty() || e.name.len() > EA_NAME_BYTES_MAX || e.value.len() > u16::MAX as usize) {
            return Err(Fail::new(NtStatus::INVALID_EA_NAME, "an EA name is empty or too long, or its value over 64 KiB"));
        }
        // One writer of a volume's internal streams at a time, so that two
        // merges never lose each other's changes.
        let _one = vol.ea_lock.lock().await;
        let mut all = read_eas(&vol, base).await?;
        for e in eas {
            let name = e.name.to_ascii_uppercase();
            all.retain(|x| x.name != name);
            if !e.value.is_empty() {
                all.push(Ea { flags: 0, name, value: e.value.to_vec() });
            }
        }
        let mut bytes = Vec::new();
        encode_full_ea_list(&all, &mut bytes);
        if bytes.len() > EA_LIST_BYTES_MAX {
            return Err(Fail::new(NtStatus::EA_TOO_LARGE, format!("the file's EAs would take {} bytes; at most {EA_LIST_BYTES_MAX}", bytes.len())));
        }
        internal_streams::write(&vol, base, EA_STREAM, &bytes).await?;
        Ok(Reply::Empty)
    }
}

/// The file or directory whose EAs an open sees (a stream's are its file's).
fn ea_holder(vol: &Volume, fid: u64) -> Result<u64, Fail> {
    let ino = vol.opens.lock().expect("opens lock").get(fid)?.ino;
    let a = vol.fs.stat(ino)?;
    Ok(if is_stream(&a.name) { a.parent } else { ino })
}

async fn read_eas(vol: &Volume, base: u64) -> Result<Vec<Ea>, Fail> {
    let Some(raw) = internal_streams::read(vol, base, EA_STREAM, EA_LIST_BYTES_MAX as u64).await? else { return Ok(Vec::new()) };
    decode_full_ea_list(&raw).map_err(|e| Fail::new(NtStatus::FILE_CORRUPT_ERROR, format!("the file's EA stream is damaged: {e}")))
}
