//! File backend for persistent components.
//!
//! Layout of `objects/<object id>.obj` (see `docs/local-store.md`): a 4 KiB
//! header, then the object's bytes at file offset 4096.
//!
//! ```text
//! offset size field
//!  0     8    magic      "HFOBJ\0\0\x01"
//!  8     8    object_id  u64 LE
//! 16     8    size_bytes u64 LE
//! 24     4    crc32 of bytes 0..24 (IEEE), u32 LE
//! 28     4    zero
//! 32     8    applied_epoch u64 LE  (position of the last write applied;
//! 40     8    applied_seq   u64 LE   rewritten with every write, in one sector)
//! 48  4048    zero
//! ```
//! Durability: `sync` is `File::sync_data`, i.e. fdatasync(2), which the
//! component calls before a write is acknowledged.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use holdfast_types::{ObjectId, ObjectKind};

use crate::{BlockBackend, StoreError};

pub const FILE_HEADER_BYTES: u64 = 4096;
const MAGIC: &[u8; 8] = b"HFOBJ\0\0\x01";
const POSITION_OFFSET: u64 = 32;

pub struct FileBackend {
    file: File,
    path: PathBuf,
    len: u64,
}

fn crc32(data: &[u8]) -> u32 {
    holdfast_types::checksum::crc32(&[data])
}

fn header(object: ObjectId, len: u64) -> [u8; 28] {
    let mut h = [0u8; 28];
    h[0..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&object.to_le_bytes());
    h[16..24].copy_from_slice(&len.to_le_bytes());
    let c = crc32(&h[0..24]);
    h[24..28].copy_from_slice(&c.to_le_bytes());
    h
}

impl FileBackend {
    /// Creates a new component file (fails if one exists) and syncs it.
    pub fn create(path: &Path, object: ObjectId, len: u64) -> Result<FileBackend, StoreError> {
        let what = || format!("create {}", path.display());
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path).map_err(|e| StoreError::io(what(), e))?;
        file.set_len(FILE_HEADER_BYTES + len).map_err(|e| StoreError::io(what(), e))?;
        file.write_all_at(&header(object, len), 0).map_err(|e| StoreError::io(what(), e))?;
        file.sync_all().map_err(|e| StoreError::io(what(), e))?;
        if let Some(dir) = path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(what(), e))?;
        }
        Ok(FileBackend { file, path: path.to_path_buf(), len })
    }

    /// Opens an existing component file and checks its header.
    pub fn open(path: &Path, object: ObjectId, len: u64) -> Result<FileBackend, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io(format!("open {}", path.display()), e))?;
        let corrupt = |reason: String| StoreError::Corrupt { path: path.display().to_string(), reason };
        let mut h = [0u8; 28];
        file.read_exact_at(&mut h, 0).map_err(|e| corrupt(format!("cannot read header: {e}")))?;
        if &h[0..8] != MAGIC {
            return Err(corrupt("bad magic; not a Holdfast component file".into()));
        }
        if h != header(u64::from_le_bytes(h[8..16].try_into().expect("8")), u64::from_le_bytes(h[16..24].try_into().expect("8"))) {
            return Err(corrupt("header checksum mismatch".into()));
        }
        let (id, size) = (u64::from_le_bytes(h[8..16].try_into().expect("8")), u64::from_le_bytes(h[16..24].try_into().expect("8")));
        if id != object || size != len {
            return Err(corrupt(format!("holds object {id} of {size} bytes, expected object {object} of {len}")));
        }
        let meta = file.metadata().map_err(|e| StoreError::io(format!("stat {}", path.display()), e))?;
        if meta.len() < FILE_HEADER_BYTES + len {
            return Err(corrupt(format!("file is {} bytes, expected {}", meta.len(), FILE_HEADER_BYTES + len)));
        }
        Ok(FileBackend { file, path: path.to_path_buf(), len })
    }
}

impl BlockBackend for FileBackend {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Persistent
    }

    fn len_bytes(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StoreError> {
        self.file
            .read_exact_at(buf, FILE_HEADER_BYTES + offset)
            .map_err(|e| StoreError::io(format!("read {}", self.path.display()), e))
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        self.file
            .write_all_at(data, FILE_HEADER_BYTES + offset)
            .map_err(|e| StoreError::io(format!("write {}", self.path.display()), e))
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(|e| StoreError::io(format!("fdatasync {}", self.path.display()), e))
    }

    fn save_position(&self, position: (u64, u64)) -> Result<(), StoreError> {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&position.0.to_le_bytes());
        b[8..16].copy_from_slice(&position.1.to_le_bytes());
        self.file
            .write_all_at(&b, POSITION_OFFSET)
            .map_err(|e| StoreError::io(format!("write position to {}", self.path.display()), e))
    }

    fn load_position(&self) -> (u64, u64) {
        let mut b = [0u8; 16];
        if self.file.read_exact_at(&mut b, POSITION_OFFSET).is_err() {
            return (0, 0);
        }
        (u64::from_le_bytes(b[0..8].try_into().expect("8")), u64::from_le_bytes(b[8..16].try_into().expect("8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_known_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn create_write_reopen() {
        let dir = std::env::temp_dir().join(format!("hf-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("7.obj");
        let _ = std::fs::remove_file(&p);
        let b = FileBackend::create(&p, 7, 8192).unwrap();
        b.write_at(4096, b"hello").unwrap();
        b.save_position((3, 9)).unwrap();
        b.sync().unwrap();
        drop(b);
        let b = FileBackend::open(&p, 7, 8192).unwrap();
        let mut buf = [0u8; 5];
        b.read_at(4096, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!(b.load_position(), (3, 9));
        assert!(matches!(FileBackend::open(&p, 8, 8192), Err(StoreError::Corrupt { .. })));
        std::fs::write(&p, b"garbage").unwrap();
        assert!(matches!(FileBackend::open(&p, 7, 8192), Err(StoreError::Corrupt { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
