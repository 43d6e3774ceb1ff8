//! Small durable-file helpers shared by the log store and the state machine.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An I/O failure with the file and operation that failed, so an operator
/// reading the log knows which file to look at.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub(crate) struct FileError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

pub(crate) fn file_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FileError + 'a {
    move |source| FileError { op, path: path.to_path_buf(), source }
}

/// Replaces `path` with `bytes` so that after a crash the file holds either
/// the old or the new contents, never a mix: write a sibling temp file, fsync
/// it, rename it over the target, then fsync the directory so the rename
/// itself survives power loss.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let tmp = tmp_path(path);
    {
        let mut f =
            OpenOptions::new().write(true).create(true).truncate(true).open(&tmp).map_err(file_err("create", &tmp))?;
        f.write_all(bytes).map_err(file_err("write", &tmp))?;
        f.sync_all().map_err(file_err("fsync", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(file_err("rename into place", path))?;
    sync_parent(path)
}

/// Reads a whole file, or `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, FileError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FileError { op: "read", path: path.to_path_buf(), source: e }),
    }
}

pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// A new directory entry (create or rename) is only durable once the
/// directory itself has been fsynced.
pub(crate) fn sync_parent(path: &Path) -> Result<(), FileError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let d = File::open(dir).map_err(file_err("open directory", dir))?;
    d.sync_all().map_err(file_err("fsync directory", dir))
}

/// CRC-32 (IEEE 802.3, the zlib/PNG polynomial), table driven. Written out
/// here rather than pulled in as a crate: it is twenty lines and the log is
/// the only user.
pub(crate) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &b in *part {
            crc = CRC_TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
        }
    }
    !crc
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_reference_vector() {
        // The standard check value for CRC-32/ISO-HDLC.
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[]), 0);
    }
}
