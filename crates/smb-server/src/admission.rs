//! Who may hold a connection, and how fast a client may guess passwords:
//! the server-wide and per-IP connection counts (checked at accept), the
//! per-user count (checked when a session is set up), and the delay of a
//! failed logon's reply, growing with the failures from one client IP.
//!
//! A connection over a limit is closed at once rather than left waiting:
//! a queued connection waits behind idle ones for as long as they stay,
//! while a refused client retries, by which time the deadlines of
//! `conn_deadline.rs` may have freed a slot.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Limits;

/// Client IPs whose logon failures are remembered; past this the one
/// with the oldest failure is forgotten, so a spray of source addresses
/// cannot grow the table without bound.
pub const FAILURE_IPS_MAX: usize = 4096;

/// A client IP's failures are forgotten after this long without one,
/// so a user who mistyped a password once a day starts again at the
/// shortest delay.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);

/// Why a connection or a session was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{open} connections open, connections_max {max}")]
    Connections { open: usize, max: usize },
    #[error("{open} connections open from this address, connections_per_ip_max {max}")]
    PerIp { open: usize, max: usize },
    #[error("the user has sessions on {open} connections, connections_per_user_max {max}")]
    PerUser { open: usize, max: usize },
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// User (lower case) → the connections where it has a session.
    per_user: HashMap<String, Vec<u64>>,
}

struct Failures {
    consecutive: u32,
    last: Instant,
}

pub struct Admission {
    connections_max: usize,
    per_ip_max: usize,
    per_user_max: usize,
    delay_min: Duration,
    delay_max: Duration,
    counts: Mutex<Counts>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

/// One admitted connection; its slots are given back when it drops.
pub struct Ticket {
    adm: Arc<Admission>,
    ip: IpAddr,
    conn_id: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut c = self.adm.counts.lock().expect("admission lock");
        c.total -= 1;
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
        c.per_user.retain(|_, conns| {
            conns.retain(|&id| id != self.conn_id);
            !conns.is_empty()
        });
    }
}

impl Admission {
    pub fn new(l: &Limits) -> Arc<Admission> {
        Arc::new(Admission {
            connections_max: l.connections_max.max(1),
            per_ip_max: l.connections_per_ip_max.max(1),
            per_user_max: l.connections_per_user_max.max(1),
            delay_min: Duration::from_millis(l.logon_failure_delay_ms_min),
            delay_max: Duration::from_millis(l.logon_failure_delay_ms_max.max(l.logon_failure_delay_ms_min)),
            counts: Mutex::default(),
            failures: Mutex::default(),
        })
    }

    /// A connection from `ip` was accepted: admitted, or to be closed.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, conn_id: u64) -> Result<Ticket, Refused> {
        let ip = client_key(ip);
        let mut c = self.counts.lock().expect("admission lock");
        if c.total >= self.connections_max {
            return Err(Refused::Connections { open: c.total, max: self.connections_max });
        }
        let from_ip = c.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.per_ip_max {
            return Err(Refused::PerIp { open: from_ip, max: self.per_ip_max });
        }
        c.total += 1;
        *c.per_ip.entry(ip).or_insert(0) += 1;
        Ok(Ticket { adm: self.clone(), ip, conn_id })
    }

    /// Connection `conn_id` sets up a session for `user`: refused when the
    /// user already has sessions on `connections_per_user_max` other
    /// connections. Counted until the connection ends.
    pub fn admit_user(&self, user: &str, conn_id: u64) -> Result<(), Refused> {
        let mut c = self.counts.lock().expect("admission lock");
        let conns = c.per_user.entry(user.to_lowercase()).or_default();
        if conns.contains(&conn_id) {
            return Ok(());
        }
        if conns.len() >= self.per_user_max {
            return Err(Refused::PerUser { open: conns.len(), max: self.per_user_max });
        }
        conns.push(conn_id);
        Ok(())
    }

    /// A logon from `ip` failed: how long to hold its reply.
    pub fn logon_failed(&self, ip: IpAddr) -> Duration {
        let ip = client_key(ip);
        let now = Instant::now();
        let mut f = self.failures.lock().expect("failures lock");
        if !f.contains_key(&ip) && f.len() >= FAILURE_IPS_MAX {
            f.retain(|_, x| now.duration_since(x.last) < FAILURE_MEMORY);
            if f.len() >= FAILURE_IPS_MAX {
                let oldest = f.iter().min_by_key(|(_, x)| x.last).map(|(ip, _)| *ip);
                if let Some(o) = oldest {
                    f.remove(&o);
                }
            }
        }
        let e = f.entry(ip).or_insert(Failures { consecutive: 0, last: now });
        if now.duration_since(e.last) >= FAILURE_MEMORY {
            e.consecutive = 0;
        }
        e.consecutive = e.consecutive.saturating_add(1);
        e.last = now;
        failure_delay(self.delay_min, self.delay_max, e.consecutive)
    }

    /// A logon from `ip` succeeded: its next failure starts again at the
    /// shortest delay.
    pub fn logon_succeeded(&self, ip: IpAddr) {
        self.failures.lock().expect("failures lock").remove(&client_key(ip));
    }
}

/// The address the per-IP limit and the backoff count by. An IPv6 client
/// is given a whole /64 and may send from any address in it, so its /64
/// is one client; an IPv4-mapped IPv6 address is its IPv4 address.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The delay after the `n`th consecutive failure (n ≥ 1): `min`, doubled
/// per failure, at most `max`.
pub fn failure_delay(min: Duration, max: Duration, n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(31);
    min.saturating_mul(1u32 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize, per_user: usize) -> Limits {
        Limits {
            connections_max: total,
            connections_per_ip_max: per_ip,
            connections_per_user_max: per_user,
            logon_failure_delay_ms_min: 500,
            logon_failure_delay_ms_max: 10_000,
            ..Limits::default()
        }
    }

    #[test]
    fn per_ip_and_total_limits_refuse_and_give_back() {
        let a = Admission::new(&limits(5, 2, 10));
        let (x, y): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t1 = a.admit(x, 1).unwrap();
        let _t2 = a.admit(x, 2).unwrap();
        assert_eq!(a.admit(x, 3).err(), Some(Refused::PerIp { open: 2, max: 2 }));
        // Another address is not held back by the first one's connections.
        let _t3 = a.admit(y, 4).unwrap();
        let _t4 = a.admit(y, 5).unwrap();
        let z: IpAddr = "10.0.0.3".parse().unwrap();
        let _t5 = a.admit(z, 6).unwrap();
        assert_eq!(a.admit(z, 7).err(), Some(Refused::Connections { open: 5, max: 5 }));
        drop(t1);
        a.admit(x, 8).expect("a slot was given back");
    }

    #[test]
    fn an_ipv6_64_is_one_client() {
        let a = Admission::new(&limits(10, 2, 10));
        let _t1 = a.admit("2001:db8:1:2::1".parse().unwrap(), 1).unwrap();
        let _t2 = a.admit("2001:db8:1:2:ffff::9".parse().unwrap(), 2).unwrap();
        assert!(a.admit("2001:db8:1:2:abcd::3".parse().unwrap(), 3).is_err(), "same /64");
        a.admit("2001:db8:1:3::1".parse().unwrap(), 4).expect("another /64");
        let _t5 = a.admit("10.0.0.1".parse().unwrap(), 5).unwrap();
        let _t6 = a.admit("::ffff:10.0.0.1".parse().unwrap(), 6).unwrap();
        assert!(a.admit("10.0.0.1".parse().unwrap(), 7).is_err(), "IPv4-mapped is the IPv4 address");
        assert_eq!(a.logon_failed("2001:db8::1".parse().unwrap()), Duration::from_millis(500));
        assert_eq!(a.logon_failed("2001:db8::2".parse().unwrap()), Duration::from_millis(1000));
    }

    #[test]
    fn per_user_limit_counts_connections_not_sessions() {
        let a = Admission::new(&limits(10, 10, 2));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t1 = a.admit(ip, 1).unwrap();
        let _t2 = a.admit(ip, 2).unwrap();
        let _t3 = a.admit(ip, 3).unwrap();
        a.admit_user("Alice", 1).unwrap();
        a.admit_user("alice", 1).expect("a second session on the same connection");
        a.admit_user("alice", 2).unwrap();
        assert_eq!(a.admit_user("ALICE", 3), Err(Refused::PerUser { open: 2, max: 2 }));
        a.admit_user("bob", 3).unwrap();
        drop(t1);
        a.admit_user("alice", 3).expect("connection 1 ended");
    }

    #[test]
    fn backoff_doubles_per_failure_is_capped_and_resets() {
        let ms = Duration::from_millis;
        assert_eq!(failure_delay(ms(500), ms(10_000), 1), ms(500));
        assert_eq!(failure_delay(ms(500), ms(10_000), 2), ms(1000));
        assert_eq!(failure_delay(ms(500), ms(10_000), 5), ms(8000));
        assert_eq!(failure_delay(ms(500), ms(10_000), 6), ms(10_000));
        assert_eq!(failure_delay(ms(500), ms(10_000), u32::MAX), ms(10_000));
        let a = Admission::new(&limits(10, 10, 10));
        let (x, y): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let seen: Vec<Duration> = (0..7).map(|_| a.logon_failed(x)).collect();
        assert_eq!(seen, [500, 1000, 2000, 4000, 8000, 10_000, 10_000].map(ms));
        assert_eq!(a.logon_failed(y), ms(500), "another client IP is not slowed");
        a.logon_succeeded(x);
        assert_eq!(a.logon_failed(x), ms(500), "a logon resets the count");
    }

    #[test]
    fn failure_table_is_bounded() {
        let a = Admission::new(&limits(10, 10, 10));
        for i in 0..FAILURE_IPS_MAX as u32 + 10 {
            a.logon_failed(IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(a.failures.lock().unwrap().len(), FAILURE_IPS_MAX);
    }
}
