//! Where blocking file I/O (fsync, log appends) runs.
//!
//! Normally off the async threads, so an fsync never stalls heartbeats. The
//! deterministic simulator runs every host on one thread under simulated
//! time; there a blocking pool would finish work at real-time moments and
//! break replay, so it switches to running such work inline.

use std::sync::atomic::{AtomicBool, Ordering};

static INLINE_BLOCKING: AtomicBool = AtomicBool::new(false);

/// Run blocking work inline from now on (simulation only).
pub fn set_inline_blocking(inline: bool) {
    INLINE_BLOCKING.store(inline, Ordering::SeqCst);
}

pub fn inline_blocking() -> bool {
    INLINE_BLOCKING.load(Ordering::Relaxed)
}
