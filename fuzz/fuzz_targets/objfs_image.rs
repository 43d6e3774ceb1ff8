//! Arbitrary bytes as the start of a file-system image (the rest zeros):
//! mount and fsck must refuse or accept it, never panic.
#![no_main]

use holdfast_objfs::fs::Fs;
use holdfast_objfs::MemDevice;
use libfuzzer_sys::fuzz_target;

/// Small enough to keep runs fast, big enough for the smallest layout.
const IMAGE_BYTES: usize = 8 << 20;

fuzz_target!(|data: &[u8]| {
    let mut image = vec![0u8; IMAGE_BYTES];
    let n = data.len().min(IMAGE_BYTES);
    image[..n].copy_from_slice(&data[..n]);
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        let _ = holdfast_objfs::fsck(&MemDevice::from_image(image.clone())).await;
        let _ = Fs::mount(MemDevice::from_image(image)).await;
    });
});
