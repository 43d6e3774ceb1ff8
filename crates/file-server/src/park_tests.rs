//! `prepare_table` and `FileServer::park` on in-memory objects: what a
//! mount does with the handle table after a planned stop, after a power
//! loss, and with a table it must not format over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use holdfast_objfs::fs::{FileKind, FormatOptions, Fs, ROOT_INO};
use holdfast_objfs::handles::{HandleRecord, HandleTable, TableFormat};
use holdfast_objfs::{Device, MemDevice};
use holdfast_types::share::{ShareDef, VolumeDef};
use holdfast_types::{HoldfastError, ObjectId};

use super::*;
use crate::device::{BoxFut, ObjectIo};
use crate::proto::{OpenReq, Reply, Request};

const DATA: ObjectId = 1;
const HANDLES: ObjectId = 2;
const DATA_BYTES: u64 = 16 << 20;
const HANDLE_BYTES: u64 = 64 << 10;

/// Objects as plain memory; a power loss of the handle object is a new,
/// zeroed one.
#[derive(Default)]
pub(crate) struct MemIo(Mutex<HashMap<ObjectId, Arc<MemDevice>>>);

impl MemIo {
    fn dev(&self, o: ObjectId) -> Arc<MemDevice> {
        self.0.lock().unwrap().get(&o).cloned().expect("object")
    }

    fn lose_ram(&self, o: ObjectId) {
        let size = self.dev(o).size_bytes();
        self.0.lock().unwrap().insert(o, Arc::new(MemDevice::new(size)));
    }
}

impl ObjectIo for MemIo {
    fn write(&self, object: ObjectId, offset: u64, data: Bytes) -> BoxFut<'_, Result<(), HoldfastError>> {
        let d = self.dev(object);
        Box::pin(async move { d.write(offset, data).await })
    }

    fn read(&self, object: ObjectId, offset: u64, len: u64) -> BoxFut<'_, Result<Vec<u8>, HoldfastError>> {
        let d = self.dev(object);
        Box::pin(async move { d.read(offset, len).await })
    }

    fn flush(&self, _object: ObjectId) -> BoxFut<'_, Result<(), HoldfastError>> {
        Box::pin(async { Ok(()) })
    }
}

pub(crate) struct Rig {
    io: Arc<MemIo>,
    pub(crate) server: Arc<FileServer>,
}

impl Rig {
    async fn new() -> Rig {
        Rig::with_acls(true).await
    }

    /// A file server with share "s" on volume "v", both objects in memory
    /// and the volume formatted; `acls` is the share's switch.
    pub(crate) async fn with_acls(acls: bool) -> Rig {
        Rig::with_shares(vec![ShareDef { handle_timeout_ms: 60_000, acls, ..ShareDef::new("s", "v") }]).await
    }

    /// Like [`Rig::with_acls`] with these shares of volume "v".
    pub(crate) async fn with_shares(shares: Vec<ShareDef>) -> Rig {
        let io = Arc::new(MemIo::default());
        io.0.lock().unwrap().insert(DATA, Arc::new(MemDevice::new(DATA_BYTES)));
        io.0.lock().unwrap().insert(HANDLES, Arc::new(MemDevice::new(HANDLE_BYTES)));
        let opts = FormatOptions { volume_id: [7; 16], label: "v".into(), now: 1 };
        Fs::format(io.dev(DATA).as_ref(), &opts).await.unwrap();
        let vol = VolumeDef { name: "v".into(), size: "16MiB".into(), handle_size: "64KiB".into(), replicas: 0 };
        Rig { io, server: FileServer::new(vec![vol], shares, 0) }
    }

    fn devs(&self) -> (ObjectDevice, ObjectDevice) {
        let io: Arc<dyn ObjectIo> = self.io.clone();
        (ObjectDevice::new(io.clone(), DATA, DATA_BYTES), ObjectDevice::new(io, HANDLES, HANDLE_BYTES))
    }

    pub(crate) async fn mount(&self, incarnation: u32, restore_from: Option<u32>) -> Result<Prepared, String> {
        self.server.unmount("v");
        let (d, h) = self.devs();
        self.server.mount("v", d, h, TableExpect { incarnation, restore_from }).await
    }

    async fn put(&self) -> u64 {
        let rec = HandleRecord {
            ino: ROOT_INO,
            share: "s".into(),
            is_durable: true,
            is_persistent: true,
            timeout_ms: 60_000,
            create_guid: rand_guid(),
            client_guid: rand_guid(),
            ..Default::default()
        };
        self.server.mounted_volume("v").unwrap().handles.put(rec).await.unwrap().persistent_id
    }

    fn ids(&self) -> Vec<u64> {
        self.server.mounted_volume("v").unwrap().handles.list("s").iter().map(|r| r.persistent_id).collect()
    }

    /// Every name a client listing of the share root shows, a page of one
    /// entry at a time.
    async fn listing(&self) -> Vec<String> {
        let open = OpenReq { share: "s".into(), path: String::new(), desired_access: 1, share_access: 7, disposition: 1, create_options: 1, file_attributes: 0, allocation_size: 0, ..Default::default() };
        let Ok(Reply::Opened { fid, .. }) = self.server.handle(Request::Open(open)).await else { panic!("open the share root") };
        let mut names = Vec::new();
        loop {
            let after = names.last().cloned().unwrap_or_default();
            match self.server.handle(Request::Readdir { fid, after, max: 1 }).await {
                Ok(Reply::Entries(e)) => names.extend(e.into_iter().map(|e| e.name)),
                Err(f) if f.status == holdfast_types::ntstatus::NtStatus::NO_MORE_FILES => break,
                other => panic!("readdir: {other:?}"),
            }
        }
        self.server.handle(Request::Close { fid }).await.unwrap();
        names
    }
}

fn rand_guid() -> [u8; 16] {
    use std::sync::atomic::{AtomicU8, Ordering};
    static N: AtomicU8 = AtomicU8::new(1);
    [N.fetch_add(1, Ordering::Relaxed); 16]
}

#[tokio::test]
async fn a_planned_stop_restores_and_a_power_loss_resets() {
    let rig = Rig::new().await;
    assert_eq!(rig.mount(0, None).await.unwrap(), Prepared::Formatted, "a new volume gets a table");
    assert_eq!(rig.mount(0, None).await.unwrap(), Prepared::AsItWas, "a remount keeps it");
    let before = [rig.put().await, rig.put().await];

    // Planned stop: the image goes into the volume; the RAM is then lost.
    let parked = rig.server.park("v").await.unwrap();
    assert_eq!(parked, ParkedTable { incarnation: 0, records: 2 });
    assert!(!rig.server.is_mounted("v"), "a parked volume serves nothing");
    rig.io.lose_ram(HANDLES);
    assert_eq!(rig.mount(1, Some(0)).await.unwrap(), Prepared::Restored { records: 2 });
    let mut ids = rig.ids();
    ids.sort();
    assert_eq!(ids, before.to_vec(), "the same persistent ids after the restore");
    assert_eq!(rig.server.table_census("v"), Some((1, 2)));
    let fs = &rig.server.mounted_volume("v").unwrap().fs;
    assert!(fs.lookup(ROOT_INO, PARKED_IMAGE_NAME).is_err(), "the image is removed once restored");

    // Power loss: nothing parked; the table comes back empty, and no new id
    // is an old one.
    rig.io.lose_ram(HANDLES);
    assert_eq!(rig.mount(2, None).await.unwrap(), Prepared::Formatted);
    assert!(rig.ids().is_empty());
    let after = rig.put().await;
    assert!(!before.contains(&after), "id {after:#x} was handed out before the reset");
    assert_eq!(after >> 48, 2, "ids carry the incarnation the table was formatted in");
}

#[tokio::test]
async fn a_restore_without_its_image_formats_and_says_so() {
    let rig = Rig::new().await;
    rig.mount(0, None).await.unwrap();
    rig.put().await;
    rig.server.park("v").await.unwrap();
    rig.io.lose_ram(HANDLES);
    // The directory says "restore from incarnation 3": the image is of 0.
    assert_eq!(rig.mount(1, Some(3)).await.unwrap(), Prepared::Formatted);
    assert!(rig.ids().is_empty());
}

#[tokio::test]
async fn damage_and_a_newer_table_are_never_formatted_over() {
    let rig = Rig::new().await;
    rig.mount(0, None).await.unwrap();
    rig.server.unmount("v");
    // A table from incarnation 5, and a directory that says 3.
    let (_, h) = rig.devs();
    let f = TableFormat { volume_id: [7; 16], now_unix_ms: 1, incarnation: 5, id_generation: 5 };
    HandleTable::format(&h, &f).await.unwrap();
    let e = rig.mount(3, None).await.unwrap_err();
    assert!(e.contains("newer than the directory's"), "{e}");
    // A damaged header with no reset behind it.
    let mut header = h.read(0, 4096).await.unwrap();
    header[30] ^= 0xff;
    h.write(0, Bytes::from(header)).await.unwrap();
    let e = rig.mount(0, None).await.unwrap_err();
    assert!(e.contains("handle table"), "{e}");
    assert!(rig.mount(0, None).await.is_err(), "still refused: nothing was formatted over it");
}

#[tokio::test]
async fn the_image_never_shows_in_a_listing() {
    let rig = Rig::new().await;
    rig.mount(0, None).await.unwrap();
    let vol = rig.server.mounted_volume("v").unwrap();
    for n in ["a", "zz", PARKED_IMAGE_NAME, "m"] {
        vol.fs.create(ROOT_INO, n, FileKind::File, 0, 1).await.unwrap();
    }
    drop(vol);
    assert_eq!(rig.listing().await, vec!["a", "m", "zz"]);
}
