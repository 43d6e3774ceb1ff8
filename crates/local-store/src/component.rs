//! One component: a backend plus the rules every block command must pass.
//!
//! Fencing: a component remembers the highest epoch it has seen and refuses
//! commands that carry an older one, so a deposed owner's late writes
//! bounce. Ordering: within an epoch, writes must arrive with consecutive
//! sequence numbers; a gap means this copy missed a write, and it refuses
//! everything after it rather than silently diverge.

use std::sync::Mutex;

use holdfast_types::limits::{IO_BYTES_MAX, SECTOR_BYTES};
use holdfast_types::{Epoch, ObjectId, ObjectKind, Seq};

use crate::{BlockBackend, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Order {
    epoch: Epoch,
    last_seq: Seq,
}

pub struct Component {
    pub object: ObjectId,
    backend: Box<dyn BlockBackend>,
    order: Mutex<Order>,
}

/// Checks that `offset..offset+length` is a valid I/O range for an object of
/// `size` bytes.
pub fn check_range(offset: u64, length: u64, size: u64) -> Result<(), StoreError> {
    if offset % SECTOR_BYTES != 0 || length % SECTOR_BYTES != 0 || length == 0 {
        return Err(StoreError::Misaligned { offset, length, align: SECTOR_BYTES });
    }
    let end = offset.checked_add(length);
    if length > IO_BYTES_MAX || end.is_none_or(|e| e > size) {
        return Err(StoreError::OutOfRange { offset, length, size, max: IO_BYTES_MAX });
    }
    Ok(())
}

impl Component {
    pub fn new(object: ObjectId, backend: Box<dyn BlockBackend>) -> Component {
        Component { object, backend, order: Mutex::new(Order { epoch: 0, last_seq: 0 }) }
    }

    pub fn kind(&self) -> ObjectKind {
        self.backend.kind()
    }

    pub fn size_bytes(&self) -> u64 {
        self.backend.len_bytes()
    }

    pub fn epoch(&self) -> Epoch {
        self.order.lock().expect("order lock").epoch
    }

    /// The (epoch, seq) of the last write applied.
    pub fn last_applied(&self) -> (Epoch, Seq) {
        let o = self.order.lock().expect("order lock");
        (o.epoch, o.last_seq)
    }

    /// Learns of a newer epoch from the directory. Never lowers it.
    pub fn observe_epoch(&self, epoch: Epoch) {
        let mut o = self.order.lock().expect("order lock");
        if epoch > o.epoch {
            *o = Order { epoch, last_seq: 0 };
        }
    }

    /// A new owner announces `epoch`. Older epochs are refused from now on.
    pub fn fence(&self, epoch: Epoch) -> Result<(), StoreError> {
        let mut o = self.order.lock().expect("order lock");
        if epoch < o.epoch {
            return Err(StoreError::StaleEpoch { object: self.object, known: o.epoch, got: epoch });
        }
        if epoch > o.epoch {
            *o = Order { epoch, last_seq: 0 };
        }
        Ok(())
    }

    /// Applies a replicated write. Does not sync; the caller calls
    /// [`Component::sync`] before acknowledging a persistent write.
    pub fn write(&self, epoch: Epoch, seq: Seq, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        check_range(offset, data.len() as u64, self.size_bytes())?;
        // The lock is held across the copy so that overlapping writes land
        // in sequence order.
        let mut o = self.order.lock().expect("order lock");
        if epoch < o.epoch {
            return Err(StoreError::StaleEpoch { object: self.object, known: o.epoch, got: epoch });
        }
        if epoch > o.epoch {
            *o = Order { epoch, last_seq: 0 };
        }
        if seq != o.last_seq + 1 {
            return Err(StoreError::SeqGap { object: self.object, epoch, expected_after: o.last_seq, got: seq });
        }
        self.backend.write_at(offset, data)?;
        o.last_seq = seq;
        Ok(())
    }

    /// Reads bytes. With `epoch` set, refuses if the component knows a newer
    /// epoch (the caller is a deposed owner); `None` is the diagnostic read.
    pub fn read(&self, epoch: Option<Epoch>, offset: u64, length: u64) -> Result<Vec<u8>, StoreError> {
        check_range(offset, length, self.size_bytes())?;
        if let Some(e) = epoch {
            let known = self.epoch();
            if e < known {
                return Err(StoreError::StaleEpoch { object: self.object, known, got: e });
            }
        }
        let mut buf = vec![0u8; length as usize];
        self.backend.read_at(offset, &mut buf)?;
        Ok(buf)
    }

    pub fn sync(&self) -> Result<(), StoreError> {
        self.backend.sync()
    }

    pub fn needs_sync(&self) -> bool {
        !self.backend.is_volatile()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBackend;

    fn comp() -> Component {
        Component::new(1, Box::new(MemoryBackend::new(16 * 4096)))
    }

    #[test]
    fn rejects_misaligned_and_out_of_range() {
        let c = comp();
        assert!(matches!(c.write(1, 1, 100, &[0; 512]), Err(StoreError::Misaligned { .. })));
        assert!(matches!(c.write(1, 1, 0, &[0; 100]), Err(StoreError::Misaligned { .. })));
        assert!(matches!(c.write(1, 1, 0, &[]), Err(StoreError::Misaligned { .. })));
        assert!(matches!(c.write(1, 1, 16 * 4096, &[0; 512]), Err(StoreError::OutOfRange { .. })));
        assert!(matches!(c.read(None, u64::MAX - 511, 512), Err(StoreError::OutOfRange { .. })));
    }

    #[test]
    fn fencing_and_order() {
        let c = comp();
        c.fence(2).unwrap();
        c.write(2, 1, 0, &[1; 512]).unwrap();
        assert!(matches!(c.write(2, 3, 0, &[1; 512]), Err(StoreError::SeqGap { .. })));
        c.write(2, 2, 512, &[2; 512]).unwrap();
        assert!(matches!(c.write(1, 3, 0, &[9; 512]), Err(StoreError::StaleEpoch { .. })));
        c.fence(3).unwrap();
        assert!(matches!(c.write(2, 3, 0, &[9; 512]), Err(StoreError::StaleEpoch { .. })));
        assert!(matches!(c.fence(2), Err(StoreError::StaleEpoch { .. })));
        c.write(3, 1, 0, &[3; 512]).unwrap();
        assert_eq!(c.read(Some(3), 0, 512).unwrap(), vec![3; 512]);
        assert_eq!(c.read(None, 512, 512).unwrap(), vec![2; 512]);
        assert!(matches!(c.read(Some(2), 0, 512), Err(StoreError::StaleEpoch { .. })));
        c.observe_epoch(5);
        assert!(matches!(c.write(4, 1, 0, &[0; 512]), Err(StoreError::StaleEpoch { .. })));
    }
}
