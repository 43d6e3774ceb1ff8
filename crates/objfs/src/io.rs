//! Device I/O in pieces the device accepts: sector aligned and at most
//! [`IO_BYTES_MAX`] each.

use bytes::Bytes;
use holdfast_types::limits::{IO_BYTES_MAX, SECTOR_BYTES};
use holdfast_types::{ErrorCode, HoldfastError};

use crate::device::{Device, PendingWrite};
use crate::error::FsError;

pub async fn read_bytes<D: Device>(dev: &D, offset: u64, len: u64) -> Result<Vec<u8>, FsError> {
    assert!(offset % SECTOR_BYTES == 0 && len % SECTOR_BYTES == 0, "unaligned read {offset}+{len}");
    let mut out = Vec::with_capacity(len as usize);
    let mut at = 0;
    while at < len {
        let n = (len - at).min(IO_BYTES_MAX);
        let b = dev.read(offset + at, n).await?;
        if b.len() as u64 != n {
            return Err(FsError::Device(HoldfastError::new(ErrorCode::Io, format!("read of {n} bytes at {} returned {}", offset + at, b.len()))));
        }
        out.extend_from_slice(&b);
        at += n;
    }
    Ok(out)
}

pub async fn write_bytes<D: Device>(dev: &D, offset: u64, data: Bytes) -> Result<(), FsError> {
    let len = data.len() as u64;
    assert!(offset % SECTOR_BYTES == 0 && len % SECTOR_BYTES == 0, "unaligned write {offset}+{len}");
    let mut at = 0;
    while at < len {
        let n = (len - at).min(IO_BYTES_MAX);
        dev.write(offset + at, data.slice(at as usize..(at + n) as usize)).await?;
        at += n;
    }
    Ok(())
}

/// [`write_bytes`] with `Device::write_ordered`: returns once every piece's
/// order is fixed, with the futures that finish them.
pub async fn write_bytes_ordered<D: Device>(dev: &D, offset: u64, data: Bytes) -> Result<Vec<PendingWrite>, FsError> {
    let len = data.len() as u64;
    assert!(offset % SECTOR_BYTES == 0 && len % SECTOR_BYTES == 0, "unaligned write {offset}+{len}");
    let mut pending = Vec::new();
    let mut at = 0;
    while at < len {
        let n = (len - at).min(IO_BYTES_MAX);
        pending.push(dev.write_ordered(offset + at, data.slice(at as usize..(at + n) as usize)).await?);
        at += n;
    }
    Ok(pending)
}

/// Writes zeros over a region, [`IO_BYTES_MAX`] at a time.
pub async fn zero_bytes<D: Device>(dev: &D, offset: u64, len: u64) -> Result<(), FsError> {
    let zeros = Bytes::from(vec![0u8; len.min(IO_BYTES_MAX) as usize]);
    let mut at = 0;
    while at < len {
        let n = (len - at).min(IO_BYTES_MAX);
        dev.write(offset + at, zeros.slice(..n as usize)).await?;
        at += n;
    }
    Ok(())
}
