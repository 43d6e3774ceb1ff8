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
//! 48     8    synced_epoch  u64 LE  (position the last completed fdatasync
//! 56     8    synced_seq    u64 LE   covered; written after it returns)
//! 64    16    boot_id       the host boot (Linux boot_id) that last opened it
//! 80     8    unclean       1 after a host restart lost unsynced writes,
//!                           until the copy is a rebuild source or rebuilt
//! 88  4008    zero
//! ```
//! Durability: `sync` is `File::sync_data`, i.e. fdatasync(2). Writes are
//! acknowledged once in the page cache (host RAM); the component syncs in
//! the background within its disk-lag bounds, and on FLUSH
//! (`docs/local-store.md`, "Disk lag").

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use holdfast_types::{ObjectId, ObjectKind};

use crate::{BlockBackend, StoreError};

pub const FILE_HEADER_BYTES: u64 = 4096;
const MAGIC: &[u8; 8] = b"HFOBJ\0\0\x01";
const POSITION_OFFSET: u64 = 32;
const SYNCED_OFFSET: u64 = 48;
const BOOT_ID_OFFSET: u64 = 64;
const UNCLEAN_OFFSET: u64 = 80;

/// Test knob: stands in for the kernel's boot id, so a test can make a
/// node restart look like a host restart (a power loss) to its files.
pub const TEST_BOOT_ID_ENV: &str = "HOLDFAST_TEST_BOOT_ID";

/// This host boot's identity: the page cache (and so every write that
/// returned but was not yet synced) lives exactly as long as it. Zero when
/// the kernel does not say, which makes every restart look like a process
/// restart (the pre-lag behaviour).
pub fn current_boot_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    if let Some(v) = std::env::var_os(TEST_BOOT_ID_ENV) {
        let b = v.as_encoded_bytes();
        id[..b.len().min(16)].copy_from_slice(&b[..b.len().min(16)]);
        return id;
    }
    if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
        let hex: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        for (i, pair) in hex.chunks(2).take(16).enumerate() {
            let txt = std::str::from_utf8(pair).unwrap_or("0");
            id[i] = u8::from_str_radix(txt, 16).unwrap_or(0);
        }
    }
    id
}

pub struct FileBackend {
    file: File,
    path: PathBuf,
    len: u64,
    /// See `BlockBackend::unclean`.
    unclean: std::sync::atomic::AtomicBool,
}

fn read_u64_pair(file: &File, at: u64) -> (u64, u64) {
    let mut b = [0u8; 16];
    if file.read_exact_at(&mut b, at).is_err() {
        return (0, 0);
    }
    (u64::from_le_bytes(b[0..8].try_into().expect("8")), u64::from_le_bytes(b[8..16].try_into().expect("8")))
}

fn write_u64_pair(file: &File, path: &Path, at: u64, pair: (u64, u64)) -> std::io::Result<()> {
    let mut b = [0u8; 16];
    b[0..8].copy_from_slice(&pair.0.to_le_bytes());
    b[8..16].copy_from_slice(&pair.1.to_le_bytes());
    write_at(file, path, &b, at)
}

/// Every write to an open component file goes through here, so the
/// simulation's page cache (`sim_disk`) sees it.
fn write_at(file: &File, path: &Path, data: &[u8], at: u64) -> std::io::Result<()> {
    #[cfg(feature = "test-switches")]
    crate::sim_disk::before_write(path, file, at, data.len());
    #[cfg(not(feature = "test-switches"))]
    let _ = path;
    file.write_all_at(data, at)
}

fn sync_data(file: &File, path: &Path) -> Result<(), StoreError> {
    file.sync_data().map_err(|e| StoreError::io(format!("fdatasync {}", path.display()), e))?;
    #[cfg(feature = "test-switches")]
    crate::sim_disk::after_sync(path);
    Ok(())
}

/// The boot id a component file at `path` is opened under: the kernel's,
/// or in the simulation the simulated host's after a power loss.
fn boot_id_of(path: &Path) -> [u8; 16] {
    #[cfg(feature = "test-switches")]
    if let Some(id) = crate::sim_disk::boot_id(path) {
        return id;
    }
    #[cfg(not(feature = "test-switches"))]
    let _ = path;
    current_boot_id()
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
        // Only the node's user may read a copy of a volume.
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(path).map_err(|e| StoreError::io(what(), e))?;
        file.set_len(FILE_HEADER_BYTES + len).map_err(|e| StoreError::io(what(), e))?;
        file.write_all_at(&header(object, len), 0).map_err(|e| StoreError::io(what(), e))?;
        file.write_all_at(&boot_id_of(path), BOOT_ID_OFFSET).map_err(|e| StoreError::io(what(), e))?;
        file.sync_all().map_err(|e| StoreError::io(what(), e))?;
        if let Some(dir) = path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(what(), e))?;
        }
        Ok(FileBackend { file, path: path.to_path_buf(), len, unclean: false.into() })
    }

    /// Opens an existing component file and checks its header.
    pub fn open(path: &Path, object: ObjectId, len: u64) -> Result<FileBackend, StoreError> {
        Self::open_at_boot(path, object, len, boot_id_of(path))
    }

    /// [`FileBackend::open`] as if the host's boot were `boot_id` (tests
    /// stand in a new boot for a power loss).
    pub fn open_at_boot(path: &Path, object: ObjectId, len: u64, boot_id: [u8; 16]) -> Result<FileBackend, StoreError> {
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
        let mut last_boot = [0u8; 16];
        file.read_exact_at(&mut last_boot, BOOT_ID_OFFSET).map_err(|e| corrupt(format!("cannot read header: {e}")))?;
        let header_err = |e| StoreError::io(format!("write header of {}", path.display()), e);
        let mut unclean = read_u64_pair(&file, UNCLEAN_OFFSET).0 == 1;
        // A zero boot id is a file whose every write was synced before it
        // was acknowledged (written before disk lag existed), or a host
        // that names no boot: nothing unsynced can have been lost.
        if last_boot != [0u8; 16] && last_boot != boot_id {
            // The host restarted: writes after the last sync may be lost or
            // half there. Only the synced position is certain; say so on
            // disk before anything else happens to the file.
            unclean = true;
            let synced = read_u64_pair(&file, SYNCED_OFFSET);
            write_u64_pair(&file, path, POSITION_OFFSET, synced).map_err(header_err)?;
            write_u64_pair(&file, path, UNCLEAN_OFFSET, (1, 0)).map_err(header_err)?;
            write_at(&file, path, &boot_id, BOOT_ID_OFFSET).map_err(header_err)?;
            sync_data(&file, path)?;
        } else if last_boot != boot_id {
            write_at(&file, path, &boot_id, BOOT_ID_OFFSET).map_err(header_err)?;
        }
        Ok(FileBackend { file, path: path.to_path_buf(), len, unclean: unclean.into() })
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
        write_at(&self.file, &self.path, data, FILE_HEADER_BYTES + offset).map_err(|e| StoreError::io(format!("write {}", self.path.display()), e))
    }

    fn sync(&self) -> Result<(), StoreError> {
        sync_data(&self.file, &self.path)
    }

    fn save_position(&self, position: (u64, u64)) -> Result<(), StoreError> {
        write_u64_pair(&self.file, &self.path, POSITION_OFFSET, position).map_err(|e| StoreError::io(format!("write position to {}", self.path.display()), e))
    }

    fn load_position(&self) -> (u64, u64) {
        read_u64_pair(&self.file, POSITION_OFFSET)
    }

    fn save_synced(&self, position: (u64, u64)) -> Result<(), StoreError> {
        write_u64_pair(&self.file, &self.path, SYNCED_OFFSET, position).map_err(|e| StoreError::io(format!("write synced position to {}", self.path.display()), e))
    }

    fn unclean(&self) -> bool {
        self.unclean.load(std::sync::atomic::Ordering::Acquire)
    }

    fn mark_clean(&self) -> Result<(), StoreError> {
        if self.unclean.swap(false, std::sync::atomic::Ordering::AcqRel) {
            write_u64_pair(&self.file, &self.path, UNCLEAN_OFFSET, (0, 0)).map_err(|e| StoreError::io(format!("write header of {}", self.path.display()), e))?;
        }
        Ok(())
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
        assert!(!b.unclean());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600, "a component file is the node user's alone");
        b.save_synced((3, 7)).unwrap();
        b.save_position((3, 10)).unwrap();
        drop(b);
        // A process restart in the same boot: the page cache kept it all.
        let b = FileBackend::open(&p, 7, 8192).unwrap();
        assert!(!b.unclean());
        assert_eq!(b.load_position(), (3, 10));
        drop(b);
        // A power loss: the next open is in another boot, and only the
        // synced position is certain.
        let b = FileBackend::open_at_boot(&p, 7, 8192, [9; 16]).unwrap();
        assert!(b.unclean());
        assert_eq!(b.load_position(), (3, 7));
        drop(b);
        // Still unclean after a process restart in the new boot, until a
        // rebuild or convergence says otherwise.
        let b = FileBackend::open_at_boot(&p, 7, 8192, [9; 16]).unwrap();
        assert!(b.unclean());
        b.mark_clean().unwrap();
        drop(b);
        let b = FileBackend::open_at_boot(&p, 7, 8192, [9; 16]).unwrap();
        assert!(!b.unclean());
        drop(b);
        assert!(matches!(FileBackend::open(&p, 8, 8192), Err(StoreError::Corrupt { .. })));
        std::fs::write(&p, b"garbage").unwrap();
        assert!(matches!(FileBackend::open(&p, 7, 8192), Err(StoreError::Corrupt { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
