//! Client of the file-server socket: what the SMB service, the handle
//! benchmark and the tests use. One connection carries many requests at
//! once; replies are matched by request id.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use holdfast_objfs::handles::HandleRecord;
use holdfast_types::ntstatus::NtStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use crate::proto::{FileInfo, OpenReq, Reply, Request, ShareInfo, FRAME_BODY_BYTES_MAX, REPLY_HEADER_BYTES};
use crate::server::Fail;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Status(Fail),
    #[error("file-server connection: {0}")]
    Io(String),
}

impl ClientError {
    pub fn status(&self) -> Option<NtStatus> {
        match self {
            ClientError::Status(f) => Some(f.status),
            ClientError::Io(_) => None,
        }
    }
}

type Pending = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Result<Reply, ClientError>>>>>>;

pub struct FsClient {
    /// Callers write their own frames: one task hop fewer than a writer
    /// task, which matters for a request that costs tens of microseconds.
    w: tokio::sync::Mutex<tokio::net::unix::OwnedWriteHalf>,
    pending: Pending,
    next_id: AtomicU64,
}

impl FsClient {
    pub async fn connect(path: &Path) -> Result<FsClient, ClientError> {
        let s = UnixStream::connect(path).await.map_err(|e| ClientError::Io(format!("connect {}: {e}", path.display())))?;
        let (mut r, w) = s.into_split();
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let p = pending.clone();
        tokio::spawn(async move {
            let why = read_replies(&mut r, &p).await;
            // Fail every caller still waiting, and any later call.
            if let Some(map) = p.lock().expect("pending lock").take() {
                for (_, tx) in map {
                    let _ = tx.send(Err(ClientError::Io(why.clone())));
                }
            }
        });
        Ok(FsClient { w: tokio::sync::Mutex::new(w), pending, next_id: AtomicU64::new(1) })
    }

    pub async fn call(&self, req: &Request) -> Result<Reply, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = req.encode_body();
        let mut b = BytesMut::with_capacity(14 + body.len());
        b.put_u32_le(body.len() as u32);
        b.put_u64_le(id);
        b.put_u16_le(req.op() as u16);
        b.put_slice(&body);
        let (otx, orx) = oneshot::channel();
        match self.pending.lock().expect("pending lock").as_mut() {
            Some(m) => {
                m.insert(id, otx);
            }
            None => return Err(ClientError::Io("connection closed".into())),
        }
        if let Err(e) = self.w.lock().await.write_all(&b).await {
            if let Some(m) = self.pending.lock().expect("pending lock").as_mut() {
                m.remove(&id);
            }
            return Err(ClientError::Io(format!("connection closed: {e}")));
        }
        orx.await.map_err(|_| ClientError::Io("connection closed".into()))?
    }

    pub async fn open(&self, o: OpenReq) -> Result<(u64, u32, FileInfo), ClientError> {
        self.open_granted(o).await.map(|(fid, action, info, _)| (fid, action, info))
    }

    /// `open`, with the access granted.
    pub async fn open_granted(&self, o: OpenReq) -> Result<(u64, u32, FileInfo, u32), ClientError> {
        match self.call(&Request::Open(o)).await? {
            Reply::Opened { fid, create_action, info, granted } => Ok((fid, create_action, info, granted)),
            r => Err(unexpected(r)),
        }
    }

    pub async fn close(&self, fid: u64) -> Result<(), ClientError> {
        self.call(&Request::Close { fid }).await.map(|_| ())
    }

    pub async fn read(&self, fid: u64, offset: u64, length: u32) -> Result<Bytes, ClientError> {
        match self.call(&Request::Read { fid, offset, length }).await? {
            Reply::Data(d) => Ok(d),
            r => Err(unexpected(r)),
        }
    }

    pub async fn write(&self, fid: u64, offset: u64, data: Bytes) -> Result<u32, ClientError> {
        match self.call(&Request::Write { fid, offset, data }).await? {
            Reply::Written { count } => Ok(count),
            r => Err(unexpected(r)),
        }
    }

    pub async fn shares(&self) -> Result<Vec<ShareInfo>, ClientError> {
        match self.call(&Request::Shares).await? {
            Reply::Shares(v) => Ok(v),
            r => Err(unexpected(r)),
        }
    }

    pub async fn handle_put(&self, share: &str, fid: u64, rec: &HandleRecord) -> Result<HandleRecord, ClientError> {
        let record = Bytes::from(rec.encode().map_err(|e| ClientError::Io(e.to_string()))?);
        record_of(self.call(&Request::HandlePut { share: share.into(), fid, record }).await?)
    }

    pub async fn handle_get(&self, share: &str, id: u64) -> Result<HandleRecord, ClientError> {
        record_of(self.call(&Request::HandleGet { share: share.into(), id }).await?)
    }

    pub async fn handle_find(&self, share: &str, client_guid: [u8; 16], create_guid: [u8; 16]) -> Result<HandleRecord, ClientError> {
        record_of(self.call(&Request::HandleFind { share: share.into(), client_guid, create_guid }).await?)
    }

    pub async fn handle_list(&self, share: &str) -> Result<Vec<HandleRecord>, ClientError> {
        match self.call(&Request::HandleList { share: share.into() }).await? {
            Reply::Records(v) => v.iter().map(|b| HandleRecord::decode(b).map_err(|e| ClientError::Io(e.to_string()))).collect(),
            r => Err(unexpected(r)),
        }
    }

    pub async fn handle_update(&self, share: &str, rec: &HandleRecord) -> Result<(), ClientError> {
        let record = Bytes::from(rec.encode().map_err(|e| ClientError::Io(e.to_string()))?);
        self.call(&Request::HandleUpdate { share: share.into(), record }).await.map(|_| ())
    }

    pub async fn handle_delete(&self, share: &str, id: u64) -> Result<(), ClientError> {
        self.call(&Request::HandleDelete { share: share.into(), id }).await.map(|_| ())
    }

    /// Deletes handle record `id`, then closes `fid`, in one round trip
    /// (`Request::HandleDeleteClose`). The result is the close's: a failed
    /// delete is logged by the file server.
    pub async fn handle_delete_close(&self, share: &str, id: u64, fid: u64) -> Result<(), ClientError> {
        self.call(&Request::HandleDeleteClose { share: share.into(), id, fid }).await.map(|_| ())
    }

    pub async fn reopen(&self, share: &str, id: u64) -> Result<(u64, FileInfo), ClientError> {
        match self.call(&Request::Reopen { share: share.into(), id }).await? {
            Reply::Opened { fid, info, .. } => Ok((fid, info)),
            r => Err(unexpected(r)),
        }
    }
}

fn record_of(r: Reply) -> Result<HandleRecord, ClientError> {
    match r {
        Reply::Record(b) => HandleRecord::decode(&b).map_err(|e| ClientError::Io(e.to_string())),
        r => Err(unexpected(r)),
    }
}

fn unexpected(r: Reply) -> ClientError {
    ClientError::Io(format!("unexpected reply {r:?}"))
}

async fn read_replies(r: &mut tokio::net::unix::OwnedReadHalf, pending: &Pending) -> String {
    let mut head = [0u8; REPLY_HEADER_BYTES];
    loop {
        if let Err(e) = r.read_exact(&mut head).await {
            return format!("closed: {e}");
        }
        let len = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes")) as usize;
        let id = u64::from_le_bytes(head[4..12].try_into().expect("8 bytes"));
        let status = NtStatus(u32::from_le_bytes(head[12..16].try_into().expect("4 bytes")));
        if len > FRAME_BODY_BYTES_MAX {
            return format!("reply body of {len} bytes is over {FRAME_BODY_BYTES_MAX}");
        }
        let mut body = vec![0u8; len];
        if let Err(e) = r.read_exact(&mut body).await {
            return format!("closed mid-reply: {e}");
        }
        let result = if status == NtStatus::SUCCESS {
            Reply::decode(&body).map_err(|e| ClientError::Io(e.to_string()))
        } else {
            Err(ClientError::Status(Fail::new(status, String::from_utf8_lossy(&body).into_owned())))
        };
        let tx = pending.lock().expect("pending lock").as_mut().and_then(|m| m.remove(&id));
        if let Some(tx) = tx {
            let _ = tx.send(result);
        }
    }
}
