//! "Nothing from the network can panic a process": random bytes,
//! truncations and bit flips of valid messages, through the request
//! dispatcher and the fuzzing entry point (which also runs the framer,
//! the compound splitter, every response decoder and the re-encoders).

mod common;

use holdfast_smb_proto::fuzzing::smb_pdu;
use holdfast_smb_proto::parse_request;
use proptest::prelude::*;

fn seed_pdus() -> Vec<Vec<u8>> {
    vec![
        common::negotiate_311(),
        common::session_setup(),
        common::create_with_contexts(),
        common::compound_create_write_close(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_request(&bytes);
        smb_pdu(&bytes);
    }

    /// Random bodies behind a valid header reach the command decoders.
    #[test]
    fn random_bodies_behind_valid_headers_never_panic(
        command in 0u16..19,
        size in any::<u16>(),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut pdu = common::negotiate_311()[..64].to_vec();
        pdu[12..14].copy_from_slice(&command.to_le_bytes());
        pdu.extend_from_slice(&size.to_le_bytes());
        pdu.extend_from_slice(&body);
        let _ = parse_request(&pdu);
        smb_pdu(&pdu);
    }

    #[test]
    fn truncations_never_panic(seed in 0usize..4, cut in any::<prop::sample::Index>()) {
        let pdu = &seed_pdus()[seed];
        let n = cut.index(pdu.len() + 1);
        let _ = parse_request(&pdu[..n]);
        smb_pdu(&pdu[..n]);
        smb_pdu(&common::framed(&pdu[..n]));
    }

    #[test]
    fn bit_flips_never_panic(
        seed in 0usize..4,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..8),
    ) {
        let mut pdu = seed_pdus()[seed].clone();
        for (at, bit) in flips {
            let i = at.index(pdu.len());
            pdu[i] ^= 1 << bit;
        }
        let _ = parse_request(&pdu);
        smb_pdu(&pdu);
        smb_pdu(&common::framed(&pdu));
    }

    /// Overwrite one little-endian field-sized window with an extreme
    /// value: the cases that break naive offset arithmetic.
    #[test]
    fn extreme_field_values_never_panic(
        seed in 0usize..4,
        at in any::<prop::sample::Index>(),
        width in prop::sample::select(vec![1usize, 2, 4, 8]),
        value in prop::sample::select(vec![0u64, 1, 7, 8, 63, 64, 0x7F, 0x80, 0xFF, 0xFFFF, 0xFFFF_FFFF, u64::MAX]),
    ) {
        let mut pdu = seed_pdus()[seed].clone();
        let i = at.index(pdu.len().saturating_sub(width).max(1));
        let bytes = value.to_le_bytes();
        for (k, v) in bytes.iter().enumerate().take(width) {
            if let Some(b) = pdu.get_mut(i + k) {
                *b = *v;
            }
        }
        let _ = parse_request(&pdu);
        smb_pdu(&pdu);
    }
}

#[test]
fn every_seed_parses() {
    for pdu in seed_pdus() {
        let out = smb_pdu(&pdu);
        assert!(out.requests_ok >= 1 && out.requests_err == 0, "{out:?}");
    }
}
