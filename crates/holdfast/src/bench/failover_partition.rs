//! The partition trials of `holdfast bench failover --silent`: the serving
//! host is cut off from the other hosts while its client still reaches it.
//! Per trial:
//! - a client holds a persistent handle, an RH lease and a lock on the
//!   host, and probes it back to back with ECHO (which smbd answers by
//!   itself) and READ (which the file server answers from the owner's copy
//!   under its lease); a second connection takes and drops a lock on a
//!   file of its own, back to back (a lock is replicated, so the first one
//!   after the cut waits until the connection dies);
//! - the host is partitioned; its lease ends, it fences itself, the
//!   service moves to a survivor;
//! - **answers after the lease**: probe answers the client received after
//!   the old host's lease ended (the end is taken from the host's
//!   `lease_lost` log line, which says how long ago it ended). A receipt
//!   time is later than the send time, so this over-counts, never under;
//! - **conflicting lock grants**: the client reclaims its handle on the
//!   survivor, and a second client's lock of the held range must be
//!   refused; a grant is a conflict;
//! - then `heal`, and the rig must be healthy again before the next trial.

use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use holdfast_smb_client::proto::msg::create::disposition;
use holdfast_smb_client::proto::msg::lock::{lock_flags, LockElement};
use holdfast_smb_client::OpenOptions;
use holdfast_smb_client::proto::FileId;
use holdfast_types::ntstatus::NtStatus;
use serde_json::{json, Value};

use super::failover_silent::Rig;
use super::stats::round1;
use crate::smb_story::{self, Target};

/// How long the client waits for the partitioned host to stop answering.
const FENCE_WAIT: Duration = Duration::from_secs(30);
/// How long the partitioned host's `lease_lost` line is waited for.
const LOG_WAIT: Duration = Duration::from_secs(10);
/// Pause between two probes.
const PROBE_PAUSE: Duration = Duration::from_millis(5);
/// The probe's own lock range, away from the held one.
const PROBE_LOCK_OFFSET: u64 = 1 << 20;

/// What one trial saw.
struct Seen {
    answers_after: u64,
    conflicts: u64,
    /// From the last answer to the end of the lease (negative: after it).
    last_answer_before_end_ms: f64,
}

/// Probes `s` until its connection fails (or `stop_by`); returns the
/// receipt time of every answer. `locks`: LOCK and UNLOCK, else ECHO and
/// READ.
async fn probe(s: &mut smb_story::Session, file: FileId, locks: bool, stop_by: Instant) -> Vec<SystemTime> {
    let mut answers = Vec::new();
    let lock = |flags| vec![LockElement { offset: PROBE_LOCK_OFFSET, length: 1, flags }];
    for i in 0u64.. {
        if Instant::now() >= stop_by {
            break;
        }
        let r = match (locks, i % 2) {
            (false, 0) => s.client.echo().await,
            (false, _) => s.client.read(&s.tree, file, 0, 1).await.map(drop),
            (true, 0) => s.client.lock(&s.tree, file, lock(lock_flags::EXCLUSIVE_LOCK | lock_flags::FAIL_IMMEDIATELY)).await,
            (true, _) => s.client.lock(&s.tree, file, lock(lock_flags::UNLOCK)).await,
        };
        match r {
            // An error status is an answer too.
            Ok(()) => answers.push(SystemTime::now()),
            Err(e) if e.status().is_some() => answers.push(SystemTime::now()),
            Err(_) => break,
        }
        tokio::time::sleep(PROBE_PAUSE).await;
    }
    answers
}

/// Unix time of a log line's leading `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn log_time(line: &str) -> Option<SystemTime> {
    let ts = line.get(..27)?;
    let num = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, us) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..26)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?) + Duration::from_micros(us as u64))
}

/// When host `n`'s lease ended, from its first `lease_lost` line after
/// `after`. The line comes once the renewal under way gives up, which may
/// be after the fencing: it is waited for.
fn lease_end(rig: &Rig, n: u64, after: SystemTime) -> anyhow::Result<SystemTime> {
    let deadline = Instant::now() + LOG_WAIT;
    loop {
        let log = std::fs::read_to_string(rig.node_log(n)).context("read the partitioned host's log")?;
        let end = log
            .lines()
            .filter(|l| l.contains("event=\"lease_lost\""))
            .filter_map(|l| {
                let at = log_time(l)?;
                let over: u64 = l.split("over_ms=").nth(1)?.split_whitespace().next()?.parse().ok()?;
                Some(at - Duration::from_millis(over))
            })
            .find(|end| *end >= after);
        match end {
            Some(end) => return Ok(end),
            None if Instant::now() >= deadline => anyhow::bail!("host {n} logged no lease_lost within {} s of the partition", LOG_WAIT.as_secs()),
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

async fn trial(rig: &Rig, t: &Target, n: usize) -> anyhow::Result<Seen> {
    let victim = rig.ready()?;
    let name = format!("bench-partition-{}-{n}.dat", std::process::id());
    let (mut s, h) = smb_story::open_and_hold(t, &name, &[0x5a; 4096]).await?;
    let mut s2 = smb_story::logon(t, rand::random(), 0).await.context("the lock prober's logon")?;
    let o = OpenOptions::new(&format!("{name}.locks")).disposition(disposition::OVERWRITE_IF);
    let locked = s2.client.create(&s2.tree, &o).await.context("the lock prober's open")?;
    let cut = SystemTime::now();
    rig.ok(&["partition", &victim.to_string()])?;
    let stop_by = Instant::now() + FENCE_WAIT;
    let (mut answers, locks) = tokio::join!(probe(&mut s, h.file_id, false, stop_by), probe(&mut s2, locked.file_id, true, stop_by));
    answers.extend(locks);
    answers.sort();
    drop((s, s2));
    let end = lease_end(rig, victim, cut)?;
    let answers_after = answers.iter().filter(|a| **a > end).count() as u64;
    let last = answers.last().copied().unwrap_or(cut);
    let last_answer_before_end_ms = match end.duration_since(last) {
        Ok(d) => d.as_secs_f64() * 1e3,
        Err(e) => -e.duration().as_secs_f64() * 1e3,
    };
    let (mut s, open, _) = smb_story::reclaim(t, &h, Instant::now() + smb_story::SERVICE_WAIT).await?;
    let st = smb_story::conflicting_lock(t, &name).await?;
    let conflicts = u64::from(!matches!(st, NtStatus::LOCK_NOT_GRANTED | NtStatus::FILE_LOCK_CONFLICT));
    let _ = s.client.close(&s.tree, open.file_id).await;
    rig.ok(&["heal"])?;
    Ok(Seen { answers_after, conflicts, last_answer_before_end_ms })
}

/// `n` partition trials on `rig`, from the client's thread.
pub(super) fn trials(rig: &Rig, rt: &tokio::runtime::Runtime, t: &Target, n: usize, verbose: bool) -> anyhow::Result<Value> {
    let (mut after, mut conflicts, mut margin) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let s = rt.block_on(trial(rig, t, i))?;
        if verbose {
            eprintln!(
                "  partition {:>3}: {} answers after the lease ended (last one {:.1} ms before its end), {} conflicting lock grants",
                i + 1,
                s.answers_after,
                s.last_answer_before_end_ms,
                s.conflicts
            );
        }
        after.push(s.answers_after);
        conflicts.push(s.conflicts);
        margin.push(round1(s.last_answer_before_end_ms));
    }
    rig.ready()?;
    Ok(json!({
        "trials": n,
        "answers_after_lease_end": after,
        "conflicting_lock_grants": conflicts,
        "last_answer_before_lease_end_ms": margin,
    }))
}
