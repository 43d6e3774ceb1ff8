//! When a connection that is not doing anything useful is closed, so that
//! idle TCP connections cannot hold the service's connection slots:
//! - NEGOTIATE must arrive within `Limits::negotiate_ms_max` of accept;
//! - a session must be set up within `Limits::session_setup_ms_max` of
//!   NEGOTIATE;
//! - after that, a connection with no open file and no waiting request
//!   that sends nothing for `Limits::idle_ms_max` is closed. This is
//!   Windows' autodisconnect (15 minutes by default) and Samba's
//!   `deadtime`: neither closes a connection holding open files, and
//!   clients reconnect and set up a new session on their own.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::Limits;

/// Which deadline closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Expired {
    #[error("no NEGOTIATE within negotiate_ms_max ({0} ms) of accept")]
    Negotiate(u64),
    #[error("no session set up within session_setup_ms_max ({0} ms) of NEGOTIATE")]
    SessionSetup(u64),
    #[error("idle for idle_ms_max ({0} ms) with no open file")]
    Idle(u64),
}

/// What a connection is doing, as the deadlines see it.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// NEGOTIATE succeeded.
    pub negotiated: bool,
    /// A session was set up on this connection at some point.
    pub authenticated: bool,
    /// An open file, or a request waiting asynchronously.
    pub busy: bool,
}

pub struct Deadlines {
    negotiate: Duration,
    session_setup: Duration,
    idle: Duration,
    accepted: Instant,
    negotiated: Option<Instant>,
    last_input: Instant,
}

impl Deadlines {
    pub fn new(l: &Limits, now: Instant) -> Deadlines {
        Deadlines {
            negotiate: Duration::from_millis(l.negotiate_ms_max),
            session_setup: Duration::from_millis(l.session_setup_ms_max),
            idle: Duration::from_millis(l.idle_ms_max),
            accepted: now,
            negotiated: None,
            last_input: now,
        }
    }

    /// Bytes came in.
    pub fn input(&mut self, now: Instant) {
        self.last_input = now;
    }

    /// When the connection is to be closed if nothing changes, and why;
    /// None: not while it is busy. `now` is when NEGOTIATE was first seen
    /// done (the session-setup deadline runs from there).
    pub fn next(&mut self, p: Progress, now: Instant) -> Option<(Instant, Expired)> {
        if !p.negotiated {
            return Some((self.accepted + self.negotiate, Expired::Negotiate(ms(self.negotiate))));
        }
        let negotiated = *self.negotiated.get_or_insert(now);
        if !p.authenticated {
            return Some((negotiated + self.session_setup, Expired::SessionSetup(ms(self.session_setup))));
        }
        if p.busy {
            return None;
        }
        Some((self.last_input + self.idle, Expired::Idle(ms(self.idle))))
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Progress = Progress { negotiated: true, authenticated: true, busy: false };

    #[test]
    fn each_phase_has_its_deadline() {
        let l = Limits { negotiate_ms_max: 10, session_setup_ms_max: 30, idle_ms_max: 600, ..Limits::default() };
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut d = Deadlines::new(&l, t0);
        let fresh = Progress { negotiated: false, authenticated: false, busy: false };
        assert_eq!(d.next(fresh, t0 + ms(5)), Some((t0 + ms(10), Expired::Negotiate(10))));
        // Input does not extend the negotiate deadline: only NEGOTIATE does.
        d.input(t0 + ms(8));
        assert_eq!(d.next(fresh, t0 + ms(8)).map(|x| x.0), Some(t0 + ms(10)));
        let negotiated = Progress { negotiated: true, ..fresh };
        assert_eq!(d.next(negotiated, t0 + ms(9)), Some((t0 + ms(39), Expired::SessionSetup(30))));
        // The session-setup deadline runs from the first time NEGOTIATE was seen.
        assert_eq!(d.next(negotiated, t0 + ms(20)).map(|x| x.0), Some(t0 + ms(39)));
        d.input(t0 + ms(25));
        assert_eq!(d.next(IDLE, t0 + ms(25)), Some((t0 + ms(625), Expired::Idle(600))));
        assert_eq!(d.next(Progress { busy: true, ..IDLE }, t0 + ms(30)), None, "open files keep it");
        d.input(t0 + ms(700));
        assert_eq!(d.next(IDLE, t0 + ms(700)).map(|x| x.0), Some(t0 + ms(1300)));
    }
}
