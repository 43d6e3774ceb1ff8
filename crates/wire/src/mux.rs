//! One multiplexed connection: many requests outstanding in both
//! directions, matched to responses by `request_id`.
//!
//! A reader task decodes frames and either completes a waiting request or
//! hands a request to the [`RequestHandler`] in arrival order. A writer task
//! drains an outgoing queue and coalesces small frames into one socket
//! write. Queues are bounded: a requester holds one of
//! [`CONN_INFLIGHT_MAX`] permits per outstanding request, and a peer that
//! sends more unanswered requests than that is disconnected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use holdfast_types::limits::{CONN_INFLIGHT_MAX, FRAME_BODY_BYTES_MAX, FRAME_HEADER_BYTES};
use holdfast_types::{ErrorCode, HoldfastError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;

use crate::auth::PeerIdentity;
use crate::frame::{FrameHeader, FrameKind, HeaderError, FLAG_RESPONSE};
use crate::msg::{decode_error, encode_error};

/// Bytes the writer gathers before one socket write.
const WRITE_BATCH_BYTES_MAX: usize = 256 * 1024;
/// Chunks at least this large are written straight from their buffer.
const WRITE_DIRECT_BYTES_MIN: usize = 16 * 1024;
const READ_BUFFER_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Frame {
    pub header: FrameHeader,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadFrameError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Header(#[from] HeaderError),
}

/// Reads one frame, checking the header (version, size cap) before the body
/// buffer is allocated.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, body_bytes_max: usize) -> Result<Frame, ReadFrameError> {
    let mut hb = [0u8; FRAME_HEADER_BYTES];
    r.read_exact(&mut hb).await?;
    let header = FrameHeader::decode(&hb, body_bytes_max)?;
    let mut body = BytesMut::zeroed(header.body_bytes as usize);
    r.read_exact(&mut body).await?;
    Ok(Frame { header, body: body.freeze() })
}

/// Writes one frame whose body is the concatenation of `chunks`.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: FrameKind,
    flags: u16,
    request_id: u64,
    chunks: &[&[u8]],
) -> std::io::Result<()> {
    let len: usize = chunks.iter().map(|c| c.len()).sum();
    let mut buf = Vec::with_capacity(FRAME_HEADER_BYTES + len);
    buf.extend_from_slice(&FrameHeader::new(kind, flags, request_id, len).encode());
    for c in chunks {
        buf.extend_from_slice(c);
    }
    w.write_all(&buf).await?;
    w.flush().await
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnError {
    #[error("connection to {0} is closed")]
    Closed(String),
    #[error("no reply from {peer} within {ms} ms")]
    Timeout { peer: String, ms: u64 },
    #[error("{0}")]
    Remote(HoldfastError),
    #[error("unexpected reply kind {kind:#04x} from {peer}")]
    UnexpectedReply { peer: String, kind: u8 },
}

impl ConnError {
    /// The error as a wire error, for passing on to our own caller.
    pub fn to_holdfast(&self) -> HoldfastError {
        match self {
            ConnError::Remote(e) => e.clone(),
            ConnError::Timeout { .. } => HoldfastError::new(ErrorCode::Timeout, self.to_string()),
            _ => HoldfastError::new(ErrorCode::Internal, self.to_string()),
        }
    }
}

/// Handles request frames that arrive on a connection.
pub trait RequestHandler: Send + Sync + 'static {
    /// Called on the reader task, in arrival order, for every request frame.
    /// It must not block: long work is spawned, and the answer goes out with
    /// [`Conn::respond`]. Order-sensitive work (replicated writes) is done
    /// before returning so that arrival order is apply order.
    fn on_request(&self, conn: &Arc<Conn>, frame: Frame);
    /// Called once when the connection closes.
    fn on_close(&self, _conn: &Arc<Conn>) {}
}

enum Outgoing {
    Frame(Vec<Bytes>),
    /// Flush what is queued, then close, logging the reason.
    Close(String),
}

type Waiter = oneshot::Sender<Result<Frame, ConnError>>;

pub struct Conn {
    pub peer: PeerIdentity,
    /// Human-readable name of the peer for logs and errors.
    pub label: String,
    out: mpsc::UnboundedSender<Outgoing>,
    pending: Mutex<HashMap<u64, Waiter>>,
    next_id: AtomicU64,
    inflight: Arc<Semaphore>,
    /// Requests from the peer that we have not answered yet.
    serving: AtomicUsize,
    closed: AtomicBool,
    tasks: Mutex<Vec<AbortHandle>>,
    handler: Mutex<Option<Arc<dyn RequestHandler>>>,
}

/// A request that has been queued; await its reply with [`PendingReply::wait`].
pub struct PendingReply {
    conn: Arc<Conn>,
    id: u64,
    rx: oneshot::Receiver<Result<Frame, ConnError>>,
    _permit: OwnedSemaphorePermit,
}

impl PendingReply {
    pub async fn wait(self, timeout: Duration) -> Result<Frame, ConnError> {
        let r = match tokio::time::timeout(timeout, self.rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(ConnError::Closed(self.conn.label.clone())),
            Err(_) => {
                self.conn.pending.lock().expect("pending lock").remove(&self.id);
                Err(ConnError::Timeout { peer: self.conn.label.clone(), ms: timeout.as_millis() as u64 })
            }
        };
        let f = r?;
        if f.header.kind == FrameKind::Error as u8 {
            let e = decode_error(&f.body).unwrap_or_else(|e| HoldfastError::new(ErrorCode::BadFrame, e.to_string()));
            return Err(ConnError::Remote(e));
        }
        Ok(f)
    }
}

impl Conn {
    /// Starts the reader and writer tasks on an authenticated stream.
    pub fn spawn<R, W>(reader: R, writer: W, peer: PeerIdentity, label: String, handler: Arc<dyn RequestHandler>) -> Arc<Conn>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = Arc::new(Conn {
            peer,
            label,
            out: tx,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            inflight: Arc::new(Semaphore::new(CONN_INFLIGHT_MAX)),
            serving: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            handler: Mutex::new(Some(handler.clone())),
        });
        let w = tokio::spawn(writer_task(conn.clone(), writer, rx));
        let r = tokio::spawn(reader_task(conn.clone(), BufReader::with_capacity(READ_BUFFER_BYTES, reader), handler));
        conn.tasks.lock().expect("tasks lock").extend([w.abort_handle(), r.abort_handle()]);
        conn
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Waits for a free request slot (backpressure).
    pub async fn reserve(&self) -> Result<OwnedSemaphorePermit, ConnError> {
        if self.is_closed() {
            return Err(ConnError::Closed(self.label.clone()));
        }
        self.inflight.clone().acquire_owned().await.map_err(|_| ConnError::Closed(self.label.clone()))
    }

    /// Queues a request now; the reply is awaited separately. Requests queued
    /// one after another reach the peer in that order.
    pub fn send_request(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        kind: FrameKind,
        chunks: Vec<Bytes>,
    ) -> Result<PendingReply, ConnError> {
        if self.is_closed() {
            return Err(ConnError::Closed(self.label.clone()));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(id, tx);
        self.push_frame(kind, 0, id, chunks);
        Ok(PendingReply { conn: self.clone(), id, rx, _permit: permit })
    }

    /// Reserves, sends and waits for one request.
    pub async fn call(self: &Arc<Self>, kind: FrameKind, chunks: Vec<Bytes>, timeout: Duration) -> Result<Frame, ConnError> {
        let permit = tokio::time::timeout(timeout, self.reserve())
            .await
            .map_err(|_| ConnError::Timeout { peer: self.label.clone(), ms: timeout.as_millis() as u64 })??;
        self.send_request(permit, kind, chunks)?.wait(timeout).await
    }

    pub fn respond(&self, request_id: u64, kind: FrameKind, chunks: Vec<Bytes>) {
        self.serving.fetch_sub(1, Ordering::AcqRel);
        self.push_frame(kind, FLAG_RESPONSE, request_id, chunks);
    }

    pub fn respond_error(&self, request_id: u64, e: &HoldfastError) {
        self.respond(request_id, FrameKind::Error, vec![encode_error(e)]);
    }

    /// Sends an error frame, then closes once it is flushed.
    pub fn fail(&self, request_id: u64, e: &HoldfastError) {
        tracing::warn!(peer = %self.label, error = %e, "closing connection");
        self.push_frame(FrameKind::Error, FLAG_RESPONSE, request_id, vec![encode_error(e)]);
        let _ = self.out.send(Outgoing::Close(e.to_string()));
    }

    fn push_frame(&self, kind: FrameKind, flags: u16, request_id: u64, mut chunks: Vec<Bytes>) {
        let len: usize = chunks.iter().map(|c| c.len()).sum();
        debug_assert!(len <= FRAME_BODY_BYTES_MAX, "frame body {len} over the cap");
        let header = Bytes::copy_from_slice(&FrameHeader::new(kind, flags, request_id, len).encode());
        chunks.insert(0, header);
        // A send error means the writer is gone; the reader will notice too.
        let _ = self.out.send(Outgoing::Frame(chunks));
    }

    /// Closes now: fails every waiting request and stops both tasks.
    pub fn close(self: &Arc<Self>, reason: &str) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::debug!(peer = %self.label, reason, "connection closed");
        let waiters: Vec<Waiter> = self.pending.lock().expect("pending lock").drain().map(|(_, w)| w).collect();
        for w in waiters {
            let _ = w.send(Err(ConnError::Closed(self.label.clone())));
        }
        self.inflight.close();
        let handler = self.handler.lock().expect("handler lock").take();
        if let Some(h) = handler {
            h.on_close(self);
        }
        for t in self.tasks.lock().expect("tasks lock").drain(..) {
            t.abort();
        }
    }
}

async fn writer_task<W: AsyncWrite + Unpin>(conn: Arc<Conn>, mut w: W, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_BATCH_BYTES_MAX);
    let reason = 'outer: loop {
        let Some(first) = rx.recv().await else { break "queue closed".to_string() };
        let mut next = Some(first);
        let mut close_reason = None;
        while let Some(item) = next.take() {
            match item {
                Outgoing::Close(r) => {
                    close_reason = Some(r);
                    break;
                }
                Outgoing::Frame(chunks) => {
                    for c in chunks {
                        if c.len() >= WRITE_DIRECT_BYTES_MIN {
                            if !buf.is_empty() {
                                if let Err(e) = w.write_all(&buf).await {
                                    break 'outer e.to_string();
                                }
                                buf.clear();
                            }
                            if let Err(e) = w.write_all(&c).await {
                                break 'outer e.to_string();
                            }
                        } else {
                            buf.extend_from_slice(&c);
                        }
                    }
                }
            }
            if buf.len() < WRITE_BATCH_BYTES_MAX {
                next = rx.try_recv().ok();
            }
        }
        if !buf.is_empty() {
            if let Err(e) = w.write_all(&buf).await {
                break e.to_string();
            }
            buf.clear();
        }
        if let Err(e) = w.flush().await {
            break e.to_string();
        }
        if let Some(r) = close_reason {
            let _ = w.shutdown().await;
            break r;
        }
    };
    conn.close(&reason);
}

async fn reader_task<R: AsyncRead + Unpin>(conn: Arc<Conn>, mut r: BufReader<R>, handler: Arc<dyn RequestHandler>) {
    loop {
        let frame = match read_frame(&mut r, FRAME_BODY_BYTES_MAX).await {
            Ok(f) => f,
            Err(ReadFrameError::Io(e)) => {
                if e.kind() != std::io::ErrorKind::UnexpectedEof {
                    tracing::debug!(peer = %conn.label, error = %e, "read failed");
                }
                break;
            }
            Err(ReadFrameError::Header(e)) => {
                let code = match e {
                    HeaderError::BadVersion(_) => ErrorCode::BadVersion,
                    HeaderError::Oversized { .. } => ErrorCode::BadFrame,
                };
                conn.fail(0, &HoldfastError::new(code, e.to_string()));
                // Wait for the writer to flush the error and close.
                std::future::pending::<()>().await;
                return;
            }
        };
        if frame.header.is_response() {
            let waiter = conn.pending.lock().expect("pending lock").remove(&frame.header.request_id);
            // A missing waiter is a reply that arrived after its timeout.
            if let Some(w) = waiter {
                let _ = w.send(Ok(frame));
            }
            continue;
        }
        let serving = conn.serving.fetch_add(1, Ordering::AcqRel) + 1;
        if serving > CONN_INFLIGHT_MAX {
            conn.fail(
                frame.header.request_id,
                &HoldfastError::new(ErrorCode::BadFrame, format!("more than {CONN_INFLIGHT_MAX} requests outstanding")),
            );
            std::future::pending::<()>().await;
            return;
        }
        handler.on_request(&conn, frame);
    }
    conn.close("peer closed");
}
