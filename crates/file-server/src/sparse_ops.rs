//! Sparse files ([MS-FSA] 2.1.5.10.37, .39, .22): the SPARSE attribute,
//! zeroing a range (whole blocks become holes, `objfs::Fs::punch`; the
//! partial blocks at its ends get zeros written), and the allocated ranges
//! of a file. Holes cost nothing; a file that is not sparse is reported
//! allocated throughout, as NTFS reports it.

use holdfast_objfs::fs::FileKind;
use holdfast_types::limits::IO_BYTES_MAX;
use holdfast_types::ntstatus::NtStatus;

use crate::access::*;
use crate::proto::{Reply, ENTRIES_MAX};
use crate::server::{Fail, FileServer};
use crate::time::now_filetime;

const BLOCK_BYTES: u64 = holdfast_types::limits::BLOCK_BYTES;

impl FileServer {
    /// FSCTL_SET_SPARSE: the open needs FILE_WRITE_DATA, FILE_APPEND_DATA
    /// or FILE_WRITE_ATTRIBUTES; a directory is never sparse.
    pub(crate) async fn set_sparse(&self, fid: u64, sparse: bool) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let o = vol.opens.lock().expect("opens lock").get(fid)?.clone();
        if o.access & (FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_WRITE_ATTRIBUTES) == 0 {
            return Err(Fail::new(NtStatus::ACCESS_DENIED, "setting sparse needs write data, append or write attributes access"));
        }
        let a = vol.fs.stat(o.ino)?;
        if a.kind == FileKind::Dir {
            return Err(Fail::new(NtStatus::INVALID_PARAMETER, "a directory is never sparse"));
        }
        let attrs = if sparse { a.attributes | FILE_ATTRIBUTE_SPARSE_FILE } else { a.attributes & !FILE_ATTRIBUTE_SPARSE_FILE };
        if attrs != a.attributes {
            let set = holdfast_objfs::fs::SetAttr { attributes: Some(attrs), ..Default::default() };
            vol.fs.set_attr(o.ino, &set).await?;
        }
        Ok(Reply::Empty)
    }

    /// FSCTL_SET_ZERO_DATA of `[offset, beyond)`, clipped to the end of
    /// file: a write, with its access and lock checks.
    pub(crate) async fn zero_data(&self, fid: u64, offset: u64, beyond: u64) -> Result<Reply, Fail> {
        if offset > beyond {
            return Err(Fail::new(NtStatus::INVALID_PARAMETER, "zero range ends before it starts"));
        }
        let vol = self.volume_of_fid(fid)?;
        let ino = vol.opens.lock().expect("opens lock").check_io(fid, offset, beyond - offset, true)?.ino;
        if vol.opens.lock().expect("opens lock").get(fid)?.access & FILE_WRITE_DATA == 0 {
            return Err(Fail::new(NtStatus::ACCESS_DENIED, "zeroing needs write data access"));
        }
        let size = vol.fs.stat(ino)?.size_bytes;
        let end = beyond.min(size);
        if offset >= end {
            return Ok(Reply::Empty);
        }
        let now = now_filetime();
        let first_whole = offset.next_multiple_of(BLOCK_BYTES);
        let last_whole = end / BLOCK_BYTES * BLOCK_BYTES;
        if first_whole < last_whole {
            vol.fs.punch(ino, first_whole / BLOCK_BYTES, (last_whole - first_whole) / BLOCK_BYTES, now).await?;
        }
        // The partial blocks at either end (or the whole range inside one
        // block) get zeros.
        let edges = if first_whole < last_whole { [(offset, first_whole), (last_whole, end)] } else { [(offset, end), (end, end)] };
        for (s, e) in edges {
            if s < e {
                assert!(e - s <= BLOCK_BYTES.max(IO_BYTES_MAX), "an edge is inside one block");
                vol.fs.write(ino, s, &vec![0u8; (e - s) as usize], now).await?;
            }
        }
        Ok(Reply::Empty)
    }

    /// FSCTL_QUERY_ALLOCATED_RANGES within `[offset, offset + length)`:
    /// needs FILE_READ_DATA.
    pub(crate) fn allocated_ranges(&self, fid: u64, offset: u64, length: u64) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let o = vol.opens.lock().expect("opens lock").get(fid)?.clone();
        if o.access & FILE_READ_DATA == 0 {
            return Err(Fail::new(NtStatus::ACCESS_DENIED, "querying allocated ranges needs read data access"));
        }
        let a = vol.fs.stat(o.ino)?;
        if a.kind == FileKind::Dir {
            return Err(Fail::new(NtStatus::INVALID_PARAMETER, "a directory has no data ranges"));
        }
        let ranges = if a.attributes & FILE_ATTRIBUTE_SPARSE_FILE != 0 {
            vol.fs.allocated_ranges(o.ino, offset, length, ENTRIES_MAX as usize)?
        } else {
            let end = offset.saturating_add(length).min(a.size_bytes);
            if offset < end { vec![(offset, end - offset)] } else { Vec::new() }
        };
        Ok(Reply::Ranges(ranges))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::park::tests::Rig;
    use crate::proto::{OpenReq, Request};

    async fn open(rig: &Rig, access: u32) -> u64 {
        let o = OpenReq { share: "s".into(), path: "f".into(), desired_access: access, share_access: 7, disposition: 3, ..Default::default() };
        let Reply::Opened { fid, .. } = rig.server.handle(Request::Open(o)).await.unwrap() else { panic!("open") };
        fid
    }

    async fn ranges(rig: &Rig, fid: u64) -> Vec<(u64, u64)> {
        let Reply::Ranges(r) = rig.server.handle(Request::AllocatedRanges { fid, offset: 0, length: 1 << 40 }).await.unwrap() else { panic!() };
        r
    }

    #[tokio::test]
    async fn zeroing_punches_holes_that_read_as_zeros() {
        let rig = Rig::with_acls(true).await;
        rig.mount(1, None).await.unwrap();
        let fid = open(&rig, FILE_READ_DATA | FILE_WRITE_DATA).await;
        let data = Bytes::from(vec![7u8; 3 * BLOCK_BYTES as usize]);
        rig.server.handle(Request::Write { fid, offset: 0, data }).await.unwrap();
        assert_eq!(ranges(&rig, fid).await, vec![(0, 3 * BLOCK_BYTES)], "not sparse: allocated throughout");
        rig.server.handle(Request::SetSparse { fid, sparse: true }).await.unwrap();
        // From the middle of block 0 to the middle of block 2: block 1 is
        // unmapped, the edges zeroed.
        rig.server.handle(Request::ZeroData { fid, offset: 100, beyond: 2 * BLOCK_BYTES + 100 }).await.unwrap();
        assert_eq!(ranges(&rig, fid).await, vec![(0, BLOCK_BYTES), (2 * BLOCK_BYTES, BLOCK_BYTES)]);
        let Reply::Data(back) = rig.server.handle(Request::Read { fid, offset: 0, length: 3 * BLOCK_BYTES as u32 }).await.unwrap() else { panic!() };
        assert!(back[..100].iter().all(|&b| b == 7) && back[100..2 * BLOCK_BYTES as usize + 100].iter().all(|&b| b == 0));
        assert!(back[2 * BLOCK_BYTES as usize + 100..].iter().all(|&b| b == 7));
        // Past EOF nothing changes; a backwards range is refused.
        rig.server.handle(Request::ZeroData { fid, offset: 10 * BLOCK_BYTES, beyond: 20 * BLOCK_BYTES }).await.unwrap();
        let bad = rig.server.handle(Request::ZeroData { fid, offset: 9, beyond: 8 }).await.unwrap_err();
        assert_eq!(bad.status, NtStatus::INVALID_PARAMETER);
        // Access: zeroing needs write data, the ranges read data.
        let ro = open(&rig, FILE_READ_ATTRIBUTES).await;
        assert_eq!(rig.server.handle(Request::ZeroData { fid: ro, offset: 0, beyond: 1 }).await.unwrap_err().status, NtStatus::ACCESS_DENIED);
        assert_eq!(rig.server.handle(Request::AllocatedRanges { fid: ro, offset: 0, length: 1 }).await.unwrap_err().status, NtStatus::ACCESS_DENIED);
        assert_eq!(rig.server.handle(Request::SetSparse { fid: ro, sparse: false }).await.unwrap_err().status, NtStatus::ACCESS_DENIED);
    }
}
