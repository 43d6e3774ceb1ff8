//! The workload's registers. The object is cut into slots of
//! [`SLOT_BYTES`]; every write fills one slot with a block that names the
//! slot and the write's version (1, 2, … per slot), so any 512 bytes read
//! back say exactly which write they came from, or that no write of this
//! slot made them (zeroes or garbage).

use std::collections::BTreeMap;

use super::WriteRecord;

/// Bytes of one workload slot.
pub const SLOT_BYTES: usize = 512;

/// What the workload writes into `slot` as its `version`-th write: the slot
/// + 1 and the version in the first 16 bytes, then bytes derived from both,
/// so a block torn from two writes or moved to another slot is not
/// mistaken for either.
pub fn block(slot: u32, version: u32) -> Vec<u8> {
    let mut x = (u64::from(slot) << 32 | u64::from(version)).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v: Vec<u8> = (0..SLOT_BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    v[..8].copy_from_slice(&(u64::from(slot) + 1).to_le_bytes());
    v[8..16].copy_from_slice(&u64::from(version).to_le_bytes());
    v
}

/// What a slot's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Never written.
    Zero,
    /// Exactly the block of this version of the slot.
    Version(u32),
    /// Anything else, described.
    Garbage(String),
}

pub fn decode(slot: u32, bytes: &[u8]) -> Seen {
    if bytes.iter().all(|&b| b == 0) {
        return Seen::Zero;
    }
    if bytes.len() == SLOT_BYTES {
        let named = u64::from_le_bytes(bytes[..8].try_into().expect("8")).wrapping_sub(1);
        let version = u64::from_le_bytes(bytes[8..16].try_into().expect("8"));
        if named == u64::from(slot) && (1..=u64::from(u32::MAX)).contains(&version) && bytes == block(slot, version as u32) {
            return Seen::Version(version as u32);
        }
        if let (Ok(s), Ok(v)) = (u32::try_from(named), u32::try_from(version)) {
            if v >= 1 && bytes == block(s, v) {
                return Seen::Garbage(format!("the block of slot {s} version {v}"));
            }
        }
        return Seen::Garbage(format!("garbage (header slot {named}, version {version})"));
    }
    Seen::Garbage(format!("{} bytes", bytes.len()))
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::Zero => write!(f, "zeroes (never written)"),
            Seen::Version(v) => write!(f, "version {v}"),
            Seen::Garbage(d) => write!(f, "{d}"),
        }
    }
}

/// The writes of each slot, in version order (a slot's writes are sent
/// one after another by its one writer, version 1 first).
pub struct Writes<'a> {
    by_slot: BTreeMap<u32, Vec<&'a WriteRecord>>,
}

impl<'a> Writes<'a> {
    pub fn new(all: &'a [WriteRecord]) -> Writes<'a> {
        let mut by_slot: BTreeMap<u32, Vec<&WriteRecord>> = BTreeMap::new();
        for w in all {
            by_slot.entry(w.slot).or_default().push(w);
        }
        for ws in by_slot.values_mut() {
            ws.sort_by_key(|w| w.version);
        }
        Writes { by_slot }
    }

    /// The write that made `version` of `slot`, if one was sent.
    pub fn get(&self, slot: u32, version: u32) -> Option<&'a WriteRecord> {
        let ws = self.by_slot.get(&slot)?;
        ws.binary_search_by_key(&version, |w| w.version).ok().map(|i| ws[i])
    }

    /// The newest write of `slot` acknowledged before logical time `t`
    /// (`u64::MAX`: ever).
    pub fn acked_before(&self, slot: u32, t: u64) -> Option<&'a WriteRecord> {
        let ws = self.by_slot.get(&slot)?;
        ws.iter().rev().find(|w| w.acked_at.is_some() && w.ended.is_some_and(|e| e < t)).copied()
    }
}
