//! Message bodies. Fixed fields are little-endian; a trailing `data` field
//! runs to the end of the body. Decoders check lengths before reading and
//! return [`DecodeError`] instead of panicking on short or trailing bytes.

use bytes::{BufMut, Bytes, BytesMut};
use holdfast_types::{Epoch, ErrorCode, HoldfastError, LogIndex, NodeId, ObjectId, Seq};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct DecodeError {
    pub what: &'static str,
    pub reason: String,
}

fn short(what: &'static str, need: usize, got: usize) -> DecodeError {
    DecodeError { what, reason: format!("body is {got} bytes, needs at least {need}") }
}

fn exact(what: &'static str, need: usize, got: usize) -> Result<(), DecodeError> {
    if got != need {
        return Err(DecodeError { what, reason: format!("body is {got} bytes, must be exactly {need}") });
    }
    Ok(())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("caller checked length"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("caller checked length"))
}

// Most bodies start with (or are only) little-endian u64 fields; these
// helpers write and read such a run so each message names only its fields.

/// Appends `fields`, each a little-endian u64.
fn put_u64s(b: &mut BytesMut, fields: &[u64]) {
    for v in fields {
        b.put_u64_le(*v);
    }
}

/// A body of only `fields`, each a little-endian u64.
fn encode_u64s(fields: &[u64]) -> Bytes {
    let mut b = BytesMut::with_capacity(fields.len() * 8);
    put_u64s(&mut b, fields);
    b.freeze()
}

/// The fixed part of a data message: `fields`, each a little-endian u64,
/// filling exactly `B` bytes.
fn fixed_u64s<const B: usize>(fields: &[u64]) -> [u8; B] {
    debug_assert_eq!(fields.len() * 8, B);
    let mut b = [0u8; B];
    for (i, v) in fields.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    b
}

/// The first `N` little-endian u64 fields of `b` (caller checked length).
fn u64s<const N: usize>(b: &[u8]) -> [u64; N] {
    std::array::from_fn(|i| u64_at(b, i * 8))
}

/// A body that is exactly `N` little-endian u64 fields.
fn decode_u64s<const N: usize>(what: &'static str, b: &[u8]) -> Result<[u64; N], DecodeError> {
    exact(what, N * 8, b.len())?;
    Ok(u64s(b))
}

/// A body of `N` little-endian u64 fields, then data to the end.
fn decode_u64s_data<const N: usize>(what: &'static str, body: Bytes) -> Result<([u64; N], Bytes), DecodeError> {
    if body.len() < N * 8 {
        return Err(short(what, N * 8, body.len()));
    }
    Ok((u64s(&body), body.slice(N * 8..)))
}

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    Node = 1,
    Client = 2,
}

/// Hello: `role u8 | node_id u64` (9 bytes), the dialer's first frame
/// inside TLS. A client sends node_id 0. The acceptor checks a node's claim
/// against its certificate (`auth::accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    pub role: Role,
    pub node_id: NodeId,
}

impl Hello {
    pub const BYTES: usize = 1 + 8;
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(Self::BYTES);
        b.put_u8(self.role as u8);
        b.put_u64_le(self.node_id);
        b.freeze()
    }
    pub fn decode(b: &[u8]) -> Result<Hello, DecodeError> {
        exact("hello", Self::BYTES, b.len())?;
        let role = match b[0] {
            1 => Role::Node,
            2 => Role::Client,
            r => return Err(DecodeError { what: "hello", reason: format!("unknown role {r}") }),
        };
        Ok(Hello { role, node_id: u64_at(b, 1) })
    }
}

/// Welcome: `node_id u64` (8 bytes), the acceptor's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome {
    pub node_id: NodeId,
}

impl Welcome {
    pub fn encode(&self) -> Bytes {
        encode_u64s(&[self.node_id])
    }
    pub fn decode(b: &[u8]) -> Result<Welcome, DecodeError> {
        let [node_id] = decode_u64s("welcome", b)?;
        Ok(Welcome { node_id })
    }
}

/// ComponentWrite: `object u64 | epoch u64 | seq u64 | offset u64 | data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentWrite {
    pub object: ObjectId,
    pub epoch: Epoch,
    pub seq: Seq,
    pub offset: u64,
    pub data: Bytes,
}

impl ComponentWrite {
    pub const FIXED_BYTES: usize = 32;
    /// Encodes only the fixed part; the data is sent as its own zero-copy
    /// chunk after it.
    pub fn encode_fixed(&self) -> [u8; Self::FIXED_BYTES] {
        fixed_u64s(&[self.object, self.epoch, self.seq, self.offset])
    }
    pub fn decode(body: Bytes) -> Result<ComponentWrite, DecodeError> {
        let ([object, epoch, seq, offset], data) = decode_u64s_data("component-write", body)?;
        Ok(ComponentWrite { object, epoch, seq, offset, data })
    }
}

/// ComponentRead: `object u64 | epoch u64 | offset u64 | length u32` (28 bytes).
/// Epoch 0 asks for a diagnostic read that skips the epoch check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentRead {
    pub object: ObjectId,
    pub epoch: Epoch,
    pub offset: u64,
    pub length: u32,
}

impl ComponentRead {
    pub const BYTES: usize = 28;
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(Self::BYTES);
        put_u64s(&mut b, &[self.object, self.epoch, self.offset]);
        b.put_u32_le(self.length);
        b.freeze()
    }
    pub fn decode(b: &[u8]) -> Result<ComponentRead, DecodeError> {
        exact("component-read", Self::BYTES, b.len())?;
        let [object, epoch, offset] = u64s(b);
        Ok(ComponentRead { object, epoch, offset, length: u32_at(b, 24) })
    }
}

/// Fence: `object u64 | epoch u64 | dir_index u64` (24 bytes). Tells a
/// component that `epoch` is current once its directory has applied
/// `dir_index`; older epochs are refused from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    pub object: ObjectId,
    pub epoch: Epoch,
    pub dir_index: LogIndex,
}

impl Fence {
    pub const BYTES: usize = 24;
    pub fn encode(&self) -> Bytes {
        encode_u64s(&[self.object, self.epoch, self.dir_index])
    }
    pub fn decode(b: &[u8]) -> Result<Fence, DecodeError> {
        let [object, epoch, dir_index] = decode_u64s("fence", b)?;
        Ok(Fence { object, epoch, dir_index })
    }
}

/// Write (client to owner): `object u64 | offset u64 | data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub object: ObjectId,
    pub offset: u64,
    pub data: Bytes,
}

impl Write {
    pub const FIXED_BYTES: usize = 16;
    pub fn encode_fixed(&self) -> [u8; Self::FIXED_BYTES] {
        fixed_u64s(&[self.object, self.offset])
    }
    pub fn decode(body: Bytes) -> Result<Write, DecodeError> {
        let ([object, offset], data) = decode_u64s_data("write", body)?;
        Ok(Write { object, offset, data })
    }
}

/// Read (client to owner): `object u64 | offset u64 | length u32` (20 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    pub object: ObjectId,
    pub offset: u64,
    pub length: u32,
}

impl Read {
    pub const BYTES: usize = 20;
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(Self::BYTES);
        put_u64s(&mut b, &[self.object, self.offset]);
        b.put_u32_le(self.length);
        b.freeze()
    }
    pub fn decode(b: &[u8]) -> Result<Read, DecodeError> {
        exact("read", Self::BYTES, b.len())?;
        let [object, offset] = u64s(b);
        Ok(Read { object, offset, length: u32_at(b, 16) })
    }
}

/// Error response: `code u16 | message (UTF-8, at most 1024 bytes)`.
pub fn encode_error(e: &HoldfastError) -> Bytes {
    let msg = e.message.as_bytes();
    let mut b = BytesMut::with_capacity(2 + msg.len());
    b.put_u16_le(e.code as u16);
    b.put_slice(msg);
    b.freeze()
}

pub fn decode_error(b: &[u8]) -> Result<HoldfastError, DecodeError> {
    if b.len() < 2 {
        return Err(short("error", 2, b.len()));
    }
    let raw = u16::from_le_bytes([b[0], b[1]]);
    let code = ErrorCode::from_u16(raw).unwrap_or(ErrorCode::Internal);
    let mut message = String::from_utf8_lossy(&b[2..]).into_owned();
    if ErrorCode::from_u16(raw).is_none() {
        message = format!("(unknown error code {raw}) {message}");
    }
    Ok(HoldfastError::new(code, message))
}

/// The body of a Fence reply: `epoch u64 | seq u64 | flags u64` (24
/// bytes). `(epoch, seq)` is the position of the component's last applied
/// write; flags bit 0 (`FENCE_UNCLEAN`) says its host restarted and lost
/// unsynced writes, so its bytes past that position may hold a mix no
/// other copy has (`docs/local-store.md`, "Disk lag").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FenceReply {
    pub position: (Epoch, Seq),
    pub unclean: bool,
}

pub const FENCE_UNCLEAN: u64 = 1;

impl FenceReply {
    pub fn encode(&self) -> Bytes {
        encode_u64s(&[self.position.0, self.position.1, if self.unclean { FENCE_UNCLEAN } else { 0 }])
    }
    pub fn decode(b: &[u8]) -> Result<FenceReply, DecodeError> {
        let [epoch, seq, flags] = decode_u64s("fence reply", b)?;
        if flags & !FENCE_UNCLEAN != 0 {
            return Err(DecodeError { what: "fence reply", reason: format!("unknown flags {flags:#x}") });
        }
        Ok(FenceReply { position: (epoch, seq), unclean: flags & FENCE_UNCLEAN != 0 })
    }
}

/// ComponentSync (owner to component): `object u64 | epoch u64` (16
/// bytes). The component syncs its disk (fdatasync) and answers Ok; queued
/// behind the object's writes, it covers every one sent before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentSync {
    pub object: ObjectId,
    pub epoch: Epoch,
}

impl ComponentSync {
    pub const BYTES: usize = 16;
    pub fn encode(&self) -> Bytes {
        encode_u64s(&[self.object, self.epoch])
    }
    pub fn decode(b: &[u8]) -> Result<ComponentSync, DecodeError> {
        let [object, epoch] = decode_u64s("component-sync", b)?;
        Ok(ComponentSync { object, epoch })
    }
}

/// Flush (client to owner): `object u64` (8 bytes). The owner answers Ok
/// once every write acknowledged before it is on the disk of every ACTIVE
/// component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flush {
    pub object: ObjectId,
}

impl Flush {
    pub const BYTES: usize = 8;
    pub fn encode(&self) -> Bytes {
        encode_u64s(&[self.object])
    }
    pub fn decode(b: &[u8]) -> Result<Flush, DecodeError> {
        let [object] = decode_u64s("flush", b)?;
        Ok(Flush { object })
    }
}

/// RepairWrite: `object u64 | epoch u64 | pos_epoch u64 | pos_seq u64 | offset u64 | data`.
/// A write another component already applied at `(pos_epoch, pos_seq)`,
/// copied by a new owner at `epoch` to a component that missed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairWrite {
    pub object: ObjectId,
    pub epoch: Epoch,
    pub position: (Epoch, Seq),
    pub offset: u64,
    pub data: Bytes,
}

impl RepairWrite {
    pub const FIXED_BYTES: usize = 40;
    pub fn encode_fixed(&self) -> [u8; Self::FIXED_BYTES] {
        fixed_u64s(&[self.object, self.epoch, self.position.0, self.position.1, self.offset])
    }
    pub fn decode(body: Bytes) -> Result<RepairWrite, DecodeError> {
        let ([object, epoch, pos_epoch, pos_seq, offset], data) = decode_u64s_data("repair-write", body)?;
        Ok(RepairWrite { object, epoch, position: (pos_epoch, pos_seq), offset, data })
    }
}

/// RecentWrites: `object u64 | epoch u64 | after_epoch u64 | after_seq u64` (32 bytes).
/// Asks for the writes a component applied after a position. The reply
/// (Data) is a page: `count u32`, then per write
/// `pos_epoch u64 | pos_seq u64 | offset u64 | length u32 | data`; the asker
/// repeats from the last position until a page is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentWrites {
    pub object: ObjectId,
    pub epoch: Epoch,
    pub after: (Epoch, Seq),
}

impl RecentWrites {
    pub const BYTES: usize = 32;
    pub fn encode(&self) -> Bytes {
        encode_u64s(&[self.object, self.epoch, self.after.0, self.after.1])
    }
    pub fn decode(b: &[u8]) -> Result<RecentWrites, DecodeError> {
        let [object, epoch, after_epoch, after_seq] = decode_u64s("recent-writes", b)?;
        Ok(RecentWrites { object, epoch, after: (after_epoch, after_seq) })
    }
}

/// One write in a RecentWrites page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagedWrite {
    pub position: (Epoch, Seq),
    pub offset: u64,
    pub data: Bytes,
}

pub fn encode_write_page(writes: &[PagedWrite]) -> Bytes {
    let len: usize = writes.iter().map(|w| 28 + w.data.len()).sum();
    let mut b = BytesMut::with_capacity(4 + len);
    b.put_u32_le(writes.len() as u32);
    for w in writes {
        b.put_u64_le(w.position.0);
        b.put_u64_le(w.position.1);
        b.put_u64_le(w.offset);
        b.put_u32_le(w.data.len() as u32);
        b.put_slice(&w.data);
    }
    b.freeze()
}

pub fn decode_write_page(body: Bytes) -> Result<Vec<PagedWrite>, DecodeError> {
    let what = "recent-writes page";
    if body.len() < 4 {
        return Err(short(what, 4, body.len()));
    }
    let count = u32_at(&body, 0) as usize;
    let mut at = 4;
    let mut out = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        if body.len() < at + 28 {
            return Err(short(what, at + 28, body.len()));
        }
        let len = u32_at(&body, at + 24) as usize;
        if body.len() - (at + 28) < len {
            return Err(short(what, at + 28 + len, body.len()));
        }
        out.push(PagedWrite {
            position: (u64_at(&body, at), u64_at(&body, at + 8)),
            offset: u64_at(&body, at + 16),
            data: body.slice(at + 28..at + 28 + len),
        });
        at += 28 + len;
    }
    if at != body.len() {
        return Err(DecodeError { what, reason: format!("{} trailing bytes", body.len() - at) });
    }
    Ok(out)
}

/// ResyncPrepare: `object u64 | dir_index u64` (16 bytes). The target waits
/// until its directory reaches `dir_index`, then makes sure it has a
/// component to rebuild into (a fresh one if its RAM was lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResyncPrepare {
    pub object: ObjectId,
    pub dir_index: LogIndex,
}

impl ResyncPrepare {
    pub const BYTES: usize = 16;
    pub fn encode(&self) -> Bytes {
        encode_u64s(&[self.object, self.dir_index])
    }
    pub fn decode(b: &[u8]) -> Result<ResyncPrepare, DecodeError> {
        let [object, dir_index] = decode_u64s("resync-prepare", b)?;
        Ok(ResyncPrepare { object, dir_index })
    }
}

/// ResyncStart: `object u64 | epoch u64 | pos_epoch u64 | pos_seq u64` (32 bytes).
/// From here the target follows the owner's writes after `(pos_epoch, pos_seq)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResyncStart {
    pub object: ObjectId,
    pub epoch: Epoch,
    pub position: (Epoch, Seq),
}

impl ResyncStart {
    pub const BYTES: usize = 32;
    pub fn encode(&self) -> Bytes {
        encode_u64s(&[self.object, self.epoch, self.position.0, self.position.1])
    }
    pub fn decode(b: &[u8]) -> Result<ResyncStart, DecodeError> {
        let [object, epoch, pos_epoch, pos_seq] = decode_u64s("resync-start", b)?;
        Ok(ResyncStart { object, epoch, position: (pos_epoch, pos_seq) })
    }
}

/// ResyncChunk: `object u64 | epoch u64 | offset u64 | data`. Bytes copied
/// from the owner's component during a rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResyncChunk {
    pub object: ObjectId,
    pub epoch: Epoch,
    pub offset: u64,
    pub data: Bytes,
}

impl ResyncChunk {
    pub const FIXED_BYTES: usize = 24;
    pub fn encode_fixed(&self) -> [u8; Self::FIXED_BYTES] {
        fixed_u64s(&[self.object, self.epoch, self.offset])
    }
    pub fn decode(body: Bytes) -> Result<ResyncChunk, DecodeError> {
        let ([object, epoch, offset], data) = decode_u64s_data("resync-chunk", body)?;
        Ok(ResyncChunk { object, epoch, offset, data })
    }
}

/// EpochCheck: `object u64 | epoch u64` (16 bytes). The read barrier: the
/// component answers Ok if `epoch` is still the newest it knows, otherwise
/// STALE_EPOCH; it changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochCheck {
    pub object: ObjectId,
    pub epoch: Epoch,
}

impl EpochCheck {
    pub const BYTES: usize = 16;
    pub fn encode(&self) -> Bytes {
        encode_u64s(&[self.object, self.epoch])
    }
    pub fn decode(b: &[u8]) -> Result<EpochCheck, DecodeError> {
        let [object, epoch] = decode_u64s("epoch-check", b)?;
        Ok(EpochCheck { object, epoch })
    }
}

/// ResyncFinish: `object u64 | epoch u64` (16 bytes). The target makes the
/// rebuilt bytes durable (fdatasync for a persistent component) and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResyncFinish {
    pub object: ObjectId,
    pub epoch: Epoch,
}

impl ResyncFinish {
    pub const BYTES: usize = 16;
    pub fn encode(&self) -> Bytes {
        encode_u64s(&[self.object, self.epoch])
    }
    pub fn decode(b: &[u8]) -> Result<ResyncFinish, DecodeError> {
        let [object, epoch] = decode_u64s("resync-finish", b)?;
        Ok(ResyncFinish { object, epoch })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_messages_round_trip() {
        let h = Hello { role: Role::Node, node_id: 3 };
        assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
        let w = Welcome { node_id: 2 };
        assert_eq!(Welcome::decode(&w.encode()).unwrap(), w);
        let r = ComponentRead { object: 1, epoch: 2, offset: 4096, length: 512 };
        assert_eq!(ComponentRead::decode(&r.encode()).unwrap(), r);
        let f = Fence { object: 9, epoch: 3, dir_index: 77 };
        assert_eq!(Fence::decode(&f.encode()).unwrap(), f);
        let rd = Read { object: 1, offset: 0, length: 4096 };
        assert_eq!(Read::decode(&rd.encode()).unwrap(), rd);
    }

    #[test]
    fn data_messages_round_trip() {
        let w = ComponentWrite { object: 5, epoch: 6, seq: 7, offset: 512, data: Bytes::from_static(b"abc") };
        let mut body = BytesMut::new();
        body.put_slice(&w.encode_fixed());
        body.put_slice(&w.data);
        assert_eq!(ComponentWrite::decode(body.freeze()).unwrap(), w);
        let w = Write { object: 5, offset: 1024, data: Bytes::from_static(b"xyz") };
        let mut body = BytesMut::new();
        body.put_slice(&w.encode_fixed());
        body.put_slice(&w.data);
        assert_eq!(Write::decode(body.freeze()).unwrap(), w);
    }

    #[test]
    fn truncated_bodies_are_errors() {
        assert!(Hello::decode(&[1, 2, 3]).is_err());
        assert!(Hello::decode(&[9; Hello::BYTES]).is_err());
        assert!(ComponentWrite::decode(Bytes::from_static(&[0; 31])).is_err());
        assert!(Write::decode(Bytes::from_static(&[0; 3])).is_err());
        assert!(Fence::decode(&[0; 25]).is_err());
        assert!(decode_error(&[1]).is_err());
    }

    #[test]
    fn convergence_messages_round_trip() {
        for r in [FenceReply { position: (3, 9), unclean: false }, FenceReply { position: (4, 1), unclean: true }] {
            assert_eq!(FenceReply::decode(&r.encode()).unwrap(), r);
        }
        assert!(FenceReply::decode(&encode_u64s(&[3, 9, 2])).is_err());
        assert!(FenceReply::decode(&[0; 16]).is_err());
        let s = ComponentSync { object: 5, epoch: 7 };
        assert_eq!(ComponentSync::decode(&s.encode()).unwrap(), s);
        assert_eq!(Flush::decode(&Flush { object: 4 }.encode()).unwrap(), Flush { object: 4 });
        assert!(Flush::decode(&[0; 9]).is_err());
        let r = RecentWrites { object: 1, epoch: 2, after: (1, 7) };
        assert_eq!(RecentWrites::decode(&r.encode()).unwrap(), r);
        let page = vec![
            PagedWrite { position: (1, 8), offset: 512, data: Bytes::from_static(b"ab") },
            PagedWrite { position: (1, 9), offset: 0, data: Bytes::new() },
        ];
        assert_eq!(decode_write_page(encode_write_page(&page)).unwrap(), page);
        let mut bad = encode_write_page(&page).to_vec();
        bad.truncate(bad.len() - 1);
        assert!(decode_write_page(Bytes::from(bad)).is_err());
        let rw = RepairWrite { object: 1, epoch: 2, position: (1, 8), offset: 512, data: Bytes::from_static(b"xy") };
        let mut body = BytesMut::new();
        body.put_slice(&rw.encode_fixed());
        body.put_slice(&rw.data);
        assert_eq!(RepairWrite::decode(body.freeze()).unwrap(), rw);
        let s = ResyncStart { object: 4, epoch: 5, position: (5, 0) };
        assert_eq!(ResyncStart::decode(&s.encode()).unwrap(), s);
        let p = ResyncPrepare { object: 4, dir_index: 99 };
        assert_eq!(ResyncPrepare::decode(&p.encode()).unwrap(), p);
        let f = ResyncFinish { object: 4, epoch: 5 };
        assert_eq!(ResyncFinish::decode(&f.encode()).unwrap(), f);
    }

    #[test]
    fn error_round_trip() {
        let e = HoldfastError::new(ErrorCode::StaleEpoch, "epoch 1 < 2");
        assert_eq!(decode_error(&encode_error(&e)).unwrap(), e);
    }
}
