//! Share volumes from the CLI side: creating a volume's two objects,
//! formatting them, and checking an image (`holdfast fsck`). The CLI reaches
//! the objects through the cluster like any client, so it never needs to
//! own them: the file server of the owning host mounts what is formatted.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use holdfast_client::{Client, ClusterInfo};
use holdfast_objfs::fs::{FormatOptions, Fs};
use holdfast_objfs::{Device, MemDevice};
use holdfast_types::share::VolumeDef;
use holdfast_types::{ErrorCode, HoldfastError, ObjectKind};
use holdfast_wire::control::ControlRequest;

/// An object seen through the cluster: reads and writes go to its owner.
pub struct ClientDevice {
    client: Arc<Client>,
    name: String,
    size_bytes: u64,
}

impl ClientDevice {
    pub async fn open(client: Arc<Client>, name: &str) -> anyhow::Result<ClientDevice> {
        let view = client.lookup(name).await.with_context(|| format!("object {name:?}"))?;
        Ok(ClientDevice { client, name: name.to_string(), size_bytes: view.size })
    }
}

fn remote(e: holdfast_client::ClientError) -> HoldfastError {
    match e.code() {
        Some(code) => HoldfastError::new(code, e.to_string()),
        None => HoldfastError::new(ErrorCode::Io, e.to_string()),
    }
}

impl Device for ClientDevice {
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, HoldfastError> {
        let b = self.client.read(&self.name, offset, len as u32).await.map_err(remote)?;
        Ok(b.to_vec())
    }

    async fn write(&self, offset: u64, data: Bytes) -> Result<(), HoldfastError> {
        self.client.write(&self.name, offset, data).await.map_err(remote)
    }

    async fn flush(&self) -> Result<(), HoldfastError> {
        self.client.flush(&self.name).await.map_err(remote)
    }
}

async fn blank(dev: &impl Device, len: u64) -> anyhow::Result<bool> {
    let b = dev.read(0, len).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(b.iter().all(|&x| x == 0))
}

fn now_filetime() -> u64 {
    holdfast_file_server::time::now_filetime()
}

/// Creates every volume of the cluster config that is not there yet and
/// formats its file system. The handle table is formatted (or, after a
/// whole-cluster restart, reset or restored) by the file server that
/// mounts the volume, the only writer of a table (docs/restarts.md).
///
/// Then defines every `[[services]]` entry in the directory (idempotent),
/// which places it on its volume's owner; that host's node starts it.
pub async fn ensure_volumes(client: &Arc<Client>, info: &ClusterInfo) -> anyhow::Result<()> {
    for v in &info.file.volumes {
        ensure_volume(client, info, v).await.with_context(|| format!("volume {:?}", v.name))?;
    }
    for svc in &info.file.services {
        let volume = holdfast_types::share::service_volume(svc, &info.file.shares)
            .with_context(|| format!("service {:?}: its shares are not defined", svc.name))?;
        let def = info.file.volumes.iter().find(|v| v.name == volume).with_context(|| format!("no volume {volume:?}"))?;
        let req = ControlRequest::DefineService { name: svc.name.clone(), addr: svc.listen.clone(), object: def.data_object() };
        client.control(&req).await.with_context(|| format!("define service {:?}", svc.name))?;
    }
    Ok(())
}

async fn ensure_object(client: &Client, info: &ClusterInfo, name: &str, kind: ObjectKind, size: u64, replicas: u32) -> anyhow::Result<()> {
    match client.lookup(name).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(ErrorCode::NoSuchObject) => {
            let replicas = if replicas == 0 { info.nodes.len() as u32 } else { replicas };
            client.create_object(ControlRequest::CreateObject { name: name.to_string(), kind, size_bytes: size, replicas }).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

async fn ensure_volume(client: &Arc<Client>, info: &ClusterInfo, v: &VolumeDef) -> anyhow::Result<()> {
    let size = v.size_bytes().map_err(|e| anyhow::anyhow!(e))?;
    let hsize = v.handle_size_bytes().map_err(|e| anyhow::anyhow!(e))?;
    ensure_object(client, info, &v.data_object(), ObjectKind::Persistent, size, v.replicas).await?;
    ensure_object(client, info, &v.handle_object(), ObjectKind::Memory, hsize, v.replicas).await?;
    let data = ClientDevice::open(client.clone(), &v.data_object()).await?;
    // A blank file system means a new volume (or one whose first format
    // was cut short). An existing one is never touched: the owner's file
    // server may have it mounted right now.
    if blank(&data, 8192).await? {
        let volume_id: [u8; 16] = rand::random();
        let opts = FormatOptions { volume_id, label: v.name.clone(), now: now_filetime() };
        Fs::format(&data, &opts).await.map_err(|e| anyhow::anyhow!("format: {e}"))?;
        eprintln!("formatted volume {:?} ({} bytes)", v.name, size);
    }
    Ok(())
}

/// `holdfast fsck`: checks a volume's file system (or its handle table)
/// through the cluster, or an image file offline. Prints each problem; fails
/// when there is any.
pub async fn fsck(dir: &Path, volume: Option<&str>, image: Option<&Path>, handles: bool) -> anyhow::Result<()> {
    let problems = match (volume, image) {
        (_, Some(path)) => {
            let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            if bytes.len() % 512 != 0 {
                bail!("{}: {} bytes is not a whole number of 512-byte sectors", path.display(), bytes.len());
            }
            let dev = MemDevice::from_image(bytes);
            check(&dev, handles).await?
        }
        (Some(vol), None) => {
            let info = ClusterInfo::load(dir).map_err(|e| anyhow::anyhow!(e))?;
            let def = info.file.volumes.iter().find(|v| v.name == vol).with_context(|| format!("no volume named {vol:?} in the cluster config"))?;
            let client = Arc::new(Client::from_cluster(&info));
            let name = if handles { def.handle_object() } else { def.data_object() };
            let dev = ClientDevice::open(client, &name).await?;
            check(&dev, handles).await?
        }
        (None, None) => bail!("name a volume, or an image with --image FILE"),
    };
    if problems > 0 {
        bail!("{problems} problem(s) found");
    }
    Ok(())
}

async fn check(dev: &impl Device, handles: bool) -> anyhow::Result<usize> {
    if handles {
        let r = holdfast_objfs::handles::check(dev).await.map_err(|e| anyhow::anyhow!("handle table: {e}"))?;
        println!("handle table: {} of {} slots used", r.used, r.capacity);
        for p in &r.problems {
            println!("problem: {p}");
        }
        return Ok(r.problems.len());
    }
    let r = holdfast_objfs::fsck::fsck(dev).await;
    println!(
        "file system: generation {}, {} inodes ({} files, {} directories), {} blocks used, {} free, {} journal records",
        r.generation, r.inodes, r.files, r.dirs, r.used_blocks, r.free_blocks, r.journal_records
    );
    for p in &r.problems {
        println!("problem: {p}");
    }
    Ok(r.problems.len())
}
