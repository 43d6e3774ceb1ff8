//! The TCP connections this service has open, kept in a file the node
//! daemon reads (`SmbdConfig::conns_file`): the node tells the other hosts,
//! so that whichever takes the service over after a silent death can send
//! each client a tickle ACK (docs/services.md, "Tickle ACKs").

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The open connections, written out at every change.
pub struct ConnRegistry {
    path: Option<PathBuf>,
    open: Mutex<BTreeSet<(SocketAddr, SocketAddr)>>,
}

/// Removes its connection from the registry when dropped.
pub struct Registered {
    reg: Arc<ConnRegistry>,
    key: (SocketAddr, SocketAddr),
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut open = self.reg.open.lock().expect("conns lock");
        open.remove(&self.key);
        self.reg.write(&open);
    }
}

impl ConnRegistry {
    pub fn new(path: Option<PathBuf>) -> Arc<ConnRegistry> {
        let reg = Arc::new(ConnRegistry { path, open: Mutex::new(BTreeSet::new()) });
        // A file left by an earlier process of this service lists
        // connections that are gone.
        reg.write(&BTreeSet::new());
        reg
    }

    /// Records the connection from `client` to `local` until the guard drops.
    pub fn register(self: &Arc<Self>, client: SocketAddr, local: SocketAddr) -> Registered {
        let key = (client, local);
        let mut open = self.open.lock().expect("conns lock");
        open.insert(key);
        self.write(&open);
        Registered { reg: self.clone(), key }
    }

    /// One line per connection, `CLIENT_IP:PORT SERVICE_IP:PORT`; written to
    /// a temporary file and renamed, so a reader never sees half of it.
    fn write(&self, open: &BTreeSet<(SocketAddr, SocketAddr)>) {
        let Some(path) = &self.path else { return };
        let text: String = open.iter().map(|(c, l)| format!("{c} {l}\n")).collect();
        let tmp = path.with_extension("conns.tmp");
        if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the connection list");
        }
    }
}
