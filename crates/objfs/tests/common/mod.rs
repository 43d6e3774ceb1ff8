//! Shared by the model and crash tests: a path-based op language, a plain
//! in-memory model of what the file system must hold, and a dump of a
//! mounted file system in the same shape.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use bytes::Bytes;
use holdfast_objfs::fs::{FileKind, FormatOptions, Fs, LayoutOptions, SetAttr, ROOT_INO};
use holdfast_objfs::names::fold;
use holdfast_objfs::{Device, FsError, MemDevice};
use holdfast_types::HoldfastError;
use proptest::prelude::*;

pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

pub fn format_opts() -> FormatOptions {
    FormatOptions { volume_id: *b"holdfast-test-01", label: "test".into(), now: 1000 }
}

/// A formatted image of `size` bytes.
pub async fn formatted(size: u64, layout: &LayoutOptions) -> Vec<u8> {
    let dev = MemDevice::new(size);
    Fs::format_with_layout(&dev, &format_opts(), layout).await.expect("format");
    dev.image()
}

#[derive(Clone, Debug)]
pub enum TOp {
    Create { path: Vec<String>, dir: bool, attributes: u32 },
    Write { path: Vec<String>, offset: u64, len: usize, seed: u8 },
    SetSize { path: Vec<String>, size: u64 },
    Rename { src: Vec<String>, dst: Vec<String>, replace: bool },
    Remove { path: Vec<String> },
    SetAttr { path: Vec<String>, attributes: u32 },
    Checkpoint,
    Remount,
}

pub fn data_for(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_mul(31).wrapping_add((i % 251) as u8).wrapping_add((i / 4096) as u8) | 1).collect()
}

pub fn err_kind(e: &FsError) -> &'static str {
    match e {
        FsError::NotFound => "NotFound",
        FsError::PathNotFound => "PathNotFound",
        FsError::Exists => "Exists",
        FsError::NotDir => "NotDir",
        FsError::IsDir => "IsDir",
        FsError::NotEmpty => "NotEmpty",
        FsError::AccessDenied(_) => "AccessDenied",
        FsError::DiskFull => "DiskFull",
        FsError::MetadataFull(_) => "MetadataFull",
        FsError::TooLarge(_) => "TooLarge",
        FsError::Invalid(_) => "Invalid",
        FsError::Name(_) => "Name",
        FsError::NotFormatted => "NotFormatted",
        FsError::Foreign(_) => "Foreign",
        FsError::Corrupt(_) => "Corrupt",
        FsError::Device(_) => "Device",
    }
}

pub type Outcome = Result<(), &'static str>;

fn strs(p: &[String]) -> Vec<&str> {
    p.iter().map(|s| s.as_str()).collect()
}

/// Runs one op against the file system, resolving paths as a file server
/// would. Remount is the caller's business.
pub async fn run_op<D: Device>(fs: &Fs<D>, op: &TOp, now: u64) -> Outcome {
    let r: Result<(), FsError> = async {
        match op {
            TOp::Create { path, dir, attributes } => {
                let (last, parent) = path.split_last().expect("non-empty path");
                let p = fs.resolve(&strs(parent))?;
                let kind = if *dir { FileKind::Dir } else { FileKind::File };
                fs.create(p.ino, last, kind, *attributes, now).await.map(|_| ())
            }
            TOp::Write { path, offset, len, seed } => {
                let a = fs.resolve(&strs(path))?;
                fs.write(a.ino, *offset, &data_for(*seed, *len), now).await.map(|_| ())
            }
            TOp::SetSize { path, size } => {
                let a = fs.resolve(&strs(path))?;
                fs.set_size(a.ino, *size, now).await.map(|_| ())
            }
            TOp::Rename { src, dst, replace } => {
                let (sl, sp) = src.split_last().expect("non-empty path");
                let (dl, dp) = dst.split_last().expect("non-empty path");
                let sp = fs.resolve(&strs(sp))?;
                let dp = fs.resolve(&strs(dp))?;
                fs.rename(sp.ino, sl, dp.ino, dl, *replace, now).await.map(|_| ())
            }
            TOp::Remove { path } => {
                let (last, parent) = path.split_last().expect("non-empty path");
                let p = fs.resolve(&strs(parent))?;
                fs.remove(p.ino, last).await
            }
            TOp::SetAttr { path, attributes } => {
                let a = fs.resolve(&strs(path))?;
                fs.set_attr(a.ino, &SetAttr { attributes: Some(*attributes), ..Default::default() }).await.map(|_| ())
            }
            TOp::Checkpoint => fs.checkpoint().await,
            TOp::Remount => Ok(()),
        }
    }
    .await;
    r.map_err(|e| err_kind(&e))
}

/// One entry of a dump: kind, attributes, contents.
pub type Dump = BTreeMap<String, (FileKind, u32, Vec<u8>)>;

/// Everything visible in a mounted file system, by display path.
pub async fn dump<D: Device>(fs: &Fs<D>) -> Dump {
    let mut out = Dump::new();
    let all = holdfast_objfs::fs::walk(fs, ROOT_INO).expect("walk");
    for (path, a) in all {
        let mut data = Vec::new();
        if a.kind == FileKind::File {
            while (data.len() as u64) < a.size_bytes {
                let chunk = fs.read(a.ino, data.len() as u64, 1 << 20).await.expect("read");
                assert!(!chunk.is_empty(), "short read of {path} at {}", data.len());
                data.extend_from_slice(&chunk);
            }
            assert_eq!(data.len() as u64, a.size_bytes, "{path}");
            assert!(a.allocation_bytes >= a.size_bytes);
            assert_eq!(fs.read(a.ino, a.size_bytes, 10).await.expect("read at eof"), Vec::<u8>::new());
        }
        assert_eq!(fs.path_of(a.ino).expect("path_of"), path);
        out.insert(path, (a.kind, a.attributes, data));
    }
    out
}

#[derive(Clone, Debug, PartialEq)]
pub struct MNode {
    pub name: String,
    pub kind: FileKind,
    pub attributes: u32,
    pub data: Vec<u8>,
    pub children: BTreeMap<String, MNode>,
}

impl MNode {
    fn new(name: &str, kind: FileKind, attributes: u32) -> MNode {
        MNode { name: name.to_string(), kind, attributes, data: Vec::new(), children: BTreeMap::new() }
    }
}

/// The plain model: a tree keyed by folded names, holding display names.
#[derive(Clone, Debug)]
pub struct Model {
    pub root: MNode,
}

impl Default for Model {
    fn default() -> Self {
        Model { root: MNode::new("", FileKind::Dir, 0x10) }
    }
}

impl Model {
    fn resolve(&self, path: &[String]) -> Result<&MNode, &'static str> {
        let mut cur = &self.root;
        for (i, n) in path.iter().enumerate() {
            if cur.kind != FileKind::Dir {
                return Err("PathNotFound");
            }
            match cur.children.get(&fold(n)) {
                Some(c) => cur = c,
                None if i + 1 == path.len() => return Err("NotFound"),
                None => return Err("PathNotFound"),
            }
        }
        Ok(cur)
    }

    fn resolve_mut(&mut self, path: &[String]) -> &mut MNode {
        let mut cur = &mut self.root;
        for n in path {
            cur = cur.children.get_mut(&fold(n)).expect("resolved before");
        }
        cur
    }

    pub fn apply(&mut self, op: &TOp) -> Outcome {
        match op {
            TOp::Create { path, dir, attributes } => {
                let (last, parent) = path.split_last().expect("path");
                let p = self.resolve(parent)?;
                if p.kind != FileKind::Dir {
                    return Err("NotDir");
                }
                if p.children.contains_key(&fold(last)) {
                    return Err("Exists");
                }
                let kind = if *dir { FileKind::Dir } else { FileKind::File };
                self.resolve_mut(parent).children.insert(fold(last), MNode::new(last, kind, *attributes));
            }
            TOp::Write { path, offset, len, seed } => {
                if self.resolve(path)?.kind == FileKind::Dir {
                    return Err("IsDir");
                }
                let n = self.resolve_mut(path);
                if *len > 0 {
                    let end = *offset as usize + len;
                    if n.data.len() < end {
                        n.data.resize(end, 0);
                    }
                    n.data[*offset as usize..end].copy_from_slice(&data_for(*seed, *len));
                }
            }
            TOp::SetSize { path, size } => {
                if self.resolve(path)?.kind == FileKind::Dir {
                    return Err("IsDir");
                }
                self.resolve_mut(path).data.resize(*size as usize, 0);
            }
            TOp::Rename { src, dst, replace } => {
                let (sl, spath) = src.split_last().expect("path");
                let (dl, dpath) = dst.split_last().expect("path");
                let sp = self.resolve(spath)?;
                let dp = self.resolve(dpath)?;
                if sp.kind != FileKind::Dir {
                    return Err("NotDir");
                }
                let s = sp.children.get(&fold(sl)).ok_or("NotFound")?;
                if dp.kind != FileKind::Dir {
                    return Err("NotDir");
                }
                let fsrc: Vec<String> = src.iter().map(|n| fold(n)).collect();
                let fdst: Vec<String> = dpath.iter().map(|n| fold(n)).collect();
                if s.kind == FileKind::Dir && fdst.starts_with(&fsrc) {
                    return Err("Invalid");
                }
                let same_dir = spath.iter().map(|n| fold(n)).collect::<Vec<_>>() == fdst;
                let same = same_dir && fold(sl) == fold(dl);
                if !same {
                    if let Some(t) = dp.children.get(&fold(dl)) {
                        if !replace {
                            return Err("Exists");
                        }
                        if t.kind == FileKind::Dir {
                            return Err("AccessDenied");
                        }
                    }
                }
                let mut node = self.resolve_mut(spath).children.remove(&fold(sl)).expect("found");
                node.name = dl.clone();
                self.resolve_mut(dpath).children.insert(fold(dl), node);
            }
            TOp::Remove { path } => {
                let (last, parent) = path.split_last().expect("path");
                let p = self.resolve(parent)?;
                if p.kind != FileKind::Dir {
                    return Err("NotDir");
                }
                let c = p.children.get(&fold(last)).ok_or("NotFound")?;
                if c.kind == FileKind::Dir && !c.children.is_empty() {
                    return Err("NotEmpty");
                }
                self.resolve_mut(parent).children.remove(&fold(last));
            }
            TOp::SetAttr { path, attributes } => {
                self.resolve(path)?;
                self.resolve_mut(path).attributes = *attributes;
            }
            TOp::Checkpoint | TOp::Remount => {}
        }
        Ok(())
    }

    pub fn dump(&self) -> Dump {
        let mut out = Dump::new();
        let mut stack: Vec<(&MNode, String)> = vec![(&self.root, String::new())];
        while let Some((n, prefix)) = stack.pop() {
            for c in n.children.values() {
                let path = if prefix.is_empty() { c.name.clone() } else { format!("{prefix}\\{}", c.name) };
                out.insert(path.clone(), (c.kind, c.attributes, c.data.clone()));
                if c.kind == FileKind::Dir {
                    stack.push((c, path));
                }
            }
        }
        out
    }
}

pub fn describe_diff(a: &Dump, b: &Dump) -> String {
    let mut s = String::new();
    for (k, v) in a {
        match b.get(k) {
            None => s.push_str(&format!("only in first: {k}\n")),
            Some(w) if w != v => s.push_str(&format!("differs: {k} ({:?} {} {} bytes vs {:?} {} {} bytes)\n", v.0, v.1, v.2.len(), w.0, w.1, w.2.len())),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            s.push_str(&format!("only in second: {k}\n"));
        }
    }
    s
}

// ---- strategies ----

pub const NAMES: [&str; 6] = ["a", "A", "b", "B", "c", "Dd"];

/// How an abstract op names a path; resolved against the model when the
/// op runs, so most ops hit existing entries (with random case changes)
/// instead of failing with NotFound.
#[derive(Clone, Debug)]
pub enum PathSel {
    /// The idx-th existing entry; bit i of `flip` swaps the case of
    /// component i.
    Existing { idx: usize, flip: u8 },
    /// A new name under the idx-th existing directory (or the root).
    ChildOfDir { idx: usize, name: String },
    Random(Vec<String>),
}

#[derive(Clone, Debug)]
pub enum AOp {
    Create { path: PathSel, dir: bool, attributes: u32 },
    Write { path: PathSel, offset: u64, len: usize, seed: u8 },
    SetSize { path: PathSel, size: u64 },
    Rename { src: PathSel, dst: PathSel, replace: bool },
    Remove { path: PathSel },
    SetAttr { path: PathSel, attributes: u32 },
    Checkpoint,
    Remount,
}

fn swap_case(s: &str) -> String {
    s.chars().map(|c| if c.is_uppercase() { c.to_lowercase().next().unwrap_or(c) } else { c.to_uppercase().next().unwrap_or(c) }).collect()
}

impl Model {
    /// Existing paths (display names) in a stable order; dirs_only adds the
    /// root as the empty path.
    fn paths(&self, dirs_only: bool) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        if dirs_only {
            out.push(Vec::new());
        }
        let mut stack: Vec<(&MNode, Vec<String>)> = vec![(&self.root, Vec::new())];
        while let Some((n, prefix)) = stack.pop() {
            for c in n.children.values() {
                let mut p = prefix.clone();
                p.push(c.name.clone());
                if c.kind == FileKind::Dir {
                    stack.push((c, p.clone()));
                }
                if !dirs_only || c.kind == FileKind::Dir {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }

    fn pick(&self, sel: &PathSel) -> Vec<String> {
        match sel {
            PathSel::Existing { idx, flip } => {
                let all = self.paths(false);
                if all.is_empty() {
                    return vec!["a".to_string()];
                }
                all[idx % all.len()].iter().enumerate().map(|(i, n)| if i < 8 && flip & (1 << i) != 0 { swap_case(n) } else { n.clone() }).collect()
            }
            PathSel::ChildOfDir { idx, name } => {
                let dirs = self.paths(true);
                let mut p = dirs[idx % dirs.len()].clone();
                p.push(name.clone());
                p
            }
            PathSel::Random(p) => p.clone(),
        }
    }

    /// Turns an abstract op into a concrete one against the current state.
    pub fn concretize(&self, op: &AOp) -> TOp {
        match op {
            AOp::Create { path, dir, attributes } => TOp::Create { path: self.pick(path), dir: *dir, attributes: *attributes },
            AOp::Write { path, offset, len, seed } => TOp::Write { path: self.pick(path), offset: *offset, len: *len, seed: *seed },
            AOp::SetSize { path, size } => TOp::SetSize { path: self.pick(path), size: *size },
            AOp::Rename { src, dst, replace } => TOp::Rename { src: self.pick(src), dst: self.pick(dst), replace: *replace },
            AOp::Remove { path } => TOp::Remove { path: self.pick(path) },
            AOp::SetAttr { path, attributes } => TOp::SetAttr { path: self.pick(path), attributes: *attributes },
            AOp::Checkpoint => TOp::Checkpoint,
            AOp::Remount => TOp::Remount,
        }
    }
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop::sample::select(&NAMES[..]).prop_map(String::from)
}

pub fn random_path_strategy() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(name_strategy(), 1..=3)
}

fn existing() -> impl Strategy<Value = PathSel> {
    prop_oneof![
        5 => (any::<usize>(), prop_oneof![3 => Just(0u8), 1 => any::<u8>()]).prop_map(|(idx, flip)| PathSel::Existing { idx, flip }),
        1 => random_path_strategy().prop_map(PathSel::Random),
    ]
}

fn new_child() -> impl Strategy<Value = PathSel> {
    prop_oneof![
        5 => (any::<usize>(), name_strategy()).prop_map(|(idx, name)| PathSel::ChildOfDir { idx, name }),
        1 => random_path_strategy().prop_map(PathSel::Random),
    ]
}

pub fn op_strategy(with_remount: bool) -> impl Strategy<Value = AOp> {
    let remount_weight = if with_remount { 2 } else { 0 };
    prop_oneof![
        6 => (new_child(), prop::bool::weighted(0.4), 0u32..4).prop_map(|(path, dir, a)| AOp::Create { path, dir, attributes: if dir { 0x10 } else { 0x20 | a } }),
        9 => (existing(), 0u64..20_000, 0usize..9_000, 1u8..255).prop_map(|(path, offset, len, seed)| AOp::Write { path, offset, len, seed }),
        1 => (existing(), 0u64..(1 << 20), 1u8..255).prop_map(|(path, offset, seed)| AOp::Write { path, offset, len: 70_000, seed }),
        3 => (existing(), 0u64..24_000).prop_map(|(path, size)| AOp::SetSize { path, size }),
        4 => (existing(), prop_oneof![new_child(), existing()], any::<bool>()).prop_map(|(src, dst, replace)| AOp::Rename { src, dst, replace }),
        3 => existing().prop_map(|path| AOp::Remove { path }),
        2 => (existing(), 0u32..64).prop_map(|(path, attributes)| AOp::SetAttr { path, attributes }),
        1 => Just(AOp::Checkpoint),
        remount_weight => Just(AOp::Remount),
    ]
}

// ---- devices ----

/// Wraps a memory device and records every write, in order.
pub struct RecordingDevice {
    pub inner: MemDevice,
    pub log: Mutex<Vec<(u64, Bytes)>>,
    /// For each `flush`, how many writes had returned when it was called:
    /// those are on stable storage once it returns.
    pub flushes: Mutex<Vec<usize>>,
}

impl RecordingDevice {
    pub fn new(inner: MemDevice) -> RecordingDevice {
        RecordingDevice { inner, log: Mutex::new(Vec::new()), flushes: Mutex::new(Vec::new()) }
    }
    pub fn writes(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

impl Device for RecordingDevice {
    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }
    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, HoldfastError> {
        self.inner.read(offset, len).await
    }
    async fn write(&self, offset: u64, data: Bytes) -> Result<(), HoldfastError> {
        // Let concurrent tasks interleave at every write.
        tokio::task::yield_now().await;
        self.inner.write(offset, data.clone()).await?;
        self.log.lock().unwrap().push((offset, data));
        Ok(())
    }
    async fn flush(&self) -> Result<(), HoldfastError> {
        tokio::task::yield_now().await;
        let n = self.writes();
        self.flushes.lock().unwrap().push(n);
        Ok(())
    }
}

/// Yields to the scheduler before every write, so concurrent tasks on a
/// current-thread runtime really interleave (and group commit batches).
pub struct YieldingDevice {
    pub inner: MemDevice,
    pub writes: std::sync::atomic::AtomicU64,
}

impl Device for YieldingDevice {
    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }
    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, HoldfastError> {
        // A read takes longer than a write here, so other tasks can free,
        // commit and reuse blocks while it is in flight.
        for _ in 0..6 {
            tokio::task::yield_now().await;
        }
        self.inner.read(offset, len).await
    }
    async fn write(&self, offset: u64, data: Bytes) -> Result<(), HoldfastError> {
        tokio::task::yield_now().await;
        self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.write(offset, data).await
    }
}
