//! The entry point of the `park_image` fuzz target (`fuzz/`). It lives here
//! so that `tests/park_corpus.rs` replays the checked-in seeds through the
//! same code on stable, without cargo-fuzz or nightly.

use holdfast_types::checksum::crc32;

use super::{check, parse_park_image, HandleError, HandleTable, ParkImage, HEADER_BYTES, PARK_CRC_BYTES, SLOT_BYTES};
use crate::device::MemDevice;

/// Slot count up to which a valid image is also restored, mounted, checked
/// and parked again (a larger one would make each run allocate up to 4 GiB).
pub const ROUND_TRIP_SLOTS_MAX: u32 = 256;

/// Parses `data` as a park image, and again with its trailing crc32
/// recomputed, so that mutations also reach the checks after the crc. An
/// image that parses and has at most [`ROUND_TRIP_SLOTS_MAX`] slots is
/// restored into a `MemDevice`, checked, mounted and parked again, which
/// must give the same bytes (the format is canonical). Returns the parse of
/// `data` as it is. Panics only when one of those invariants breaks, which
/// is a finding.
pub fn park_image(data: &[u8]) -> Result<ParkImage, HandleError> {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime");
    let as_is = parse_park_image(data);
    if let Ok(img) = &as_is {
        rt.block_on(round_trip(data, img));
    }
    if data.len() >= PARK_CRC_BYTES {
        let mut fixed = data.to_vec();
        let end = fixed.len() - PARK_CRC_BYTES;
        let crc = crc32(&[&fixed[..end]]);
        fixed[end..].copy_from_slice(&crc.to_le_bytes());
        if let Ok(img) = parse_park_image(&fixed) {
            rt.block_on(round_trip(&fixed, &img));
        }
    }
    as_is
}

async fn round_trip(bytes: &[u8], img: &ParkImage) {
    if img.slot_count > ROUND_TRIP_SLOTS_MAX {
        return;
    }
    let dev = MemDevice::new(HEADER_BYTES + img.slot_count as u64 * SLOT_BYTES);
    let restored = HandleTable::restore(&dev, bytes, img.volume_id, img.incarnation).await;
    assert_eq!(restored, Ok(img.record_count), "a valid image restores into an object of its size");
    let report = check(&dev).await.expect("a restored table has a valid header");
    assert_eq!(report.used, img.record_count as usize);
    assert_eq!(report.used + report.free, report.capacity);
    // The image, like mount, tolerates two records with one replay key
    // (only a damaged table has them); check reports them, nothing else.
    assert!(report.problems.iter().all(|p| p.contains("same replay key")), "{:?}", report.problems);
    let table = HandleTable::mount(dev, img.volume_id).await.expect("a restored table mounts");
    assert_eq!((table.incarnation(), table.id_generation()), (img.incarnation, img.id_generation));
    let again = table.park_image(img.parked_unix_ms).await.expect("a mounted table parks");
    assert!(again == bytes, "parking the restored table gives the same image");
}
