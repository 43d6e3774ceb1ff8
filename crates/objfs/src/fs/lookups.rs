//! Lookups: what a client sees of the namespace, under the state lock
//! and with no I/O.

use super::*;

impl<D: Device> Fs<D> {
    pub fn stat(&self, ino: Ino) -> Result<Attr, FsError> {
        self.lock().meta.attr_of(ino)
    }

    /// The entry `name` of directory `parent`, or the stream `:name` of
    /// file or directory `parent`.
    pub fn lookup(&self, parent: Ino, name: &str) -> Result<Attr, FsError> {
        validate_stored_name(name)?;
        let st = self.lock();
        let p = st.meta.container(parent, name)?;
        let c = st.meta.child(p, name).ok_or(FsError::NotFound)?;
        st.meta.attr_of(c)
    }

    /// The alternate data streams of a file or directory, by folded name;
    /// objfs' internal streams are not among them.
    pub fn streams(&self, ino: Ino) -> Result<Vec<Attr>, FsError> {
        let st = self.lock();
        let n = st.meta.get(ino)?;
        n.streams.iter().filter(|(k, _)| !crate::names::is_internal_stream(k)).map(|(_, &s)| st.meta.attr_of(s)).collect()
    }

    pub fn resolve(&self, names: &[&str]) -> Result<Attr, FsError> {
        self.resolve_from(ROOT_INO, names)
    }

    /// Walks `names` down from directory `start` (a share's root).
    pub fn resolve_from(&self, start: Ino, names: &[&str]) -> Result<Attr, FsError> {
        for n in names {
            validate_name(n)?;
        }
        let st = self.lock();
        let mut cur = st.meta.get(start)?;
        for (i, n) in names.iter().enumerate() {
            if cur.kind != FileKind::Dir {
                return Err(FsError::PathNotFound);
            }
            match st.meta.child(cur, n) {
                Some(c) => cur = st.meta.get(c)?,
                None if i + 1 == names.len() => return Err(FsError::NotFound),
                None => return Err(FsError::PathNotFound),
            }
        }
        Ok(cur.attr())
    }

    pub fn path_of(&self, ino: Ino) -> Result<String, FsError> {
        self.lock().meta.path_of(ino)
    }

    pub fn readdir(&self, dir: Ino, after: Option<&str>, max: usize) -> Result<Vec<DirEntry>, FsError> {
        let st = self.lock();
        let d = st.meta.dir(dir)?;
        let start = match after {
            Some(a) => Bound::Excluded(fold(a)),
            None => Bound::Unbounded,
        };
        d.children
            .range((start, Bound::Unbounded))
            .take(max)
            .map(|(_, &ino)| {
                let a = st.meta.attr_of(ino)?;
                Ok(DirEntry { name: a.name.clone(), attr: a })
            })
            .collect()
    }

    pub fn statfs(&self) -> StatFs {
        let mut st = self.lock();
        self.reclaim(&mut st);
        StatFs {
            block_bytes: BLOCK_BYTES,
            data_blocks: self.geo.data_blocks,
            free_blocks: st.alloc.free_blocks() + st.deferred.blocks(),
            inodes: st.meta.inodes.len() as u64,
        }
    }
}
