//! The one trait both component kinds implement.
//!
//! Contract:
//! - `read_at` and `write_at` are only called with ranges inside
//!   `0..len_bytes()`; [`crate::Component`] checks alignment and bounds first.
//! - Calls may come from several threads at once. Writes to overlapping
//!   ranges are never issued concurrently: the component serialises them in
//!   the owner's sequence order.
//! - After `write_at` returns, a `read_at` of the same range returns the new
//!   bytes.
//! - After `sync` returns, every write that returned before `sync` was
//!   called survives a crash of this process and of the host (memory
//!   backends survive neither and say so with `is_volatile`).

use holdfast_types::ObjectKind;

use crate::StoreError;

pub trait BlockBackend: Send + Sync {
    fn kind(&self) -> ObjectKind;
    fn len_bytes(&self) -> u64;
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StoreError>;
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StoreError>;
    fn sync(&self) -> Result<(), StoreError>;
    /// Records the position `(epoch, seq)` of the last write applied, made
    /// durable by the next `sync`. Volatile backends keep nothing.
    fn save_position(&self, _position: (u64, u64)) -> Result<(), StoreError> {
        Ok(())
    }
    /// The position saved before a restart; `(0, 0)` when none.
    fn load_position(&self) -> (u64, u64) {
        (0, 0)
    }
    /// Records the position that the sync which just returned covered.
    /// Written lazily like the position: the next `sync` makes it durable.
    fn save_synced(&self, _position: (u64, u64)) -> Result<(), StoreError> {
        Ok(())
    }
    /// True when the backend may hold writes past its position: its host
    /// lost power (the page cache) after acknowledging writes that were
    /// not yet synced, so the bytes after the last sync are an unknown mix
    /// of old and new. The position was moved back to the last sync. Stays
    /// true across restarts until [`BlockBackend::mark_clean`].
    fn unclean(&self) -> bool {
        false
    }
    /// Every byte is now what the replication protocol says it is (this
    /// copy became the source the others are rebuilt from, or was itself
    /// rebuilt).
    fn mark_clean(&self) -> Result<(), StoreError> {
        Ok(())
    }
    fn is_volatile(&self) -> bool {
        self.kind() == ObjectKind::Memory
    }
}
