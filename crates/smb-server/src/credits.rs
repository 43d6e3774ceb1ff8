//! Credits and the command sequence window ([MS-SMB2] 3.3.1.1, 3.3.5.2.3):
//! a request may use only MessageIds the server has granted, each once.
//! A request outside the window ends the connection.
//!
//! The window `[low, end)` never spans more than `credits_max` ids, used
//! or not, as Samba's `seq_range` never exceeds `smb2 max credits`: a
//! client that never uses its lowest id cannot be granted new ids past
//! `low + credits_max`, so the set of ids used above `low` stays bounded
//! (else it would grow with every request).

use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("MessageId {id} (charge {charge}) outside the window [{low}, {end}) or reused")]
pub struct WindowError {
    pub id: u64,
    pub charge: u64,
    pub low: u64,
    pub end: u64,
}

#[derive(Debug)]
pub struct SequenceWindow {
    /// Lowest MessageId not yet used.
    low: u64,
    /// One past the highest MessageId granted.
    end: u64,
    /// Ids above `low` already used (clients may send out of order).
    used: BTreeSet<u64>,
    /// Most ids `[low, end)` may span, granted and unused or used out of
    /// order.
    span_max: u64,
}

impl SequenceWindow {
    /// A new connection may send MessageId 0 only.
    pub fn new(outstanding_max: u16) -> SequenceWindow {
        SequenceWindow { low: 0, end: 1, used: BTreeSet::new(), span_max: u64::from(outstanding_max.max(1)) }
    }

    /// Consumes `[id, id + charge)` (a charge of 0 counts as 1).
    pub fn consume(&mut self, id: u64, charge: u16) -> Result<(), WindowError> {
        let charge = u64::from(charge.max(1));
        let err = WindowError { id, charge, low: self.low, end: self.end };
        let last = id.checked_add(charge).ok_or(err)?;
        if id < self.low || last > self.end || (id..last).any(|i| self.used.contains(&i)) {
            return Err(err);
        }
        self.used.extend(id..last);
        while self.used.remove(&self.low) {
            self.low += 1;
        }
        Ok(())
    }

    /// Grants up to `want` credits (at least 1 when the client would
    /// otherwise hold none); returns the number granted. Never past
    /// `low + span_max`, nor into the last id (u64::MAX, which marks
    /// oplock break notifications).
    pub fn grant(&mut self, want: u16) -> u16 {
        let outstanding = self.end - self.low - self.used.len() as u64;
        let room = self.span_max.saturating_sub(self.end - self.low).min(u64::MAX - 1 - self.end);
        let mut g = u64::from(want).min(room);
        if g == 0 && outstanding == 0 && self.end < u64::MAX - 1 {
            // With none held every id below `end` is used, so `low ==
            // end` and the span has room: this keeps the client going.
            g = 1;
        }
        self.end += g;
        g as u16
    }

    /// Ids the window spans (granted, used or not, from the lowest unused).
    pub fn span(&self) -> u64 {
        self.end - self.low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_out_of_order_and_reuse() {
        let mut w = SequenceWindow::new(10);
        w.consume(0, 0).unwrap();
        assert!(w.consume(1, 1).is_err(), "not granted yet");
        assert_eq!(w.grant(5), 5);
        w.consume(3, 1).unwrap();
        w.consume(1, 2).unwrap();
        assert!(w.consume(2, 1).is_err(), "reused");
        assert!(w.consume(0, 1).is_err(), "below the window");
        w.consume(4, 1).unwrap();
        w.consume(5, 1).unwrap();
        assert!(w.consume(6, 1).is_err(), "past the window");
    }

    #[test]
    fn grants_are_bounded_but_never_starve() {
        let mut w = SequenceWindow::new(4);
        w.consume(0, 1).unwrap();
        assert_eq!(w.grant(100), 4);
        assert_eq!(w.grant(100), 0, "4 outstanding already");
        w.consume(1, 4).unwrap();
        assert_eq!(w.grant(0), 1, "the client holds none: at least one");
    }

    #[test]
    fn an_id_never_used_bounds_the_window() {
        let mut w = SequenceWindow::new(8);
        w.consume(0, 1).unwrap();
        assert_eq!(w.grant(8), 8);
        // Id 1 is never used; the client spends every other id it gets
        // and asks for more each time.
        let mut next = 2;
        for _ in 0..10_000 {
            if w.consume(next, 1).is_err() {
                break;
            }
            next += 1;
            w.grant(8);
            assert!(w.span() <= 8, "window spans {} ids", w.span());
            assert!(w.used.len() <= 8, "{} used ids remembered", w.used.len());
        }
        assert_eq!(next, 9, "no id past low + credits_max was granted");
        // Using id 1 at last frees the window again.
        w.consume(1, 1).unwrap();
        assert_eq!(w.span(), 0);
        assert_eq!(w.grant(8), 8);
    }
}
