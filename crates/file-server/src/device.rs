//! A file system's device is a replicated object, written through this
//! host's replicator (which must own it). The node implements [`ObjectIo`];
//! the file server only sees objects as byte ranges.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
pub use holdfast_objfs::device::PendingWrite;
use holdfast_objfs::Device;
use holdfast_types::{HoldfastError, ObjectId};

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait ObjectIo: Send + Sync + 'static {
    /// Acknowledged once every ACTIVE component applied it.
    fn write(&self, object: ObjectId, offset: u64, data: Bytes) -> BoxFut<'_, Result<(), HoldfastError>>;
    fn read(&self, object: ObjectId, offset: u64, len: u64) -> BoxFut<'_, Result<Vec<u8>, HoldfastError>>;
    /// Every write acknowledged before it is on the disk of every ACTIVE
    /// component.
    fn flush(&self, object: ObjectId) -> BoxFut<'_, Result<(), HoldfastError>>;
    /// `Device::write_ordered`: the default waits for the whole write.
    fn write_ordered(&self, object: ObjectId, offset: u64, data: Bytes) -> BoxFut<'_, Result<PendingWrite, HoldfastError>> {
        Box::pin(async move {
            self.write(object, offset, data).await?;
            Ok(Box::pin(async { Ok(()) }) as PendingWrite)
        })
    }
}

#[derive(Clone)]
pub struct ObjectDevice {
    io: Arc<dyn ObjectIo>,
    pub object: ObjectId,
    size_bytes: u64,
}

impl ObjectDevice {
    pub fn new(io: Arc<dyn ObjectIo>, object: ObjectId, size_bytes: u64) -> ObjectDevice {
        ObjectDevice { io, object, size_bytes }
    }
}

impl Device for ObjectDevice {
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn read(&self, offset: u64, len: u64) -> impl Future<Output = Result<Vec<u8>, HoldfastError>> + Send {
        self.io.read(self.object, offset, len)
    }

    fn write(&self, offset: u64, data: Bytes) -> impl Future<Output = Result<(), HoldfastError>> + Send {
        self.io.write(self.object, offset, data)
    }

    fn flush(&self) -> impl Future<Output = Result<(), HoldfastError>> + Send {
        self.io.flush(self.object)
    }

    fn write_ordered(&self, offset: u64, data: Bytes) -> impl Future<Output = Result<PendingWrite, HoldfastError>> + Send {
        self.io.write_ordered(self.object, offset, data)
    }
}
