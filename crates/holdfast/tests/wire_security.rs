//! Authentication and malformed-input tests against real node processes,
//! speaking the wire protocol by hand over raw sockets.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{runtime, TestCluster};
use holdfast_client::Client;
use holdfast_types::limits::{FRAME_BODY_BYTES_MAX, FRAME_HEADER_BYTES};
use holdfast_types::ErrorCode;
use holdfast_wire::auth::{self, ClusterSecret};
use holdfast_wire::frame::FrameHeader;
use holdfast_wire::msg::{self, Hello, Role};
use holdfast_wire::mux::{read_frame, write_frame};
use holdfast_wire::FrameKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(5);

fn addr(c: &TestCluster, node: u64) -> String {
    c.info.nodes[&node].clone()
}

/// Reads until the peer closes; returns whatever frames came first.
async fn expect_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let r = tokio::time::timeout(T, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(r.is_ok(), "connection was not closed");
}

async fn authed(c: &TestCluster, node: u64) -> TcpStream {
    let mut s = TcpStream::connect(addr(c, node)).await.unwrap();
    auth::dial(&mut s, &c.info.secret, Role::Client, 0).await.unwrap();
    s
}

async fn expect_error(s: &mut TcpStream, code: ErrorCode) {
    let f = tokio::time::timeout(T, read_frame(s, FRAME_BODY_BYTES_MAX)).await.expect("reply in time").expect("a reply frame");
    assert_eq!(f.header.kind, FrameKind::Error as u8, "expected an error frame");
    let e = msg::decode_error(&f.body).unwrap();
    assert_eq!(e.code, code, "{e}");
    assert!(!e.message.is_empty());
}

async fn still_serving(c: &TestCluster, object: &str, want: &[u8]) {
    let cl = c.client();
    let got = cl.read(object, 0, want.len() as u32).await.expect("node keeps serving legitimate clients");
    assert_eq!(&got[..], want);
}

/// Without the cluster secret a client can neither read nor write.
#[test]
fn client_without_the_secret_is_refused() {
    let c = TestCluster::start("auth", 3);
    c.wait_healthy(3);
    c.cli_ok(&["object", "create", "s", "--size", "1MiB", "--memory"]);
    let rt = runtime();
    rt.block_on(async {
        let good = c.client();
        good.write("s", 0, Bytes::from(vec![7u8; 512])).await.unwrap();
        let id = good.lookup("s").await.unwrap().id;

        // 1. The real client library with a wrong secret: refused at the handshake.
        let bad = Client::new(ClusterSecret::generate(), c.info.nodes.clone());
        assert!(bad.read("s", 0, 512).await.is_err(), "read with a wrong secret succeeded");
        assert!(bad.write("s", 0, Bytes::from(vec![1u8; 512])).await.is_err(), "write with a wrong secret succeeded");

        for node in 1..=3u64 {
            // 2. A forged proof: the node answers UNAUTHENTICATED and closes.
            let mut s = TcpStream::connect(addr(&c, node)).await.unwrap();
            let hello = Hello { role: Role::Client, node_id: 0, nonce: [3; 32] };
            write_frame(&mut s, FrameKind::Hello, 0, 0, &[&hello.encode()]).await.unwrap();
            let ch = read_frame(&mut s, 1024).await.unwrap();
            assert_eq!(ch.header.kind, FrameKind::Challenge as u8);
            write_frame(&mut s, FrameKind::Proof, 0, 0, &[&[0u8; 32]]).await.unwrap();
            expect_error(&mut s, ErrorCode::Unauthenticated).await;
            // Whatever we send next is never served.
            let w = msg::Write { object: id, offset: 0, data: Bytes::from(vec![9u8; 512]) };
            let _ = write_frame(&mut s, FrameKind::Write, 0, 1, &[&w.encode_fixed(), &w.data]).await;
            expect_closed(&mut s).await;

            // 3. No handshake at all: a read or write frame straight away is dropped.
            for frame in [
                (FrameKind::Read, msg::Read { object: id, offset: 0, length: 512 }.encode()),
                (FrameKind::Write, Bytes::from([&w.encode_fixed()[..], &w.data[..]].concat())),
            ] {
                let mut s = TcpStream::connect(addr(&c, node)).await.unwrap();
                write_frame(&mut s, frame.0, 0, 1, &[&frame.1]).await.unwrap();
                let mut buf = vec![0u8; 4096];
                let n = tokio::time::timeout(T, async {
                    let mut total = 0;
                    loop {
                        match s.read(&mut buf[total..]).await {
                            Ok(0) | Err(_) => return total,
                            Ok(k) => total += k,
                        }
                    }
                })
                .await
                .expect("connection closed");
                // No data frame may come back: at most nothing.
                assert!(n < FRAME_HEADER_BYTES || buf[5] != FrameKind::Data as u8, "unauthenticated read returned data");
            }
        }
        // Nothing was written by the refused connections.
        still_serving(&c, "s", &[7u8; 512]).await;
        for node in 1..=3u64 {
            assert_eq!(good.component_read(node, id, 0, 512).await.unwrap(), vec![7u8; 512]);
        }
    });
}

/// Truncated, oversized, wrong-version, unknown-type and bad-epoch frames
/// each get a clear error or a closed connection; the node keeps serving.
#[test]
fn malformed_frames_get_errors_and_the_node_keeps_serving() {
    let c = TestCluster::start("malformed", 3);
    c.wait_healthy(3);
    c.cli_ok(&["object", "create", "m", "--size", "1MiB", "--memory"]);
    let rt = runtime();
    rt.block_on(async {
        let good = c.client();
        good.write("m", 0, Bytes::from(vec![5u8; 512])).await.unwrap();
        let o = good.lookup("m").await.unwrap();
        let owner = o.owner;

        // Truncated body: a Read needs 20 bytes.
        let mut s = authed(&c, owner).await;
        write_frame(&mut s, FrameKind::Read, 0, 1, &[&[1, 2, 3, 4, 5]]).await.unwrap();
        expect_error(&mut s, ErrorCode::BadFrame).await;
        expect_closed(&mut s).await;
        still_serving(&c, "m", &[5u8; 512]).await;

        // Truncated frame: the header promises more than ever arrives.
        let mut s = authed(&c, owner).await;
        let h = FrameHeader::new(FrameKind::Write, 0, 2, 100);
        s.write_all(&h.encode()).await.unwrap();
        s.write_all(&[0u8; 10]).await.unwrap();
        drop(s);
        still_serving(&c, "m", &[5u8; 512]).await;

        // Oversized: over the frame cap, refused before any allocation.
        let mut s = authed(&c, owner).await;
        let mut hb = FrameHeader::new(FrameKind::Write, 0, 3, 0).encode();
        hb[0..4].copy_from_slice(&((FRAME_BODY_BYTES_MAX as u32) + 1).to_le_bytes());
        s.write_all(&hb).await.unwrap();
        expect_error(&mut s, ErrorCode::BadFrame).await;
        expect_closed(&mut s).await;
        still_serving(&c, "m", &[5u8; 512]).await;

        // Wrong version.
        let mut s = authed(&c, owner).await;
        let mut hb = FrameHeader::new(FrameKind::Read, 0, 4, 20).encode();
        hb[4] = 99;
        s.write_all(&hb).await.unwrap();
        s.write_all(&[0u8; 20]).await.unwrap();
        expect_error(&mut s, ErrorCode::BadVersion).await;
        expect_closed(&mut s).await;

        // Unknown type.
        let mut s = authed(&c, owner).await;
        let mut hb = FrameHeader::new(FrameKind::Read, 0, 5, 0).encode();
        hb[5] = 0x77;
        s.write_all(&hb).await.unwrap();
        expect_error(&mut s, ErrorCode::UnknownType).await;
        expect_closed(&mut s).await;

        // Oversized before authentication: dropped without a handshake.
        let mut s = TcpStream::connect(addr(&c, owner)).await.unwrap();
        let mut hb = FrameHeader::new(FrameKind::Hello, 0, 0, 0).encode();
        hb[0..4].copy_from_slice(&(1u32 << 30).to_le_bytes());
        s.write_all(&hb).await.unwrap();
        expect_closed(&mut s).await;

        // Bad epoch: a component write with epoch 0 is refused with
        // STALE_EPOCH and the connection stays usable.
        for node in 1..=3u64 {
            let mut s = authed(&c, node).await;
            let w = msg::ComponentWrite { object: o.id, epoch: 0, seq: 1, offset: 0, data: Bytes::from(vec![0u8; 512]) };
            write_frame(&mut s, FrameKind::ComponentWrite, 0, 6, &[&w.encode_fixed(), &w.data]).await.unwrap();
            expect_error(&mut s, ErrorCode::StaleEpoch).await;
            write_frame(&mut s, FrameKind::Ping, 0, 7, &[]).await.unwrap();
            let f = tokio::time::timeout(T, read_frame(&mut s, 1024)).await.unwrap().unwrap();
            assert_eq!((f.header.kind, f.header.request_id), (FrameKind::Data as u8, 7));
        }

        // Raft and fences are for cluster nodes only.
        let mut s = authed(&c, owner).await;
        write_frame(&mut s, FrameKind::Raft, 0, 8, &[b"{}"]).await.unwrap();
        expect_error(&mut s, ErrorCode::Unauthenticated).await;

        // A node holds every component byte it held before all this.
        still_serving(&c, "m", &[5u8; 512]).await;
        for node in 1..=3u64 {
            assert_eq!(good.component_read(node, o.id, 0, 512).await.unwrap(), vec![5u8; 512]);
        }
    });
}
