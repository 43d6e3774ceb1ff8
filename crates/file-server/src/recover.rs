//! A volume whose metadata write failed remounts by itself (issue 15).
//!
//! objfs stops taking changes after a failed journal, checkpoint or
//! superblock write: its in-memory state may then be ahead of the device
//! for good. The cause is often transient (a replicated write that could
//! not commit a missing copy ABSENT during a directory leader election),
//! but nothing remounted the volume, so it stayed read-only until an
//! operator or an ownership change did. Now, while it is failed, the
//! volume serves nothing (reads included: `FileServer::check_gate`
//! answers DEVICE_NOT_READY naming the cause), and [`FileServer::remount_failed`]
//! mounts it again from its own devices, replaying the journal, with
//! exponential backoff between attempts.
//!
//! A remount is a takeover on the same host: opens of the failed mount
//! end; persistent and durable handles come back from the handle table as
//! disconnected opens that their clients reclaim.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::park::TableExpect;
use crate::server::FileServer;
use crate::volume::Volume;

/// Wait before the first remount attempt, doubled after each failed one
/// up to `REMOUNT_BACKOFF_MS_MAX`.
pub const REMOUNT_BACKOFF_MS_MIN: u64 = 100;
pub const REMOUNT_BACKOFF_MS_MAX: u64 = 10_000;
/// How often [`FileServer::spawn_recovery`] looks for failed volumes.
pub const RECOVERY_TICK_MS: u64 = 50;

fn backoff(attempts: u32) -> Duration {
    let ms = REMOUNT_BACKOFF_MS_MIN.saturating_mul(1u64 << attempts.min(16));
    Duration::from_millis(ms.min(REMOUNT_BACKOFF_MS_MAX))
}

impl FileServer {
    /// Remounts every mounted volume whose metadata write failed and whose
    /// backoff has run out. Returns the names of those remounted.
    pub async fn remount_failed(&self) -> Vec<String> {
        let mut done = Vec::new();
        for vol in self.mounted_volumes() {
            let Some(why) = vol.fs.failure() else { continue };
            let name = vol.def.name.clone();
            let now = Instant::now();
            let attempts = {
                let mut r = self.remounts.lock().expect("remounts lock");
                let e = r.entry(name.clone()).or_insert_with(|| (0, now + backoff(0)));
                if now < e.1 {
                    continue;
                }
                e.0
            };
            tracing::warn!(volume = %name, attempt = attempts + 1, cause = %why, "remounting the volume after a failed metadata write");
            let data = vol.fs.device().clone();
            let handles = vol.handles.device().clone();
            // The same table, as it is: this host still owns it.
            let table = TableExpect { incarnation: vol.handles.incarnation(), restore_from: None };
            let r = Volume::mount(&vol.def, self.shares_cfg(), data, handles, table, self.detect_delay_ms(), || self.new_fid()).await;
            match r {
                Ok((new, _)) => {
                    self.remounts.lock().expect("remounts lock").remove(&name);
                    if self.replace_mounted(&vol, new) {
                        tracing::warn!(volume = %name, "volume remounted; it serves again");
                        done.push(name);
                    }
                }
                Err(e) => {
                    let wait = backoff(attempts + 1);
                    tracing::error!(volume = %name, error = %e, retry_in_ms = wait.as_millis() as u64, "remount failed; will retry");
                    self.remounts.lock().expect("remounts lock").insert(name, (attempts + 1, Instant::now() + wait));
                }
            }
        }
        done
    }

    /// Runs [`FileServer::remount_failed`] every `RECOVERY_TICK_MS` for as
    /// long as the server exists.
    pub fn spawn_recovery(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me: Weak<FileServer> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(RECOVERY_TICK_MS));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(fs) = me.upgrade() else { return };
                fs.remount_failed().await;
            }
        })
    }
}

#[cfg(test)]
#[path = "recover_tests.rs"]
mod tests;
