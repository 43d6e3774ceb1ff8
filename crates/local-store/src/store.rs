//! The components on this host, and the memory budget they share.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use holdfast_types::{ObjectId, ObjectKind};

use crate::file::FileBackend;
use crate::memory::MemoryBackend;
use crate::component::DiskLag;
use crate::{Component, StoreError};

pub struct LocalStore {
    objects_dir: PathBuf,
    memory_bytes_max: u64,
    memory_used_bytes: Mutex<u64>,
    components: RwLock<HashMap<ObjectId, Arc<Component>>>,
    /// Given to every persistent component this store opens or creates.
    disk_lag: DiskLag,
    /// BREAKS FENCING ON PURPOSE: every component this store opens or
    /// creates accepts commands whatever their epoch (`check_epoch` skips
    /// its comparison), so a deposed owner's late frames change a fenced
    /// copy. Only so that the simulator can show its oracle catches it.
    #[cfg(feature = "test-switches")]
    test_only_accept_stale_epochs: bool,
}

impl LocalStore {
    /// Opens the store whose persistent components live in `data_dir/objects`.
    pub fn open(data_dir: &Path, memory_bytes_max: u64) -> Result<LocalStore, StoreError> {
        let objects_dir = data_dir.join("objects");
        // 0700: only the node's user may list or open its components.
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let what = || format!("create {}", objects_dir.display());
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&objects_dir).map_err(|e| StoreError::io(what(), e))?;
        std::fs::set_permissions(&objects_dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| StoreError::io(what(), e))?;
        Ok(LocalStore {
            objects_dir,
            memory_bytes_max,
            memory_used_bytes: Mutex::new(0),
            components: RwLock::new(HashMap::new()),
            disk_lag: DiskLag::default(),
            #[cfg(feature = "test-switches")]
            test_only_accept_stale_epochs: false,
        })
    }

    /// See the field `test_only_accept_stale_epochs`.
    #[cfg(feature = "test-switches")]
    pub fn with_test_only_accept_stale_epochs(mut self, on: bool) -> LocalStore {
        self.test_only_accept_stale_epochs = on;
        self
    }

    /// Sets the disk lag of the persistent components opened from now on.
    pub fn with_disk_lag(mut self, lag: DiskLag) -> LocalStore {
        self.disk_lag = lag;
        self
    }

    /// Persistent components whose oldest unsynced write is older than
    /// their `dirty_age_max` at `now`: the node syncs them.
    pub fn sync_due_by_age(&self, now: std::time::Instant) -> Vec<Arc<Component>> {
        self.list().into_iter().filter(|c| c.sync_due_by_age(now)).collect()
    }

    pub fn memory_bytes_max(&self) -> u64 {
        self.memory_bytes_max
    }

    pub fn memory_used_bytes(&self) -> u64 {
        *self.memory_used_bytes.lock().expect("budget lock")
    }

    fn path_of(&self, object: ObjectId) -> PathBuf {
        self.objects_dir.join(format!("{object}.obj"))
    }

    /// Ids of persistent component files on disk (whether valid or not;
    /// [`LocalStore::open_persistent`] checks them).
    pub fn persistent_on_disk(&self) -> Vec<ObjectId> {
        let Ok(rd) = std::fs::read_dir(&self.objects_dir) else { return Vec::new() };
        let mut ids: Vec<ObjectId> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".obj")?.parse().ok())
            .collect();
        ids.sort();
        ids
    }

    pub fn get(&self, object: ObjectId) -> Option<Arc<Component>> {
        self.components.read().expect("components lock").get(&object).cloned()
    }

    pub fn list(&self) -> Vec<Arc<Component>> {
        self.components.read().expect("components lock").values().cloned().collect()
    }

    #[cfg_attr(not(feature = "test-switches"), allow(unused_mut))]
    fn insert(&self, mut c: Component) -> Result<Arc<Component>, StoreError> {
        #[cfg(feature = "test-switches")]
        {
            c.test_only_accept_stale_epochs = self.test_only_accept_stale_epochs;
        }
        let mut map = self.components.write().expect("components lock");
        if map.contains_key(&c.object) {
            return Err(StoreError::Exists(c.object));
        }
        let c = Arc::new(c);
        map.insert(c.object, c.clone());
        Ok(c)
    }

    /// Creates an empty memory component, charged to the budget.
    pub fn create_memory(&self, object: ObjectId, size_bytes: u64) -> Result<Arc<Component>, StoreError> {
        {
            let mut used = self.memory_used_bytes.lock().expect("budget lock");
            if *used + size_bytes > self.memory_bytes_max {
                return Err(StoreError::MemoryBudget { used: *used, max: self.memory_bytes_max, want: size_bytes });
            }
            *used += size_bytes;
        }
        let r = self.insert(Component::new(object, Box::new(MemoryBackend::new(size_bytes))));
        if r.is_err() {
            *self.memory_used_bytes.lock().expect("budget lock") -= size_bytes;
        }
        r
    }

    /// Creates a new, zeroed persistent component file.
    pub fn create_persistent(&self, object: ObjectId, size_bytes: u64) -> Result<Arc<Component>, StoreError> {
        if self.get(object).is_some() {
            return Err(StoreError::Exists(object));
        }
        let b = FileBackend::create(&self.path_of(object), object, size_bytes)?;
        self.insert(Component::with_lag(object, Box::new(b), self.disk_lag))
    }

    /// Opens a persistent component that survived a restart.
    pub fn open_persistent(&self, object: ObjectId, size_bytes: u64) -> Result<Arc<Component>, StoreError> {
        let b = FileBackend::open(&self.path_of(object), object, size_bytes)?;
        self.insert(Component::with_lag(object, Box::new(b), self.disk_lag))
    }

    /// Removes a persistent component file that is not open (for example a
    /// corrupt one about to be rebuilt from scratch). Missing is fine.
    pub fn discard_persistent_file(&self, object: ObjectId) -> Result<(), StoreError> {
        assert!(self.get(object).is_none(), "component {object} is open");
        let p = self.path_of(object);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(format!("remove {}", p.display()), e)),
        }
    }

    /// Drops a component; a persistent one's file is removed too.
    pub fn remove(&self, object: ObjectId) -> Result<(), StoreError> {
        let c = self.components.write().expect("components lock").remove(&object);
        let Some(c) = c else { return Err(StoreError::NoComponent(object)) };
        match c.kind() {
            ObjectKind::Memory => *self.memory_used_bytes.lock().expect("budget lock") -= c.size_bytes(),
            ObjectKind::Persistent => {
                let p = self.path_of(object);
                std::fs::remove_file(&p).map_err(|e| StoreError::io(format!("remove {}", p.display()), e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_enforced() {
        let dir = std::env::temp_dir().join(format!("hf-store-{}", std::process::id()));
        let s = LocalStore::open(&dir, 1 << 20).unwrap();
        s.create_memory(1, 512 * 1024).unwrap();
        assert!(matches!(s.create_memory(2, 1 << 20), Err(StoreError::MemoryBudget { .. })));
        assert!(matches!(s.create_memory(1, 4096), Err(StoreError::Exists(1))));
        assert_eq!(s.memory_used_bytes(), 512 * 1024);
        s.remove(1).unwrap();
        s.create_memory(2, 1 << 20).unwrap();
        s.create_persistent(3, 8192).unwrap();
        assert_eq!(s.persistent_on_disk(), vec![3]);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dir.join("objects")).unwrap().permissions().mode() & 0o777, 0o700, "the objects directory is the node user's alone");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
