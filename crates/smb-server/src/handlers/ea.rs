//! Extended attributes from SMB, the ExtA create context and SET_INFO
//! FileFullEaInformation, to the file server's SetEas (which stores them
//! with the file, `file-server/src/ea_ops.rs`).

use bytes::Bytes;
use holdfast_file_server::proto::{EaEntry, Request as FsRequest};
use holdfast_types::ea::{decode_full_ea_list, valid_ea_name};
use holdfast_types::ntstatus::NtStatus;

/// A FILE_FULL_EA_INFORMATION list, checked: a malformed list is
/// `STATUS_INVALID_PARAMETER`, a bad name `STATUS_INVALID_EA_NAME`.
pub fn parse(buffer: &[u8]) -> Result<Vec<EaEntry>, NtStatus> {
    let eas = decode_full_ea_list(buffer).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    if eas.iter().any(|e| !valid_ea_name(&e.name)) {
        return Err(NtStatus::INVALID_EA_NAME);
    }
    Ok(eas.into_iter().map(|e| EaEntry { name: e.name, value: Bytes::from(e.value) }).collect())
}

/// Sets `eas` on the file of file-server open `fid`.
pub async fn set(srv: &crate::server::Server, fid: u64, eas: Vec<EaEntry>) -> Result<(), NtStatus> {
    let fs = srv.fs().await?;
    match fs.call(&FsRequest::SetEas { fid, eas }).await {
        Ok(_) => Ok(()),
        Err(e) => Err(srv.fs_error(e).await),
    }
}
