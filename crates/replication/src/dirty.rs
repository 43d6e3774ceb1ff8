//! Dirty-region bitmap: which parts of an object a component missed while
//! it was ABSENT, so that a persistent component is caught up by delta.

use holdfast_types::limits::BLOCK_BYTES;

/// At most this many regions per object, so the bitmap stays small (128 KiB)
/// whatever the object's size; regions grow from 4 KiB for large objects.
pub const DIRTY_REGIONS_MAX: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyMap {
    size: u64,
    region_bytes: u64,
    bits: Vec<u64>,
}

impl DirtyMap {
    pub fn new(size: u64) -> DirtyMap {
        let mut region_bytes = BLOCK_BYTES;
        while size.div_ceil(region_bytes) > DIRTY_REGIONS_MAX {
            region_bytes *= 2;
        }
        let regions = size.div_ceil(region_bytes);
        DirtyMap { size, region_bytes, bits: vec![0; regions.div_ceil(64) as usize] }
    }

    pub fn mark(&mut self, offset: u64, len: u64) {
        if len == 0 || offset >= self.size {
            return;
        }
        let first = offset / self.region_bytes;
        let last = (offset + len - 1).min(self.size - 1) / self.region_bytes;
        for r in first..=last {
            self.bits[(r / 64) as usize] |= 1 << (r % 64);
        }
    }

    pub fn merge(&mut self, other: &DirtyMap) {
        assert_eq!(self.region_bytes, other.region_bytes, "maps of different objects");
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= b;
        }
    }

    /// Dirty byte ranges, adjacent regions merged, each at most `chunk_max` bytes.
    pub fn ranges(&self, chunk_max: u64) -> Vec<(u64, u64)> {
        assert!(chunk_max >= self.region_bytes && chunk_max % self.region_bytes == 0, "chunk must hold whole regions");
        let mut out: Vec<(u64, u64)> = Vec::new();
        let regions = self.size.div_ceil(self.region_bytes);
        for r in 0..regions {
            if self.bits[(r / 64) as usize] & (1 << (r % 64)) == 0 {
                continue;
            }
            let start = r * self.region_bytes;
            let len = self.region_bytes.min(self.size - start);
            match out.last_mut() {
                Some((s, l)) if *s + *l == start && *l + len <= chunk_max => *l += len,
                _ => out.push((start, len)),
            }
        }
        out
    }

    pub fn dirty_bytes(&self) -> u64 {
        self.ranges(self.region_bytes).iter().map(|r| r.1).sum()
    }
}

/// The whole object as ranges of at most `chunk_max` bytes.
pub fn full_ranges(size: u64, chunk_max: u64) -> Vec<(u64, u64)> {
    (0..size.div_ceil(chunk_max)).map(|i| (i * chunk_max, chunk_max.min(size - i * chunk_max))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_merge_and_split() {
        let mut d = DirtyMap::new(64 * 4096);
        d.mark(512, 512);
        d.mark(4096, 8192);
        d.mark(40 * 4096, 1);
        assert_eq!(d.ranges(2 * 4096), vec![(0, 8192), (8192, 4096), (40 * 4096, 4096)]);
        assert_eq!(d.dirty_bytes(), 4 * 4096);
        let mut e = DirtyMap::new(64 * 4096);
        e.mark(63 * 4096, 4096);
        d.merge(&e);
        assert_eq!(d.ranges(1 << 20).last(), Some(&(63 * 4096, 4096)));
    }

    #[test]
    fn huge_objects_use_bigger_regions() {
        let d = DirtyMap::new(1 << 40);
        assert!(d.bits.len() as u64 * 64 >= DIRTY_REGIONS_MAX);
        assert!(d.bits.len() as u64 * 64 <= DIRTY_REGIONS_MAX + 64);
        assert_eq!(full_ranges(10, 4), vec![(0, 4), (4, 4), (8, 2)]);
    }
}
