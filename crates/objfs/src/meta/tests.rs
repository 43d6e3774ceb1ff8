use super::*;
use crate::journal::WriteExtent;

fn meta() -> Meta {
    Meta::new(100, 10_000, 5)
}

fn create(m: &mut Meta, parent: Ino, name: &str, kind: FileKind) -> Result<Ino, FsError> {
    let ino = m.next_ino;
    m.apply(&Op::Create { ino, parent, name: name.into(), kind, attributes: 0, time: 1 })?;
    Ok(ino)
}

#[test]
fn remap_splits_frees_and_merges() {
    let mut x = BTreeMap::new();
    let mut freed = Vec::new();
    remap(&mut x, 0, 10, Some(100), &mut freed);
    assert!(freed.is_empty());
    remap(&mut x, 3, 2, Some(500), &mut freed);
    assert_eq!(freed, vec![Run { start: 103, count: 2 }]);
    assert_eq!(x.len(), 3);
    freed.clear();
    // Sequential appends merge.
    remap(&mut x, 10, 1, Some(110), &mut freed);
    assert_eq!(x[&5], Mapping { dev_block: 105, block_count: 6 });
    // Truncate from block 4.
    remap(&mut x, 4, FILE_BLOCKS_MAX - 4, None, &mut freed);
    assert_eq!(freed, vec![Run { start: 501, count: 1 }, Run { start: 105, count: 6 }]);
    assert_eq!(x.len(), 2);
}

#[test]
fn names_fold_and_case_is_preserved() {
    let mut m = meta();
    let d = create(&mut m, ROOT_INO, "Dir", FileKind::Dir).unwrap();
    assert_eq!(create(&mut m, ROOT_INO, "dIR", FileKind::File), Err(FsError::Exists));
    let f = create(&mut m, d, "a.TXT", FileKind::File).unwrap();
    m.apply(&Op::Rename { src_parent: d, src_name: "A.txt".into(), dst_parent: d, dst_name: "A.Txt".into(), replace: false, time: 2 }).unwrap();
    assert_eq!(m.get(f).unwrap().name, "A.Txt");
    assert_eq!(m.path_of(f).unwrap(), "Dir\\A.Txt");
    assert_eq!(
        m.apply(&Op::Rename { src_parent: ROOT_INO, src_name: "dir".into(), dst_parent: d, dst_name: "x".into(), replace: false, time: 2 }),
        Err(FsError::Invalid("cannot move a directory into itself or below it".into()))
    );
    assert_eq!(m.apply(&Op::Remove { parent: ROOT_INO, name: "DIR".into() }), Err(FsError::NotEmpty));
    assert!(m.check_structure().is_empty());
}

#[test]
fn streams_live_and_die_with_their_file() {
    let mut m = meta();
    let d = create(&mut m, ROOT_INO, "d", FileKind::Dir).unwrap();
    let f = create(&mut m, d, "f", FileKind::File).unwrap();
    let s = create(&mut m, f, ":Zone.Identifier", FileKind::File).unwrap();
    let ds = create(&mut m, d, ":dirstream", FileKind::File).unwrap();
    assert_eq!(create(&mut m, f, ":zone.IDENTIFIER", FileKind::File), Err(FsError::Exists));
    assert!(create(&mut m, s, ":nested", FileKind::File).is_err());
    assert!(create(&mut m, f, ":dir", FileKind::Dir).is_err());
    m.apply(&Op::Write { ino: s, size_after: 10, time: 3, extents: vec![WriteExtent { file_block: 0, dev_block: 300, block_count: 1 }] }).unwrap();
    assert_eq!(m.path_of(s).unwrap(), "d\\f:Zone.Identifier");
    assert_eq!(m.path_of(ds).unwrap(), "d:dirstream");
    // Size is the stream's own; attributes and times are the file's.
    m.apply(&Op::SetAttr { ino: f, attributes: Some(0x21), creation_time: None, last_access_time: None, last_write_time: None, change_time: None }).unwrap();
    let a = m.attr_of(s).unwrap();
    assert_eq!((a.size_bytes, a.attributes, a.name.as_str()), (10, 0x21, ":Zone.Identifier"));
    // A directory with only streams is empty; streams never move files.
    assert!(m.apply(&Op::Rename { src_parent: f, src_name: ":Zone.Identifier".into(), dst_parent: d, dst_name: ":x".into(), replace: false, time: 4 }).is_err());
    assert!(m.apply(&Op::Rename { src_parent: f, src_name: ":Zone.Identifier".into(), dst_parent: f, dst_name: "x".into(), replace: false, time: 4 }).is_err());
    m.apply(&Op::Rename { src_parent: f, src_name: ":zone.identifier".into(), dst_parent: f, dst_name: ":Renamed".into(), replace: false, time: 4 }).unwrap();
    m.apply(&Op::Rename { src_parent: d, src_name: "f".into(), dst_parent: ROOT_INO, dst_name: "g".into(), replace: false, time: 4 }).unwrap();
    assert_eq!(m.path_of(s).unwrap(), "g:Renamed");
    assert!(m.check_structure().is_empty(), "{:?}", m.check_structure());
    // The index is rebuilt from the inodes alone, as at load.
    let mut bare = m.inodes.clone();
    for n in bare.values_mut() {
        n.children.clear();
        n.streams.clear();
    }
    let (again, problems) = Meta::from_inodes(bare, m.next_ino, 100, 10_000);
    assert!(problems.is_empty());
    assert_eq!(again.inodes, m.inodes);
    // Removing the file frees its streams' blocks too.
    let freed = m.apply(&Op::Remove { parent: ROOT_INO, name: "G".into() }).unwrap();
    assert_eq!(freed, vec![Run { start: 300, count: 1 }]);
    assert!(m.get(s).is_err());
    m.apply(&Op::Remove { parent: d, name: ":DIRSTREAM".into() }).unwrap();
    m.apply(&Op::Remove { parent: ROOT_INO, name: "d".into() }).unwrap();
    assert!(m.check_structure().is_empty());
    assert_eq!(m.checkpoint_bytes, m.compute_checkpoint_bytes());
    // A stream index entry without its inode is caught.
    let g = create(&mut m, ROOT_INO, "h", FileKind::File).unwrap();
    let hs = create(&mut m, g, ":s", FileKind::File).unwrap();
    m.inodes.get_mut(&g).unwrap().streams.clear();
    assert!(m.check_structure().iter().any(|p| p.contains(&format!("inode {hs}"))), "{:?}", m.check_structure());
}

#[test]
fn punch_makes_a_hole_below_eof_only() {
    let mut m = meta();
    let f = create(&mut m, ROOT_INO, "f", FileKind::File).unwrap();
    m.apply(&Op::Write { ino: f, size_after: 3 * 4096, time: 2, extents: vec![WriteExtent { file_block: 0, dev_block: 200, block_count: 3 }] }).unwrap();
    let freed = m.apply(&Op::Punch { ino: f, file_block: 1, block_count: 1, time: 3 }).unwrap();
    assert_eq!(freed, vec![Run { start: 201, count: 1 }]);
    let n = m.get(f).unwrap();
    assert_eq!((n.dev_block_of(0), n.dev_block_of(1), n.dev_block_of(2), n.size), (Some(200), None, Some(202), 3 * 4096));
    for bad in [Op::Punch { ino: f, file_block: 2, block_count: 2, time: 3 }, Op::Punch { ino: f, file_block: 0, block_count: 0, time: 3 }, Op::Punch { ino: ROOT_INO, file_block: 0, block_count: 1, time: 3 }] {
        assert!(m.apply(&bad).is_err(), "{bad:?}");
    }
    assert!(m.check_structure().is_empty());
}

#[test]
fn failed_ops_change_nothing() {
    let mut m = meta();
    let f = create(&mut m, ROOT_INO, "f", FileKind::File).unwrap();
    let w = Op::Write { ino: f, size_after: 5000, time: 3, extents: vec![WriteExtent { file_block: 0, dev_block: 200, block_count: 2 }] };
    m.apply(&w).unwrap();
    let before = m.inodes.clone();
    // Past EOF, outside the data region, shrinking, wrong tail.
    for bad in [
        Op::Write { ino: f, size_after: 5000, time: 3, extents: vec![WriteExtent { file_block: 2, dev_block: 300, block_count: 1 }] },
        Op::Write { ino: f, size_after: 5000, time: 3, extents: vec![WriteExtent { file_block: 0, dev_block: 9_999, block_count: 2 }] },
        Op::Write { ino: f, size_after: 10, time: 3, extents: vec![WriteExtent { file_block: 0, dev_block: 300, block_count: 1 }] },
        Op::SetSize { ino: f, size: 100, time: 3, tail_dev_block: None },
        Op::SetSize { ino: f, size: 8192, time: 3, tail_dev_block: Some(400) },
        Op::SetSize { ino: ROOT_INO, size: 1, time: 3, tail_dev_block: None },
        Op::Create { ino: 99, parent: ROOT_INO, name: "g".into(), kind: FileKind::File, attributes: 0, time: 1 },
    ] {
        assert!(m.apply(&bad).is_err(), "{bad:?}");
        assert_eq!(m.inodes, before);
    }
    let freed = m.apply(&Op::SetSize { ino: f, size: 100, time: 3, tail_dev_block: Some(400) }).unwrap();
    assert_eq!(freed, vec![Run { start: 201, count: 1 }, Run { start: 200, count: 1 }]);
    assert_eq!(m.get(f).unwrap().dev_block_of(0), Some(400));
    assert!(m.check_structure().is_empty());
}
