//! The file server's own data kept with a file: internal streams
//! (`objfs::names::is_internal_stream`), read and written whole. A file's
//! EAs (`ea_ops.rs`) and its own security descriptor (`security_ops.rs`)
//! live there, so they are replicated and move, go and survive failover
//! with the file.

use holdfast_objfs::fs::{FileKind, FsError, Ino};

use crate::server::Fail;
use crate::time::now_filetime;
use crate::volume::Volume;

/// The whole internal stream `name` of `ino` (at most `bytes_max`), or
/// None when the file has none.
pub(crate) async fn read(vol: &Volume, ino: Ino, name: &str, bytes_max: u64) -> Result<Option<Vec<u8>>, Fail> {
    let a = match vol.fs.lookup(ino, name) {
        Ok(a) => a,
        Err(FsError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(vol.fs.read(a.ino, 0, a.size_bytes.min(bytes_max)).await?))
}

/// Replaces the internal stream `name` of `ino` with `data`; empty data
/// removes it. Callers hold `Volume::ea_lock` across their read, merge and
/// this write.
pub(crate) async fn write(vol: &Volume, ino: Ino, name: &str, data: &[u8]) -> Result<(), Fail> {
    let now = now_filetime();
    match vol.fs.lookup(ino, name) {
        Ok(a) if data.is_empty() => vol.fs.remove(ino, &a.name).await?,
        Ok(a) => {
            vol.fs.set_size(a.ino, 0, now).await?;
            vol.fs.write(a.ino, 0, data, now).await?;
        }
        Err(FsError::NotFound) if data.is_empty() => {}
        Err(FsError::NotFound) => {
            let a = vol.fs.create(ino, name, FileKind::File, 0, now).await?;
            vol.fs.write(a.ino, 0, data, now).await?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
