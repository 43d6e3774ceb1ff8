//! RAM backend. The buffer comes from a zeroed allocation, which the
//! allocator serves with lazily mapped pages, so a 64 MiB object costs RAM
//! only as it is written.

use std::sync::RwLock;

use holdfast_types::ObjectKind;

use crate::{BlockBackend, StoreError};

pub struct MemoryBackend {
    bytes: RwLock<Box<[u8]>>,
    len: u64,
}

impl MemoryBackend {
    pub fn new(len: u64) -> MemoryBackend {
        MemoryBackend { bytes: RwLock::new(vec![0u8; len as usize].into_boxed_slice()), len }
    }
}

impl BlockBackend for MemoryBackend {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Memory
    }

    fn len_bytes(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StoreError> {
        let b = self.bytes.read().expect("memory backend lock");
        let at = offset as usize;
        buf.copy_from_slice(&b[at..at + buf.len()]);
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        let mut b = self.bytes.write().expect("memory backend lock");
        let at = offset as usize;
        b[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
