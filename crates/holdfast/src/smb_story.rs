//! The client side of a failover, with the Rust SMB client: a persistent
//! handle with a lease and a byte-range lock is taken, the serving host is
//! killed (by the caller), and the handle is reclaimed on the survivor
//! that now serves the same address, where its lock still holds and a
//! blocking lock of another client waits for it. Shared by `holdfast demo failover`
//! and `holdfast bench failover`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use holdfast_smb_client::{unc, ClientConfig, ClientError, Credentials, Durable, OpenOptions, SmbClient, Tree};
use holdfast_smb_client::proto::msg::create::disposition;
use holdfast_smb_client::proto::msg::create_ctx::{Lease, LeaseV2};
use holdfast_smb_client::proto::msg::lock::{lock_flags, LockElement};
use holdfast_smb_client::proto::{FileId, Guid};
use holdfast_types::ntstatus::NtStatus;

/// Lease state asked and expected back: read and handle caching (a write
/// cache would make the second client's compatible open wait for a break).
pub const LEASE_RH: u32 = 0x1 | 0x2;
/// The byte range the holder locks.
pub const LOCK_OFFSET: u64 = 0;
pub const LOCK_LEN: u64 = 4096;
/// How long a step waits for the service to come back.
pub const SERVICE_WAIT: Duration = Duration::from_secs(30);
/// Pause between attempts while the service is down.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Where the service is and who logs on.
#[derive(Clone)]
pub struct Target {
    /// `ip:port` of the service.
    pub addr: String,
    pub share: String,
    pub creds: Credentials,
}

/// What a client needs to come back for its handle.
#[derive(Debug, Clone)]
pub struct HandleRef {
    pub name: String,
    pub client_guid: Guid,
    pub create_guid: Guid,
    pub session_id: u64,
    pub file_id: FileId,
    pub lease_key: [u8; 16],
}

/// A logged-on client with its tree.
pub struct Session {
    pub client: SmbClient,
    pub tree: Tree,
}

pub async fn logon(t: &Target, client_guid: Guid, previous_session_id: u64) -> Result<Session, ClientError> {
    let cfg = ClientConfig { client_guid, reply_timeout: Duration::from_secs(10), ..Default::default() };
    let mut client = SmbClient::connect(&t.addr, cfg).await?;
    client.session_setup(&t.creds, previous_session_id).await?;
    let host = t.addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(&t.addr).to_string();
    let tree = client.tree_connect(&unc(&host, &t.share)).await?;
    Ok(Session { client, tree })
}

fn lease(key: [u8; 16]) -> Lease {
    Lease { key, state: LEASE_RH, flags: 0, duration: 0, v2: Some(LeaseV2 { parent_key: [0; 16], epoch: 0 }) }
}

/// The granted lease state of a CREATE response, if any.
pub fn lease_state(o: &holdfast_smb_client::Open) -> Option<u32> {
    o.response.contexts.iter().find_map(|c| match c {
        holdfast_smb_client::proto::msg::create_ctx::CreateResponseContext::Lease(l) => Some(l.state),
        _ => None,
    })
}

/// Opens `name` with a persistent handle (DH2Q, PERSISTENT) and an RH
/// lease, writes `data` at 0 and locks [`LOCK_OFFSET`, +`LOCK_LEN`)
/// exclusively. Fails unless persistence and the lease were granted.
pub async fn open_and_hold(t: &Target, name: &str, data: &[u8]) -> anyhow::Result<(Session, HandleRef)> {
    let client_guid: Guid = rand::random();
    let mut s = logon(t, client_guid, 0).await.with_context(|| format!("log on to {}", t.addr))?;
    let create_guid: Guid = rand::random();
    let lease_key: [u8; 16] = rand::random();
    let o = OpenOptions::new(name)
        .durable(Durable::V2 { create_guid, timeout_ms: 0, persistent: true })
        .lease(lease(lease_key))
        .disposition(disposition::OVERWRITE_IF);
    let open = s.client.create(&s.tree, &o).await.context("CREATE with DH2Q")?;
    match open.durable_v2() {
        Some((flags, _)) if flags & holdfast_smb_client::proto::msg::create_ctx::DHANDLE_FLAG_PERSISTENT != 0 => {}
        other => bail!("the share did not grant a persistent handle (DH2Q answer {other:?}); is it continuously available?"),
    }
    if lease_state(&open) != Some(LEASE_RH) {
        bail!("lease RH not granted (got {:?})", lease_state(&open));
    }
    for (i, chunk) in data.chunks(64 * 1024).enumerate() {
        s.client.write(&s.tree, open.file_id, (i * 64 * 1024) as u64, chunk).await.context("WRITE")?;
    }
    let lock = LockElement { offset: LOCK_OFFSET, length: LOCK_LEN, flags: lock_flags::EXCLUSIVE_LOCK | lock_flags::FAIL_IMMEDIATELY };
    s.client.lock(&s.tree, open.file_id, vec![lock]).await.context("LOCK")?;
    let h = HandleRef {
        name: name.to_string(),
        client_guid,
        create_guid,
        session_id: s.client.session_id(),
        file_id: open.file_id,
        lease_key,
    };
    Ok((s, h))
}

/// Whether an error means "the service is not (yet) there": connection
/// refused or reset, or no answer.
fn service_down(e: &ClientError) -> bool {
    e.is_disconnect() || matches!(e, ClientError::Timeout { .. }) || e.status().is_none()
}

/// Another client's open of `name` that conflicts with the held handle
/// (no sharing): its status once the service answers.
pub async fn conflicting_open(t: &Target, name: &str, deadline: Instant) -> anyhow::Result<NtStatus> {
    loop {
        let r = async {
            let mut s = logon(t, rand::random(), 0).await?;
            let mut o = OpenOptions::new(name).disposition(disposition::OPEN);
            o.share_access = 0;
            let r = s.client.create(&s.tree, &o).await;
            if let Ok(open) = &r {
                let _ = s.client.close(&s.tree, open.file_id).await;
            }
            r.map(|_| NtStatus::SUCCESS)
        }
        .await;
        match r {
            Ok(st) => return Ok(st),
            Err(e) if e.status().is_some() && !e.is_disconnect() => return Ok(e.status().unwrap()),
            Err(e) if service_down(&e) && Instant::now() < deadline => tokio::time::sleep(RETRY_PAUSE).await,
            Err(e) => return Err(anyhow::Error::new(e).context("conflicting open")),
        }
    }
}

/// Reconnects with the handle's ClientGuid and PreviousSessionId and
/// reclaims it with DH2C (naming its lease), retrying while the service is
/// down. Returns the new session, the open, and when it succeeded.
pub async fn reclaim(t: &Target, h: &HandleRef, deadline: Instant) -> anyhow::Result<(Session, holdfast_smb_client::Open, Instant)> {
    loop {
        let r = async {
            let mut s = logon(t, h.client_guid, h.session_id).await?;
            let o = OpenOptions::new(&h.name)
                .durable(Durable::ReconnectV2 { file_id: h.file_id, create_guid: h.create_guid, persistent: true })
                .lease(lease(h.lease_key))
                .disposition(disposition::OPEN);
            let open = s.client.create(&s.tree, &o).await?;
            Ok::<_, ClientError>((s, open))
        }
        .await;
        match r {
            Ok((s, open)) => return Ok((s, open, Instant::now())),
            // The share is not mounted yet on the survivor, or the handle
            // not yet taken over: the service answers, but not yet for it.
            Err(e) if matches!(e.status(), Some(NtStatus::BAD_NETWORK_NAME) | Some(NtStatus::DEVICE_NOT_READY)) && Instant::now() < deadline => {
                tokio::time::sleep(RETRY_PAUSE).await
            }
            Err(e) if service_down(&e) && Instant::now() < deadline => tokio::time::sleep(RETRY_PAUSE).await,
            Err(e) => return Err(anyhow::Error::new(e).context("DH2C reclaim")),
        }
    }
}

/// Another client locks the held range: its status (LOCK_NOT_GRANTED
/// while the lock is held).
pub async fn conflicting_lock(t: &Target, name: &str) -> anyhow::Result<NtStatus> {
    let mut s = logon(t, rand::random(), 0).await.context("second client logon")?;
    let o = OpenOptions::new(name).disposition(disposition::OPEN);
    let open = s.client.create(&s.tree, &o).await.context("second client's open")?;
    let lock = LockElement { offset: LOCK_OFFSET, length: LOCK_LEN, flags: lock_flags::EXCLUSIVE_LOCK | lock_flags::FAIL_IMMEDIATELY };
    let st = match s.client.lock(&s.tree, open.file_id, vec![lock]).await {
        Ok(()) => NtStatus::SUCCESS,
        Err(e) => e.status().ok_or(e).context("second client's lock")?,
    };
    let _ = s.client.close(&s.tree, open.file_id).await;
    Ok(st)
}

/// Client B opens `name` and asks for a blocking LOCK (no
/// FAIL_IMMEDIATELY) of the range client A's handle `a_file` holds; A
/// unlocks it a little later. Whether B's lock was granted, and only once A
/// had sent the unlock (it must wait, not fail nor pass early).
pub async fn blocking_lock_waits_for_unlock(t: &Target, a: &mut Session, a_file: FileId, name: &str) -> anyhow::Result<bool> {
    let mut b = logon(t, rand::random(), 0).await.context("second client logon")?;
    let open = b.client.create(&b.tree, &OpenOptions::new(name).disposition(disposition::OPEN)).await.context("second client's open")?;
    let range = |flags| LockElement { offset: LOCK_OFFSET, length: LOCK_LEN, flags };
    let (granted, unlock_sent) = tokio::join!(
        async { b.client.lock(&b.tree, open.file_id, vec![range(lock_flags::EXCLUSIVE_LOCK)]).await.map(|()| Instant::now()) },
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let sent = Instant::now();
            a.client.lock(&a.tree, a_file, vec![range(lock_flags::UNLOCK)]).await.map(|()| sent)
        }
    );
    let granted = granted.context("second client's blocking lock")?;
    let unlock_sent = unlock_sent.context("UNLOCK of the reclaimed handle")?;
    b.client.close(&b.tree, open.file_id).await.context("second client's close")?;
    Ok(granted >= unlock_sent)
}

/// The alternate data stream the story writes beside the held file's data
/// (as a browser adds `:Zone.Identifier` to every download).
pub const STREAM: &str = ":holdfast.demo";

/// Writes each of `versions` in turn over the stream `name` + [`STREAM`]
/// through its own open, closing it after: what must survive is the last.
pub async fn write_stream(s: &mut Session, name: &str, versions: &[&[u8]]) -> anyhow::Result<()> {
    let path = format!("{name}{STREAM}");
    for v in versions {
        let open = s.client.create(&s.tree, &OpenOptions::new(&path).disposition(disposition::OVERWRITE_IF)).await.with_context(|| format!("CREATE of stream {path}"))?;
        s.client.write(&s.tree, open.file_id, 0, v).await.context("WRITE to the stream")?;
        s.client.close(&s.tree, open.file_id).await.context("CLOSE of the stream")?;
    }
    Ok(())
}

/// The stream `name` + [`STREAM`], in one READ of up to `len` bytes.
pub async fn read_stream(s: &mut Session, name: &str, len: u32) -> anyhow::Result<Vec<u8>> {
    let path = format!("{name}{STREAM}");
    let open = s.client.create(&s.tree, &OpenOptions::new(&path).disposition(disposition::OPEN)).await.with_context(|| format!("CREATE of stream {path}"))?;
    let data = s.client.read(&s.tree, open.file_id, 0, len).await.context("READ of the stream");
    s.client.close(&s.tree, open.file_id).await.context("CLOSE of the stream")?;
    data
}

/// Reads `len` bytes at 0 in chunks.
pub async fn read_all(s: &mut Session, file_id: FileId, len: usize) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let n = (len - out.len()).min(64 * 1024) as u32;
        let chunk = s.client.read(&s.tree, file_id, out.len() as u64, n).await.context("READ")?;
        if chunk.is_empty() {
            break;
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
