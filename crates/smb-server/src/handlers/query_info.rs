//! QUERY_INFO ([MS-SMB2] 3.3.5.20): FILE classes from the file server's
//! Stat (Streams, Path and GetEas for some), FILESYSTEM classes from
//! StatFs, SECURITY from GetSecurity.

use bytes::BytesMut;
use holdfast_file_server::proto::{FileInfo, Reply as FsReply, Request as FsRequest};
use holdfast_types::ea::{encode_full_ea_list, Ea};
use holdfast_smb_proto::info::file::*;
use holdfast_smb_proto::info::fs::*;
use holdfast_types::security::{secinfo, SecurityDescriptor};
use holdfast_smb_proto::info::{file_class as fc, fs_class};
use holdfast_smb_proto::info::short_name::short_name;
use holdfast_smb_proto::msg::error::ErrorResponse;
use holdfast_smb_proto::msg::query_info::{fit_info_output, info_type, windows_min_output_bytes, QueryInfoRequest, QueryInfoResponse};
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};
use crate::handlers::fileinfo;

/// Sector size the volume reports (its I/O unit).
const SECTOR_BYTES: u32 = 512;
/// Longest name component ([MS-FSCC]: 255 UTF-16 units).
const NAME_UNITS_MAX: u32 = 255;

pub async fn handle(ctx: &mut Ctx<'_>, req: QueryInfoRequest<'_>) -> HResult {
    let o = ctx.open(req.file_id)?.clone();
    let need = required_access(req.info_type, req.file_info_class);
    if holdfast_file_server::access::map_generic(o.granted_access) & need != need {
        return Err(NtStatus::ACCESS_DENIED);
    }
    let fs = ctx.srv.fs().await?;
    let mut out = BytesMut::new();
    let fixed = match req.info_type {
        info_type::FILE => {
            let info = match fs.call(&FsRequest::Stat { fid: o.fs_fid }).await {
                Ok(FsReply::Info(i)) => i,
                Ok(_) => return Err(NtStatus::INTERNAL_ERROR),
                Err(e) => return Err(ctx.srv.fs_error(e).await),
            };
            // Some classes need more than Stat: the file's streams, its
            // path as stored, its EAs.
            let extra = match req.file_info_class {
                fc::STREAM => Some(FsRequest::Streams { fid: o.fs_fid }),
                fc::FULL_EA => Some(FsRequest::GetEas { fid: o.fs_fid }),
                fc::NORMALIZED_NAME if ctx.conn.neg.dialect < holdfast_smb_proto::dialect::SMB_3_1_1 => return Err(NtStatus::NOT_SUPPORTED),
                fc::NORMALIZED_NAME => Some(FsRequest::Path { fid: o.fs_fid }),
                _ => None,
            };
            let extra = match extra {
                Some(call) => match fs.call(&call).await {
                    Ok(r) => Some(r),
                    Err(e) => return Err(ctx.srv.fs_error(e).await),
                },
                None => None,
            };
            file_class(req.file_info_class, &info, &o, extra, &mut out)?
        }
        info_type::FILESYSTEM => {
            let tree = ctx.tree()?;
            let (block_bytes, total, free) = match fs.call(&FsRequest::StatFs { share: tree.share.clone() }).await {
                Ok(FsReply::StatFs { block_bytes, total_blocks, free_blocks }) => (block_bytes, total_blocks, free_blocks),
                Ok(_) => return Err(NtStatus::INTERNAL_ERROR),
                Err(e) => return Err(ctx.srv.fs_error(e).await),
            };
            let sectors_per_unit = (block_bytes / u64::from(SECTOR_BYTES)).max(1) as u32;
            match req.file_info_class {
                fs_class::VOLUME => {
                    FileFsVolumeInformation {
                        creation_time: ctx.srv.start_time,
                        serial_number: u32::from_le_bytes([ctx.srv.guid[0], ctx.srv.guid[1], ctx.srv.guid[2], ctx.srv.guid[3]]),
                        supports_objects: false,
                        label: tree.share.clone(),
                    }
                    .encode(&mut out);
                    FileFsVolumeInformation::BYTES
                }
                fs_class::SIZE => {
                    FileFsSizeInformation {
                        total_allocation_units: total,
                        available_allocation_units: free,
                        sectors_per_allocation_unit: sectors_per_unit,
                        bytes_per_sector: SECTOR_BYTES,
                    }
                    .encode(&mut out);
                    FileFsSizeInformation::BYTES
                }
                fs_class::FULL_SIZE => {
                    FileFsFullSizeInformation {
                        total_allocation_units: total,
                        caller_available_allocation_units: free,
                        actual_available_allocation_units: free,
                        sectors_per_allocation_unit: sectors_per_unit,
                        bytes_per_sector: SECTOR_BYTES,
                    }
                    .encode(&mut out);
                    FileFsFullSizeInformation::BYTES
                }
                fs_class::DEVICE => {
                    FileFsDeviceInformation { device_type: FILE_DEVICE_DISK, characteristics: 0 }.encode(&mut out);
                    FileFsDeviceInformation::BYTES
                }
                fs_class::ATTRIBUTE => {
                    FileFsAttributeInformation {
                        attributes: fs_attributes::CASE_PRESERVED_NAMES | fs_attributes::UNICODE_ON_DISK | fs_attributes::NAMED_STREAMS | fs_attributes::SUPPORTS_SPARSE_FILES | fs_attributes::PERSISTENT_ACLS,
                        maximum_component_name_length: NAME_UNITS_MAX,
                        // What clients expect of a Windows-like server (Samba says so too).
                        file_system_name: "NTFS".into(),
                    }
                    .encode(&mut out);
                    FileFsAttributeInformation::BYTES
                }
                fs_class::SECTOR_SIZE => {
                    FileFsSectorSizeInformation {
                        logical_bytes_per_sector: SECTOR_BYTES,
                        physical_bytes_per_sector_for_atomicity: SECTOR_BYTES,
                        physical_bytes_per_sector_for_performance: SECTOR_BYTES,
                        effective_physical_bytes_per_sector_for_atomicity: SECTOR_BYTES,
                        flags: 0,
                        byte_offset_for_sector_alignment: 0,
                        byte_offset_for_partition_alignment: 0,
                    }
                    .encode(&mut out);
                    FileFsSectorSizeInformation::BYTES
                }
                fs_class::CONTROL => {
                    FileFsControlInformation.encode(&mut out);
                    FileFsControlInformation::BYTES
                }
                fs_class::OBJECT_ID => {
                    FileFsObjectIdInformation { object_id: ctx.srv.guid, extended_info: [0; 48] }.encode(&mut out);
                    FileFsObjectIdInformation::BYTES
                }
                _ => return Err(NtStatus::INVALID_INFO_CLASS),
            }
        }
        info_type::SECURITY => {
            // The file's descriptor as the file server computes it; the
            // SACL only for an open that holds ACCESS_SYSTEM_SECURITY.
            let raw = match fs.call(&FsRequest::GetSecurity { fid: o.fs_fid }).await {
                Ok(FsReply::Data(b)) => b,
                Ok(_) => return Err(NtStatus::INTERNAL_ERROR),
                Err(e) => return Err(ctx.srv.fs_error(e).await),
            };
            let sd = SecurityDescriptor::decode(&raw).map_err(|_| NtStatus::INTERNAL_ERROR)?;
            let mut wanted = req.additional_information;
            if o.granted_access & holdfast_types::access::ACCESS_SYSTEM_SECURITY == 0 {
                wanted &= !secinfo::SACL;
            }
            out.extend_from_slice(&sd.filtered(wanted).encode());
            // A descriptor is not truncated: the client learns the size it
            // needs from the ERROR data and asks again ([MS-SMB2] 3.3.5.20.3).
            if out.len() > req.output_buffer_length as usize {
                let need = (out.len() as u32).to_le_bytes();
                let body = ErrorResponse { error_context_count: 0, data: &need };
                return Ok(Reply::with_status(NtStatus::BUFFER_TOO_SMALL, &body));
            }
            0
        }
        _ => return Err(NtStatus::INVALID_INFO_CLASS),
    };
    let fixed = windows_min_output_bytes(req.info_type, req.file_info_class).unwrap_or(fixed);
    let (output, status) = fit_info_output(&out, fixed, req.output_buffer_length).map_err(|e| e.status())?;
    Ok(Reply::with_status(status, &QueryInfoResponse { output }))
}

/// The access an open needs for a class (MS-FSA 2.1.5.12, as smbtorture
/// smb2.getinfo.getinfo_access checks it): attributes and times need
/// FILE_READ_ATTRIBUTES, the EA list FILE_READ_EA, the descriptor
/// READ_CONTROL; the other classes nothing.
fn required_access(info_type_: u8, class: u8) -> u32 {
    use holdfast_types::access::{FILE_READ_ATTRIBUTES, FILE_READ_EA, READ_CONTROL};
    match (info_type_, class) {
        (info_type::FILE, fc::BASIC | fc::ALL | fc::NETWORK_OPEN | fc::ATTRIBUTE_TAG) => FILE_READ_ATTRIBUTES,
        (info_type::FILE, fc::FULL_EA) => FILE_READ_EA,
        (info_type::SECURITY, _) => READ_CONTROL,
        _ => 0,
    }
}

/// Encodes one FILE class; returns its fixed part's size.
/// `extra` is the file server's Streams, Path or GetEas reply for those
/// classes.
fn file_class(class: u8, i: &FileInfo, o: &crate::state::Open, extra: Option<FsReply>, out: &mut BytesMut) -> Result<usize, NtStatus> {
    let access = holdfast_file_server::access::map_generic(o.granted_access);
    Ok(match class {
        fc::BASIC => {
            fileinfo::basic(i).encode(out);
            FileBasicInformation::BYTES
        }
        fc::STANDARD => {
            fileinfo::standard(i).encode(out);
            FileStandardInformation::BYTES
        }
        fc::INTERNAL => {
            FileInternalInformation { index_number: i.ino }.encode(out);
            FileInternalInformation::BYTES
        }
        fc::EA => {
            FileEaInformation { ea_size: i.ea_size }.encode(out);
            FileEaInformation::BYTES
        }
        // [MS-FSCC] 2.4.15; a GET_EA_INFORMATION name list in the input
        // is not applied: the whole list is returned.
        fc::FULL_EA => {
            let eas = smb_eas(&extra);
            if eas.is_empty() {
                return Err(NtStatus::NO_EAS_ON_FILE);
            }
            let mut list = Vec::new();
            encode_full_ea_list(&eas, &mut list);
            out.extend_from_slice(&list);
            0
        }
        fc::ACCESS => {
            FileAccessInformation { access_flags: access }.encode(out);
            FileAccessInformation::BYTES
        }
        fc::POSITION => {
            FilePositionInformation { current_byte_offset: o.position }.encode(out);
            FilePositionInformation::BYTES
        }
        fc::MODE => {
            FileModeInformation { mode: o.mode }.encode(out);
            FileModeInformation::BYTES
        }
        fc::ALIGNMENT => {
            FileAlignmentInformation { alignment_requirement: 0 }.encode(out);
            FileAlignmentInformation::BYTES
        }
        fc::ALL => {
            FileAllInformation {
                basic: fileinfo::basic(i),
                standard: fileinfo::standard(i),
                internal: FileInternalInformation { index_number: i.ino },
                ea: FileEaInformation { ea_size: i.ea_size },
                access: FileAccessInformation { access_flags: access },
                position: FilePositionInformation { current_byte_offset: o.position },
                mode: FileModeInformation { mode: o.mode },
                alignment: FileAlignmentInformation { alignment_requirement: 0 },
                name: FileNameInformation { name: format!("\\{}", o.path) },
            }
            .encode(out);
            FileAllInformation::BYTES
        }
        fc::NETWORK_OPEN => {
            fileinfo::network_open(i).encode(out);
            FileNetworkOpenInformation::BYTES
        }
        fc::ATTRIBUTE_TAG => {
            FileAttributeTagInformation { file_attributes: fileinfo::attributes(i), reparse_tag: 0 }.encode(out);
            FileAttributeTagInformation::BYTES
        }
        fc::STREAM => {
            // The file's own data (`::$DATA`, none for a directory) first,
            // then the named streams; the same through a stream's open.
            let Some(FsReply::Entries(streams)) = extra else { return Err(NtStatus::INTERNAL_ERROR) };
            let list: Vec<StreamEntry> = streams
                .iter()
                .map(|e| StreamEntry { name: format!("{}:$DATA", if e.name.is_empty() { ":" } else { &e.name }), size: e.info.size_bytes, allocation_size: e.info.allocation_bytes })
                .collect();
            encode_stream_information(&list, out);
            0
        }
        // [MS-FSCC] 2.4.30: the path from the share root as the file
        // system stores it; the root's is empty.
        fc::NORMALIZED_NAME => {
            let Some(FsReply::Path(p)) = extra else { return Err(NtStatus::INTERNAL_ERROR) };
            FileNameInformation { name: p }.encode(out);
            FileNameInformation::BYTES
        }
        fc::COMPRESSION => {
            FileCompressionInformation {
                compressed_file_size: i.size_bytes,
                compression_format: 0,
                compression_unit_shift: 0,
                chunk_shift: 0,
                cluster_shift: 0,
            }
            .encode(out);
            FileCompressionInformation::BYTES
        }
        // The same 8.3 name a directory listing shows (`short_name.rs`).
        // The root has no name: what Windows answers there.
        fc::ALTERNATE_NAME => {
            let last = o.path.rsplit(['\\', '/']).next().unwrap_or("");
            if last.is_empty() {
                return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
            }
            FileNameInformation { name: short_name(last) }.encode(out);
            FileNameInformation::BYTES
        }
        _ => return Err(NtStatus::INVALID_INFO_CLASS),
    })
}

/// The EAs of a GetEas reply, as SMB lists them.
fn smb_eas(extra: &Option<FsReply>) -> Vec<Ea> {
    match extra {
        Some(FsReply::Eas(v)) => v.iter().map(|e| Ea { flags: 0, name: e.name.clone(), value: e.value.to_vec() }).collect(),
        _ => Vec::new(),
    }
}
