//! A share volume on objects in memory, for tests of the file server and
//! of the SMB service over it: the same `FileServer` and objfs a node
//! runs, without a cluster. Writes to one object can be made to fail, as a
//! replicated write fails when it cannot commit a missing copy ABSENT (the
//! directory electing a leader, say).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use holdfast_objfs::fs::{FormatOptions, Fs};
use holdfast_objfs::{Device, MemDevice};
use holdfast_types::share::{ShareDef, VolumeDef};
use holdfast_types::{ErrorCode, HoldfastError, ObjectId};

use crate::device::{BoxFut, ObjectIo};
use crate::{FileServer, ObjectDevice, TableExpect};

/// The volume's namespace-and-data object and its handle-table object.
pub const DATA: ObjectId = 1;
pub const HANDLES: ObjectId = 2;
pub const DATA_BYTES: u64 = 16 << 20;
pub const HANDLE_BYTES: u64 = 64 << 10;
/// The volume every share of [`mounted`] lives on.
pub const VOLUME: &str = "v";

#[derive(Default)]
pub struct MemObjects {
    pub devs: Mutex<HashMap<ObjectId, Arc<MemDevice>>>,
    /// While set, writes to this object fail with this code.
    refused: Mutex<Option<(ObjectId, ErrorCode)>>,
}

impl MemObjects {
    pub fn dev(&self, o: ObjectId) -> Arc<MemDevice> {
        self.devs.lock().unwrap().get(&o).cloned().expect("object")
    }

    /// Writes to `object` fail with `code` from now on; `None` ends it.
    pub fn refuse_writes(&self, refused: Option<(ObjectId, ErrorCode)>) {
        *self.refused.lock().unwrap() = refused;
    }
}

impl ObjectIo for MemObjects {
    fn write(&self, object: ObjectId, offset: u64, data: Bytes) -> BoxFut<'_, Result<(), HoldfastError>> {
        let refused = self.refused.lock().unwrap().filter(|(o, _)| *o == object);
        let d = self.dev(object);
        Box::pin(async move {
            if let Some((_, code)) = refused {
                return Err(HoldfastError::new(code, format!("write not acknowledged: cannot commit a missing copy of object {object} ABSENT")));
            }
            d.write(offset, data).await
        })
    }

    fn read(&self, object: ObjectId, offset: u64, len: u64) -> BoxFut<'_, Result<Vec<u8>, HoldfastError>> {
        let d = self.dev(object);
        Box::pin(async move { d.read(offset, len).await })
    }

    fn flush(&self, _object: ObjectId) -> BoxFut<'_, Result<(), HoldfastError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A file server with `share` (on volume [`VOLUME`]) mounted on a freshly
/// formatted volume in memory.
pub async fn mounted(share: ShareDef) -> (Arc<MemObjects>, Arc<FileServer>) {
    assert_eq!(share.volume, VOLUME, "the share must live on the in-memory volume");
    let objects = Arc::new(MemObjects::default());
    objects.devs.lock().unwrap().insert(DATA, Arc::new(MemDevice::new(DATA_BYTES)));
    objects.devs.lock().unwrap().insert(HANDLES, Arc::new(MemDevice::new(HANDLE_BYTES)));
    Fs::format(objects.dev(DATA).as_ref(), &FormatOptions { volume_id: [7; 16], label: VOLUME.into(), now: 1 }).await.unwrap();
    let vol = VolumeDef { name: VOLUME.into(), size: "16MiB".into(), handle_size: "64KiB".into(), replicas: 0 };
    let server = FileServer::new(vec![vol], vec![share], 0);
    let io: Arc<dyn ObjectIo> = objects.clone();
    let (d, h) = (ObjectDevice::new(io.clone(), DATA, DATA_BYTES), ObjectDevice::new(io, HANDLES, HANDLE_BYTES));
    server.mount(VOLUME, d, h, TableExpect { incarnation: 0, restore_from: None }).await.unwrap();
    (objects, server)
}
