//! Server-side copy ([MS-SMB2] 2.2.31.1, 2.2.32.1, 2.2.32.3):
//! FSCTL_SRV_REQUEST_RESUME_KEY names a source open;
//! FSCTL_SRV_COPYCHUNK(_WRITE) copies ranges from it to the target open.
//!
//! ```text
//! resume key response (32): ResumeKey 24, ContextLength u32 (0),
//!                           Context 4 (zero; Windows and Samba send it)
//! copychunk request:        SourceKey 24, ChunkCount u32, Reserved u32,
//!                           Chunks[ChunkCount] of 24 bytes:
//!                           SourceOffset u64, TargetOffset u64, Length u32, Reserved u32
//! copychunk response (12):  ChunksWritten u32, ChunkBytesWritten u32, TotalBytesWritten u32
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::wire::Reader;

const WHAT: &str = "SRV_COPYCHUNK_COPY";
const CHUNK_BYTES: usize = 24;

pub type ResumeKey = [u8; 24];

/// The answer to FSCTL_SRV_REQUEST_RESUME_KEY.
pub fn encode_resume_key(key: &ResumeKey, out: &mut BytesMut) {
    out.put_slice(key);
    out.put_u32_le(0);
    out.put_u32_le(0);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub source_offset: u64,
    pub target_offset: u64,
    pub length: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyChunkRequest {
    pub source_key: ResumeKey,
    /// As many as the input holds; the server applies its own limit (and
    /// answers a request over it with the limits, not a decode error).
    pub chunks: Vec<Chunk>,
}

impl CopyChunkRequest {
    pub fn decode(input: &[u8]) -> Result<CopyChunkRequest> {
        let mut r = Reader::new(input, WHAT);
        let source_key = r.array()?;
        let count = r.u32()? as usize;
        r.skip(4)?;
        if count.checked_mul(CHUNK_BYTES).is_none_or(|n| n > r.remaining()) {
            return Err(ProtoError::InvalidValue { field: "SRV_COPYCHUNK_COPY ChunkCount", value: count as u64 });
        }
        let mut chunks = Vec::with_capacity(count);
        for _ in 0..count {
            let source_offset = r.u64()?;
            let target_offset = r.u64()?;
            let length = r.u32()?;
            r.skip(4)?;
            chunks.push(Chunk { source_offset, target_offset, length });
        }
        Ok(CopyChunkRequest { source_key, chunks })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_slice(&self.source_key);
        out.put_u32_le(self.chunks.len() as u32);
        out.put_u32_le(0);
        for c in &self.chunks {
            out.put_u64_le(c.source_offset);
            out.put_u64_le(c.target_offset);
            out.put_u32_le(c.length);
            out.put_u32_le(0);
        }
    }
}

/// SRV_COPYCHUNK_RESPONSE. On success: chunks and bytes copied (and
/// ChunkBytesWritten 0); on STATUS_INVALID_PARAMETER for a request over
/// the limits: the server's limits (chunks, bytes per chunk, bytes in all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CopyChunkResponse {
    pub chunks_written: u32,
    pub chunk_bytes_written: u32,
    pub total_bytes_written: u32,
}

impl CopyChunkResponse {
    pub const BYTES: usize = 12;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32_le(self.chunks_written);
        out.put_u32_le(self.chunk_bytes_written);
        out.put_u32_le(self.total_bytes_written);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_a_count_past_the_input_is_refused() {
        let req = CopyChunkRequest {
            source_key: [7; 24],
            chunks: vec![Chunk { source_offset: 1, target_offset: 2, length: 3 }, Chunk { source_offset: 4, target_offset: 5, length: 6 }],
        };
        let mut b = BytesMut::new();
        req.encode(&mut b);
        assert_eq!(b.len(), 32 + 2 * 24);
        assert_eq!(CopyChunkRequest::decode(&b).unwrap(), req);
        b[24] = 3;
        assert!(CopyChunkRequest::decode(&b).is_err());
        b[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(CopyChunkRequest::decode(&b).is_err());
    }
}
