//! The block device a file system is laid out on. In the node it is a
//! replicated object written through its owner's replicator; in tests and in
//! `holdfast fsck` it is an image in memory.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use bytes::Bytes;
use holdfast_types::limits::{IO_BYTES_MAX, SECTOR_BYTES};
use holdfast_types::{ErrorCode, HoldfastError};

/// Offsets and lengths of every read and write are multiples of
/// [`SECTOR_BYTES`] and at most [`IO_BYTES_MAX`] long. A write is atomic: after
/// a crash it is wholly present or wholly absent (replication guarantees this
/// for in-flight writes). The file system still checksums what it reads, so a
/// torn write is detected rather than trusted.
/// The rest of a write whose order is fixed: resolves when it is durable.
pub type PendingWrite = Pin<Box<dyn Future<Output = Result<(), HoldfastError>> + Send + 'static>>;

pub trait Device: Send + Sync + 'static {
    fn size_bytes(&self) -> u64;
    fn read(&self, offset: u64, len: u64) -> impl Future<Output = Result<Vec<u8>, HoldfastError>> + Send;
    fn write(&self, offset: u64, data: Bytes) -> impl Future<Output = Result<(), HoldfastError>> + Send;
    /// Starts a write and returns once its place in the device's order is
    /// fixed: a read sees it, and every write started after it lands after
    /// it on every copy, so a copy that holds a later write holds this one.
    /// The returned future resolves as `write` would. The default writes in
    /// full first (a device that cannot promise the order).
    fn write_ordered(&self, offset: u64, data: Bytes) -> impl Future<Output = Result<PendingWrite, HoldfastError>> + Send {
        async move {
            self.write(offset, data).await?;
            Ok(Box::pin(async { Ok(()) }) as PendingWrite)
        }
    }
    /// Returns once every write that returned before the call is on
    /// stable storage (for a replicated object: on the disk of every
    /// ACTIVE component). A write that returned is only in RAM until then
    /// (of every ACTIVE component: it survives the loss of hosts, not a
    /// power loss of them all). A device with no volatile cache, such as
    /// an image in memory, has nothing to do.
    fn flush(&self) -> impl Future<Output = Result<(), HoldfastError>> + Send {
        async { Ok(()) }
    }
}

pub fn check_io(offset: u64, len: u64, size: u64) -> Result<(), HoldfastError> {
    if offset % SECTOR_BYTES != 0 || len % SECTOR_BYTES != 0 {
        return Err(HoldfastError::new(ErrorCode::Misaligned, format!("I/O at {offset}+{len} is not {SECTOR_BYTES}-byte aligned")));
    }
    if len > IO_BYTES_MAX {
        return Err(HoldfastError::new(ErrorCode::OutOfRange, format!("I/O of {len} bytes is over {IO_BYTES_MAX}")));
    }
    if offset.checked_add(len).map_or(true, |end| end > size) {
        return Err(HoldfastError::new(ErrorCode::OutOfRange, format!("I/O at {offset}+{len} is past the end ({size} bytes)")));
    }
    Ok(())
}

/// A device held in memory: tests, and fsck of an image read whole.
pub struct MemDevice {
    bytes: Mutex<Vec<u8>>,
}

impl MemDevice {
    pub fn new(size_bytes: u64) -> MemDevice {
        assert!(size_bytes % SECTOR_BYTES == 0, "device size must be a whole number of sectors");
        MemDevice { bytes: Mutex::new(vec![0; size_bytes as usize]) }
    }

    pub fn from_image(image: Vec<u8>) -> MemDevice {
        assert!(image.len() as u64 % SECTOR_BYTES == 0, "image size must be a whole number of sectors");
        MemDevice { bytes: Mutex::new(image) }
    }

    pub fn image(&self) -> Vec<u8> {
        self.bytes.lock().expect("device lock").clone()
    }
}

impl Device for MemDevice {
    fn size_bytes(&self) -> u64 {
        self.bytes.lock().expect("device lock").len() as u64
    }

    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, HoldfastError> {
        let b = self.bytes.lock().expect("device lock");
        check_io(offset, len, b.len() as u64)?;
        Ok(b[offset as usize..(offset + len) as usize].to_vec())
    }

    async fn write(&self, offset: u64, data: Bytes) -> Result<(), HoldfastError> {
        let mut b = self.bytes.lock().expect("device lock");
        check_io(offset, data.len() as u64, b.len() as u64)?;
        b[offset as usize..offset as usize + data.len()].copy_from_slice(&data);
        Ok(())
    }
}
