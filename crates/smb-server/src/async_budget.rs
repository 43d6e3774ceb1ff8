//! How many requests may wait asynchronously (interim STATUS_PENDING
//! sent, the request parked until its wait is over): each holds its PDU
//! and a task, so a client that sends CHANGE_NOTIFYs or blocking LOCKs
//! forever must not make the service hold them forever. One over
//! `Limits::async_requests_per_connection_max` or `async_requests_max`
//! ends at once with STATUS_INSUFFICIENT_RESOURCES, the status Samba and
//! Windows give a request they have no resources to queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct AsyncBudget {
    in_use: AtomicUsize,
    max: usize,
    per_connection_max: usize,
}

/// One waiting request's place; given back when dropped.
pub struct AsyncSlot(Arc<AsyncBudget>);

impl Drop for AsyncSlot {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncBudget {
    pub fn new(max: usize, per_connection_max: usize) -> Arc<AsyncBudget> {
        Arc::new(AsyncBudget { in_use: AtomicUsize::new(0), max, per_connection_max })
    }

    /// A place for a request to go async, on a connection where
    /// `on_connection` requests wait already; None: over a cap.
    pub fn try_take(self: &Arc<Self>, on_connection: usize) -> Option<AsyncSlot> {
        if on_connection >= self.per_connection_max {
            return None;
        }
        self.in_use
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < self.max).then_some(n + 1))
            .ok()
            .map(|_| AsyncSlot(self.clone()))
    }

    /// A place for a request that already waited and waits again (a new
    /// break came up): it was admitted once and gave its place back only
    /// to run, so it is not refused now.
    pub fn take_again(self: &Arc<Self>) -> AsyncSlot {
        self.in_use.fetch_add(1, Ordering::Relaxed);
        AsyncSlot(self.clone())
    }

    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_connection_and_server_caps() {
        let b = AsyncBudget::new(3, 2);
        assert!(b.try_take(2).is_none(), "the connection has its 2 already");
        let s1 = b.try_take(0).unwrap();
        let _s2 = b.try_take(1).unwrap();
        let _s3 = b.try_take(0).unwrap();
        assert!(b.try_take(0).is_none(), "3 waiting on the server");
        drop(s1);
        let _s4 = b.try_take(0).expect("a place was given back");
        let _again = b.take_again();
        assert_eq!(b.in_use(), 4);
        assert!(b.try_take(0).is_none());
    }
}
