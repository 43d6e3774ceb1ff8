//! A volume's handle table across whole-cluster restarts
//! (docs/restarts.md).
//!
//! The directory numbers each life of the handle-table object (its
//! `incarnation`, raised by every reset of a LOST object) and says whether
//! the current one was restored from a parked image. Before a table is
//! mounted, [`prepare_table`] makes it agree: a table already formatted for
//! this incarnation is used as it is; otherwise it is rebuilt, from the
//! image a planned stop parked on the volume when the directory says so,
//! and empty (a new id generation) when not. [`FileServer::park`] writes
//! that image at a planned stop.
//!
//! The image lives in the volume's file system, as the file
//! [`PARKED_IMAGE_NAME`] in the volume root: a persistent object, so it is
//! on the disk of every host that holds the volume, and no client can reach
//! it (the name is reserved in every path, and left out of listings).

use std::sync::Arc;
use std::time::Duration;

use holdfast_objfs::fs::{FileKind, Fs, FsError, ROOT_INO};
use holdfast_objfs::handles::{parse_park_image, HandleError, HandleTable, TableFormat};
use holdfast_objfs::names::RESERVED_NAME;
use holdfast_objfs::Device;

use crate::device::ObjectDevice;
use crate::server::FileServer;
use crate::time::{now_filetime, now_unix_ms};

/// Where a parked handle table is kept in its volume's root.
pub const PARKED_IMAGE_NAME: &str = RESERVED_NAME;
/// How long a park waits for operations already holding the volume.
const PARK_DRAIN_MS_MAX: u64 = 10_000;

/// What the directory says the handle table must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableExpect {
    /// The handle object's incarnation.
    pub incarnation: u32,
    /// `Some(i)`: the reset that made this incarnation restores the image
    /// parked at incarnation `i`.
    pub restore_from: Option<u32>,
}

/// What [`prepare_table`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// The table was already formatted for this incarnation.
    AsItWas,
    /// A new, empty table (a new volume, or a reset with nothing parked).
    Formatted,
    /// Restored from the parked image: this many records.
    Restored { records: u32 },
}

/// A parked table: what `ParkTable` records in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParkedTable {
    pub incarnation: u32,
    pub records: u32,
}

fn fs_err(what: &str, e: FsError) -> String {
    format!("{what}: {e}")
}

fn table_err(what: &str, e: HandleError) -> String {
    format!("{what}: {e}")
}

/// Reads the parked image from the volume root, if there is one.
async fn read_image(fs: &Fs<ObjectDevice>, image_bytes_max: u64) -> Result<Option<Vec<u8>>, String> {
    let attr = match fs.lookup(ROOT_INO, PARKED_IMAGE_NAME) {
        Ok(a) => a,
        Err(FsError::NotFound) => return Ok(None),
        Err(e) => return Err(fs_err("look up the parked handle table", e)),
    };
    if attr.size_bytes > image_bytes_max {
        return Err(format!("the parked handle table is {} bytes; a table this size parks in at most {image_bytes_max}", attr.size_bytes));
    }
    fs.read(attr.ino, 0, attr.size_bytes).await.map(Some).map_err(|e| fs_err("read the parked handle table", e))
}

async fn remove_image(fs: &Fs<ObjectDevice>) {
    match fs.remove(ROOT_INO, PARKED_IMAGE_NAME).await {
        Ok(()) | Err(FsError::NotFound) => {}
        Err(e) => tracing::warn!(error = %e, "cannot remove a parked handle table that is no longer needed"),
    }
}

/// Makes the handle table on `dev` the one the directory expects (see the
/// module doc). A table that is corrupt in this incarnation is refused,
/// never formatted over.
pub(crate) async fn prepare_table(volume: &str, fs: &Fs<ObjectDevice>, dev: &ObjectDevice, expect: TableExpect) -> Result<Prepared, String> {
    let header = match HandleTable::probe(dev).await {
        Ok(h) => Some(h),
        Err(HandleError::NotFormatted) => None,
        // A reset rewrites whatever the new owner's copy held; anything
        // else that does not parse is damage to report.
        Err(e) if expect.incarnation == 0 => return Err(table_err("handle table", e)),
        Err(e) => {
            tracing::info!(volume, error = %e, "handle table from before the reset does not parse; rewriting it");
            None
        }
    };
    match &header {
        Some(h) if h.incarnation == expect.incarnation => return Ok(Prepared::AsItWas),
        Some(h) if h.incarnation > expect.incarnation => {
            return Err(format!(
                "handle table is of incarnation {}, newer than the directory's {}; refusing to format over it",
                h.incarnation, expect.incarnation
            ))
        }
        _ => {}
    }
    let volume_id = fs.volume_id();
    // An image holds at most a header and every slot: no bigger than the
    // object itself plus a little framing.
    let image_bytes_max = dev.size_bytes() + 64 * 1024;
    if let Some(from) = expect.restore_from {
        match read_image(fs, image_bytes_max).await {
            Ok(Some(image)) => match parse_park_image(&image) {
                Ok(p) if p.incarnation == from => {
                    let records = HandleTable::restore(dev, &image, volume_id, expect.incarnation)
                        .await
                        .map_err(|e| table_err("restore the parked handle table", e))?;
                    remove_image(fs).await;
                    return Ok(Prepared::Restored { records });
                }
                Ok(p) => tracing::error!(
                    volume,
                    image_incarnation = p.incarnation,
                    expected = from,
                    "the parked handle table is of another incarnation; formatting an empty table (its handles are lost)"
                ),
                Err(e) => tracing::error!(volume, error = %e, "the parked handle table is damaged; formatting an empty table (its handles are lost)"),
            },
            Ok(None) => tracing::error!(volume, "the directory says a handle table was parked, but the volume holds no image; formatting an empty table"),
            Err(e) => tracing::error!(volume, error = %e, "cannot read the parked handle table; formatting an empty table"),
        }
    }
    // Ids carry the incarnation a table was formatted in (16 bits of it),
    // so no persistent id from before this format can match a new record.
    let f = TableFormat { volume_id, now_unix_ms: now_unix_ms(), incarnation: expect.incarnation, id_generation: expect.incarnation as u16 };
    HandleTable::format(dev, &f).await.map_err(|e| table_err("format the handle table", e))?;
    remove_image(fs).await;
    Ok(Prepared::Formatted)
}

/// Writes `image` as the volume's parked table, replacing an older one.
async fn write_image(fs: &Fs<ObjectDevice>, image: &[u8]) -> Result<(), String> {
    let now = now_filetime();
    let ino = match fs.lookup(ROOT_INO, PARKED_IMAGE_NAME) {
        Ok(a) => {
            fs.set_size(a.ino, 0, now).await.map_err(|e| fs_err("truncate the old parked handle table", e))?;
            a.ino
        }
        Err(FsError::NotFound) => {
            fs.create(ROOT_INO, PARKED_IMAGE_NAME, FileKind::File, 0, now).await.map_err(|e| fs_err("create the parked handle table", e))?.ino
        }
        Err(e) => return Err(fs_err("look up the parked handle table", e)),
    };
    fs.write(ino, 0, image, now).await.map_err(|e| fs_err("write the parked handle table", e))?;
    // Each write above is durable on return; this makes the point explicit
    // for whatever the file system still has queued.
    fs.sync().await.map_err(|e| fs_err("sync the volume", e))
}

impl FileServer {
    /// A planned stop: takes `volume` out of service, waits for the
    /// operations already under way on it, and writes its handle table into
    /// the volume as a parked image. The caller records the park in the
    /// directory; until then nothing is promised.
    pub async fn park(&self, volume: &str) -> Result<ParkedTable, String> {
        let vol = self.take_mounted(volume).ok_or_else(|| format!("volume {volume:?} is not mounted here"))?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(PARK_DRAIN_MS_MAX);
        // Every operation on a volume holds a reference to it; once ours is
        // the last, nothing can change the table behind the image.
        while Arc::strong_count(&vol) > 1 {
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("volume {volume:?}: operations still under way after {PARK_DRAIN_MS_MAX} ms; not parked"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let image = vol.handles.park_image(now_unix_ms()).await.map_err(|e| table_err("build the parked image", e))?;
        write_image(&vol.fs, &image).await?;
        let parked = ParkedTable { incarnation: vol.handles.incarnation(), records: vol.handles.len() as u32 };
        tracing::warn!(volume, incarnation = parked.incarnation, records = parked.records, bytes = image.len(), "handle table parked on the volume");
        Ok(parked)
    }

    /// The mounted table's (incarnation, record count), for the census.
    pub fn table_census(&self, volume: &str) -> Option<(u32, u32)> {
        let vol = self.mounted_volume(volume)?;
        Some((vol.handles.incarnation(), vol.handles.len() as u32))
    }
}

#[cfg(test)]
#[path = "park_tests.rs"]
pub(crate) mod tests;
