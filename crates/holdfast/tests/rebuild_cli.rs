//! `holdfast object rebuild`: an operator-started full rebuild of one
//! node's component, over real processes and the real CLI.

mod common;

use common::*;

const SIZE: usize = 64 << 20;

#[test]
fn rebuild_cli_rebuilds_a_copy_and_refuses_the_owner() {
    let c = TestCluster::start("rebuildcli", 3);
    c.wait_healthy(3);
    c.cli_ok(&["object", "create", "rb", "--size", "64MiB", "--memory", "--replicas", "3"]);
    let s = c.wait_all_active(3);
    let o = s.objects.iter().find(|o| o.name == "rb").expect("object rb in status");
    assert_eq!(o.components.len(), 3);
    let owner = o.owner;
    let victim = o.components.iter().map(|x| x.node).find(|&n| n != owner).expect("a non-owner component");

    // Data across the whole object, so a bad copy anywhere would show.
    let data = pattern(SIZE, 0x5eed);
    let work = temp_dir("rebuildcli-data");
    let file = write_file(&work, "data.bin", &data);
    c.cli_ok(&["object", "write", "rb", "--offset", "0", "--data-file", file.to_str().expect("utf8")]);

    // Not a terminal here: plain progress lines, then the ACTIVE line.
    let victim_s = victim.to_string();
    let out = c.cli_ok(&["object", "rebuild", "rb", "--node", &victim_s]);
    let text = String::from_utf8_lossy(&out);
    eprintln!("holdfast object rebuild printed:\n{text}");
    let done = format!("object rb: node {victim} rebuilt, ACTIVE");
    assert!(text.lines().any(|l| l == done), "no {done:?} line in:\n{text}");

    let s = c.status();
    let o = s.objects.iter().find(|o| o.name == "rb").expect("object rb in status");
    let comp = o.components.iter().find(|x| x.node == victim).expect("victim component");
    assert_eq!(comp.state.as_str(), "active", "component of node {victim} after the rebuild: {:?}", o.components);

    // The rebuilt copy itself holds what was written.
    let got = c.cli_ok(&["object", "read", "rb", "--offset", "0", "--length", &SIZE.to_string(), "--node", &victim_s]);
    assert_eq!(got.len(), data.len(), "short read from node {victim}");
    assert!(got == data, "node {victim}'s rebuilt copy differs from what was written");

    // The owner's own component cannot be rebuilt.
    let out = c.cli(&["object", "rebuild", "rb", "--node", &owner.to_string()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "rebuilding the owner's component succeeded:\n{err}");
    assert!(err.contains("move ownership"), "unexpected error for the owner: {err}");

    let _ = std::fs::remove_dir_all(&work);
}
