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

pub(crate) use holdfast_types::checksum::crc32;

