//! Security descriptors ([MS-DTYP] 2.4.6) per file, checked at open.
//!
//! A file or directory has a descriptor of its own only when one was given
//! (the SecD create context, SET_INFO SECURITY); it is kept in its internal
//! `::$SD` stream, so it is replicated and survives failover like data.
//! Every other one is computed from its parent's at each use: dynamic
//! inheritance ([MS-DTYP] 2.5.3.4 with the parent's owner and group), up
//! to the volume root, whose descriptor is [`root_default`] until one is
//! set. Storing nothing per create keeps a create one journal record; the
//! price is that a new file's owner is its parent's, not its creator's
//! (stored per file only with a descriptor of its own).

use std::sync::Arc;

use bytes::Bytes;
use holdfast_objfs::fs::{FileKind, Ino, ROOT_INO};
use holdfast_objfs::names::{is_stream, SD_STREAM};
use holdfast_types::access::*;
use holdfast_types::ntstatus::NtStatus;
use holdfast_types::security::{access_check, ace_flags, control, inherit, secinfo, well_known, Ace, Acl, SecurityDescriptor, SecurityError, Sid, Token};

use crate::internal_streams;
use crate::proto::Reply;
use crate::server::{Fail, FileServer};
use crate::volume::Volume;

/// Decoded descriptors kept per volume; cleared when it grows past this.
pub const SD_CACHE_ENTRIES_MAX: usize = 4096;

/// The volume root's descriptor until one is set: SYSTEM, Administrators
/// and every authenticated user may do anything, inherited by everything
/// below. Shares thus behave as before descriptors existed until an
/// administrator narrows them.
pub fn root_default() -> SecurityDescriptor {
    let all = ace_flags::OBJECT_INHERIT | ace_flags::CONTAINER_INHERIT;
    SecurityDescriptor {
        control: control::SELF_RELATIVE | control::DACL_PRESENT | control::DACL_AUTO_INHERITED,
        owner: Some(well_known::builtin_administrators()),
        group: Some(well_known::builtin_administrators()),
        sacl: None,
        dacl: Some(Acl::new(vec![
            Ace::allowed(well_known::local_system(), FILE_ALL_ACCESS, all),
            Ace::allowed(well_known::builtin_administrators(), FILE_ALL_ACCESS, all),
            Ace::allowed(well_known::authenticated_users(), FILE_ALL_ACCESS, all),
        ])),
    }
}

/// The token an open carries: user first, then groups.
pub fn token_of(sids: &[Sid]) -> Option<Token> {
    let (user, groups) = sids.split_first()?;
    Some(Token { user: user.clone(), groups: groups.to_vec() })
}

fn sd_fail(e: SecurityError) -> Fail {
    match e {
        SecurityError::AccessDenied { missing } => Fail::new(NtStatus::ACCESS_DENIED, format!("the security descriptor does not grant {missing:#x}")),
        e => Fail::new(NtStatus::INVALID_SECURITY_DESCR, e.to_string()),
    }
}

/// The inode whose descriptor `ino` has (a stream's is its file's).
fn sd_holder(vol: &Volume, ino: Ino) -> Result<Ino, Fail> {
    let a = vol.fs.stat(ino)?;
    Ok(if is_stream(&a.name) { a.parent } else { ino })
}

/// The descriptor stored for `ino` itself, if any.
async fn own_sd(vol: &Volume, ino: Ino) -> Result<Option<Arc<SecurityDescriptor>>, Fail> {
    if let Some(sd) = vol.sd_cache.lock().expect("sd cache").get(&ino) {
        return Ok(Some(sd.clone()));
    }
    let Some(raw) = internal_streams::read(vol, ino, SD_STREAM, holdfast_types::security::SD_BYTES_MAX as u64).await? else { return Ok(None) };
    let sd = SecurityDescriptor::decode(&raw).map_err(|e| Fail::new(NtStatus::FILE_CORRUPT_ERROR, format!("inode {ino}: stored security descriptor: {e}")))?;
    let sd = Arc::new(sd);
    let mut cache = vol.sd_cache.lock().expect("sd cache");
    if cache.len() >= SD_CACHE_ENTRIES_MAX {
        cache.clear();
    }
    cache.insert(ino, sd.clone());
    Ok(Some(sd))
}

/// The descriptor that applies to `ino` (a stream: its file's).
pub(crate) async fn effective_sd(vol: &Volume, ino: Ino) -> Result<SecurityDescriptor, Fail> {
    let mut chain = Vec::new();
    let mut cur = sd_holder(vol, ino)?;
    let mut sd = loop {
        if let Some(sd) = own_sd(vol, cur).await? {
            break (*sd).clone();
        }
        if cur == ROOT_INO {
            break root_default();
        }
        chain.push(cur);
        cur = vol.fs.stat(cur)?.parent;
        assert!(chain.len() <= holdfast_objfs::names::PATH_DEPTH_MAX + 1, "parent chain longer than the deepest path");
    };
    for &below in chain.iter().rev() {
        let is_dir = vol.fs.stat(below)?.kind == FileKind::Dir;
        let (owner, group) = owner_group(&sd);
        sd = inherit(Some(&sd), None, is_dir, &owner, &group);
    }
    Ok(sd)
}

fn owner_group(sd: &SecurityDescriptor) -> (Sid, Sid) {
    let owner = sd.owner.clone().unwrap_or_else(well_known::builtin_administrators);
    let group = sd.group.clone().unwrap_or_else(|| owner.clone());
    (owner, group)
}

/// Stores `sd` as `ino`'s own descriptor. The caller holds
/// `Volume::ea_lock` from reading what it merged into `sd`.
async fn store_sd(vol: &Volume, ino: Ino, sd: &SecurityDescriptor) -> Result<(), Fail> {
    sd.validate().map_err(sd_fail)?;
    internal_streams::write(vol, ino, SD_STREAM, &sd.encode()).await?;
    vol.sd_cache.lock().expect("sd cache").insert(ino, Arc::new(sd.clone()));
    Ok(())
}

/// What an open of existing `ino` is granted of `desired` by its
/// descriptor. DELETE is also granted when the parent allows
/// FILE_DELETE_CHILD (MS-FSA 2.1.5.1.2.1). ACCESS_SYSTEM_SECURITY is not
/// the descriptor's to grant; it passes through as before.
pub(crate) async fn check_existing(vol: &Volume, ino: Ino, token: &Token, desired: u32) -> Result<u32, Fail> {
    let system = desired & ACCESS_SYSTEM_SECURITY;
    let asked = desired & !ACCESS_SYSTEM_SECURITY;
    let sd = effective_sd(vol, ino).await?;
    let granted = match access_check(&sd, token, asked) {
        Ok(g) => g,
        Err(SecurityError::AccessDenied { missing }) if missing == DELETE && ino != ROOT_INO => {
            let parent = vol.fs.stat(sd_holder(vol, ino)?)?.parent;
            let psd = effective_sd(vol, parent).await?;
            access_check(&psd, token, FILE_DELETE_CHILD).map_err(sd_fail)?;
            access_check(&sd, token, asked & !DELETE).map_err(sd_fail)? | DELETE
        }
        Err(e) => return Err(sd_fail(e)),
    };
    Ok(granted | system)
}

/// Whether `token` may add an entry to directory `parent`.
pub(crate) async fn check_create(vol: &Volume, parent: Ino, dir: bool, token: &Token) -> Result<(), Fail> {
    let need = if dir { FILE_ADD_SUBDIRECTORY } else { FILE_ADD_FILE };
    access_check(&effective_sd(vol, parent).await?, token, need).map(|_| ()).map_err(sd_fail)
}

/// A new file's own descriptor from the one its creator gave (SecD):
/// owner and group as given (else the creator and the parent's group).
pub(crate) async fn store_created(vol: &Volume, ino: Ino, parent: Ino, dir: bool, token: &Token, creator: &[u8]) -> Result<(), Fail> {
    let creator = SecurityDescriptor::decode(creator).map_err(sd_fail)?;
    let psd = effective_sd(vol, parent).await?;
    let (_, group) = owner_group(&psd);
    let sd = inherit(Some(&psd), Some(&creator), dir, &token.user, &group);
    let _one = vol.ea_lock.lock().await;
    store_sd(vol, ino, &sd).await
}

impl FileServer {
    pub(crate) async fn get_security(&self, fid: u64) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let ino = vol.opens.lock().expect("opens lock").get(fid)?.ino;
        Ok(Reply::Data(Bytes::from(effective_sd(&vol, ino).await?.encode())))
    }

    /// SET_INFO SECURITY: the parts named in `info` replace the file's
    /// (its own from then on). OWNER and GROUP need WRITE_OWNER, the DACL
    /// WRITE_DAC, the SACL ACCESS_SYSTEM_SECURITY, held by the open.
    pub(crate) async fn set_security(&self, fid: u64, info: u32, sd: &[u8]) -> Result<Reply, Fail> {
        let vol = self.volume_of_fid(fid)?;
        let (ino, access) = {
            let opens = vol.opens.lock().expect("opens lock");
            let o = opens.get(fid)?;
            (o.ino, o.access)
        };
        let mut need = 0;
        for (bits, right) in [(secinfo::OWNER | secinfo::GROUP, WRITE_OWNER), (secinfo::DACL, WRITE_DAC), (secinfo::SACL, ACCESS_SYSTEM_SECURITY)] {
            if info & bits != 0 {
                need |= right;
            }
        }
        if access & need != need {
            return Err(Fail::new(NtStatus::ACCESS_DENIED, format!("setting the descriptor needs {need:#x}; the open holds {access:#x}")));
        }
        if info & (secinfo::OWNER | secinfo::GROUP | secinfo::DACL | secinfo::SACL) == 0 {
            return Ok(Reply::Empty);
        }
        let new = SecurityDescriptor::decode(sd).map_err(sd_fail)?;
        let holder = sd_holder(&vol, ino)?;
        let _one = vol.ea_lock.lock().await;
        let mut sd = effective_sd(&vol, holder).await?;
        sd.merge(&new, info).map_err(sd_fail)?;
        store_sd(&vol, holder, &sd).await?;
        Ok(Reply::Empty)
    }
}

#[cfg(test)]
#[path = "security_tests.rs"]
mod tests;
