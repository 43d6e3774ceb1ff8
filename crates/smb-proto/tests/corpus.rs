//! Replays the checked-in fuzz corpora (`fuzz/corpus/smb_pdu/`,
//! `fuzz/corpus/rpc_pdu/`) through the fuzz targets' entry points, so CI exercises the seeds without a
//! nightly toolchain. `cargo test -p holdfast-smb-proto --test corpus --
//! --ignored` rewrites the seed files from `tests/common`.

mod common;

use std::path::PathBuf;

use bytes::BytesMut;
use holdfast_smb_proto::fuzzing::{rpc_pdu, smb_pdu};
use holdfast_smb_proto::rpc::pdu::{pfc, ptype, Bind, ContextElem, Request};
use holdfast_smb_proto::rpc::srvsvc::{ShareEnumRequest, ShareGetInfoRequest};
use holdfast_smb_proto::rpc::{NDR20, NDR64, SRVSVC};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/smb_pdu")
}

#[test]
fn corpus_seeds_parse_through_the_fuzz_entry_point() {
    let mut files = 0;
    for entry in std::fs::read_dir(corpus_dir()).expect("corpus directory") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = smb_pdu(&bytes);
        // Seeds are valid framed requests; files the fuzzer adds later may
        // not be, and only have to not panic.
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if common::seeds().iter().any(|(seed, _)| name == format!("{seed}.bin")) {
            assert_eq!(outcome.frames, 1, "{name}");
            assert!(outcome.requests_ok >= 1 && outcome.requests_err == 0, "{name}: {outcome:?}");
        }
        files += 1;
    }
    assert!(files >= common::seeds().len());
}

#[test]
fn checked_in_seeds_match_the_builders() {
    for (name, bytes) in common::seeds() {
        let path = corpus_dir().join(format!("{name}.bin"));
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(on_disk, bytes, "{name}: rerun with --ignored to regenerate");
    }
}

#[test]
#[ignore = "writes the seed files"]
fn write_seed_corpus() {
    std::fs::create_dir_all(corpus_dir()).unwrap();
    for (name, bytes) in common::seeds() {
        std::fs::write(corpus_dir().join(format!("{name}.bin")), bytes).unwrap();
    }
    std::fs::create_dir_all(rpc_corpus_dir()).unwrap();
    for (name, bytes) in rpc_seeds() {
        std::fs::write(rpc_corpus_dir().join(format!("{name}.bin")), bytes).unwrap();
    }
}

fn rpc_corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/rpc_pdu")
}

/// What smbclient writes to the srvsvc pipe (a BIND, then NetrShareEnum
/// level 1), and a BIND offering NDR and NDR64 followed by
/// NetrShareGetInfo split in two fragments.
fn rpc_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let bind = |contexts: Vec<ContextElem>| {
        let mut out = BytesMut::new();
        Bind { max_xmit_frag: 4280, max_recv_frag: 4280, assoc_group: 0, contexts }.encode(ptype::BIND, 1, &mut out);
        out
    };
    let ctx = |id, ts| ContextElem { id, abstract_syntax: SRVSVC, transfer_syntaxes: vec![ts] };
    let mut enum_all = bind(vec![ctx(0, NDR20)]);
    let stub = ShareEnumRequest { server_name: Some("\\\\127.0.0.1".into()), level: 1, preferred_maximum_length: u32::MAX, resume_handle: Some(0) }.encode();
    Request { alloc_hint: stub.len() as u32, context_id: 0, opnum: 15, stub: &stub }.encode(2, pfc::FIRST_FRAG | pfc::LAST_FRAG, &mut enum_all);
    let mut get_info = bind(vec![ctx(0, NDR20), ctx(1, NDR64)]);
    let stub = ShareGetInfoRequest { server_name: None, net_name: "share".into(), level: 1 }.encode();
    let (a, b) = stub.split_at(8);
    Request { alloc_hint: stub.len() as u32, context_id: 0, opnum: 16, stub: a }.encode(2, pfc::FIRST_FRAG, &mut get_info);
    Request { alloc_hint: stub.len() as u32, context_id: 0, opnum: 16, stub: b }.encode(2, pfc::LAST_FRAG, &mut get_info);
    vec![("bind-share-enum", enum_all.to_vec()), ("bind-get-info-fragments", get_info.to_vec())]
}

#[test]
fn rpc_corpus_seeds_decode_and_match_the_builders() {
    for (name, bytes) in rpc_seeds() {
        let path = rpc_corpus_dir().join(format!("{name}.bin"));
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(on_disk, bytes, "{name}: rerun with --ignored to regenerate");
    }
    for entry in std::fs::read_dir(rpc_corpus_dir()).expect("rpc corpus directory") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        rpc_pdu(&bytes);
    }
    assert_eq!(rpc_pdu(&rpc_seeds()[0].1), 2);
    assert_eq!(rpc_pdu(&rpc_seeds()[1].1), 3);
}
