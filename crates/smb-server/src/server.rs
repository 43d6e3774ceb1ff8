//! What every connection shares: the config, the server GUID, and the
//! connection to the host's file server (re-established after it breaks).

use std::sync::Arc;

use holdfast_file_server::{ClientError, FsClient};
use holdfast_smb_proto::Guid;
use holdfast_smb_security::NtlmServerConfig;
use holdfast_types::ntstatus::NtStatus;
use tokio::sync::Mutex;

use crate::config::SmbdConfig;
use crate::time::now_filetime;

pub struct Server {
    pub cfg: SmbdConfig,
    pub guid: Guid,
    pub start_time: u64,
    pub ntlm: Arc<NtlmServerConfig>,
    fs: Mutex<Option<Arc<FsClient>>>,
}

impl Server {
    pub fn new(cfg: SmbdConfig) -> Server {
        let guid: Guid = rand::random();
        let ntlm = Arc::new(NtlmServerConfig::standalone(&cfg.server_name));
        Server { cfg, guid, start_time: now_filetime(), ntlm, fs: Mutex::new(None) }
    }

    /// The file-server connection, connecting (again) if there is none.
    pub async fn fs(&self) -> Result<Arc<FsClient>, NtStatus> {
        let mut g = self.fs.lock().await;
        if let Some(c) = g.as_ref() {
            return Ok(c.clone());
        }
        match FsClient::connect(&self.cfg.fs_socket).await {
            Ok(c) => {
                let c = Arc::new(c);
                *g = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                tracing::warn!("file server: {e}");
                Err(NtStatus::DEVICE_NOT_READY)
            }
        }
    }

    /// Maps a file-server error to the status for the client; a broken
    /// connection is dropped so the next call reconnects.
    pub async fn fs_error(&self, e: ClientError) -> NtStatus {
        match e.status() {
            Some(s) => s,
            None => {
                tracing::warn!("file server: {e}");
                *self.fs.lock().await = None;
                NtStatus::UNEXPECTED_IO_ERROR
            }
        }
    }
}
