//! Authentication and malformed-input tests against real node processes,
//! speaking the wire protocol by hand over raw sockets.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{runtime, TestCluster};
use holdfast_client::Client;
use holdfast_types::limits::{FRAME_BODY_BYTES_MAX, FRAME_HEADER_BYTES};
use holdfast_types::ErrorCode;
use holdfast_wire::auth::{self, AuthError};
use holdfast_wire::pki::{ClusterCa, Subject};
use holdfast_wire::tls::{Credential, TlsFiles};
use holdfast_wire::frame::FrameHeader;
use holdfast_wire::msg::{self, Hello, Role};
use tokio_rustls::TlsStream;
use holdfast_wire::mux::{read_frame, write_frame};
use holdfast_wire::FrameKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(5);

fn addr(c: &TestCluster, node: u64) -> String {
    c.info.nodes[&node].clone()
}

/// Reads until the peer closes; returns whatever frames came first.
async fn expect_closed<S: tokio::io::AsyncRead + Unpin>(s: &mut S) {
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

/// A credential of this cluster's CA: `node` Some(N) is node N's own.
fn credential(c: &TestCluster, node: Option<u64>) -> Credential {
    match node {
        Some(n) => {
            let d = c.dir.join(format!("node-{n}"));
            Credential::load(&TlsFiles { ca: c.dir.join("tls/ca.pem"), cert: d.join("node.pem"), key: d.join("node.key") }).unwrap()
        }
        None => c.info.credential.clone(),
    }
}

/// A credential from another CA, naming node `node` (or a client).
fn foreign(node: Option<u64>) -> Credential {
    let ca = ClusterCa::generate().unwrap();
    let p = ca.issue(node.map_or(Subject::Client, Subject::Node)).unwrap();
    Credential::from_pem(ca.cert_pem().as_bytes(), p.cert_pem.as_bytes(), p.key_pem.as_bytes()).unwrap()
}

/// A TLS link to `node` as a client, for frames written by hand.
async fn authed(c: &TestCluster, node: u64) -> TlsStream<TcpStream> {
    let s = TcpStream::connect(addr(c, node)).await.unwrap();
    auth::dial(s, &c.info.credential, Role::Client, 0, node).await.unwrap()
}

async fn expect_error<S: tokio::io::AsyncRead + Unpin>(s: &mut S, code: ErrorCode) {
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

/// Without a certificate of the cluster's CA a client can neither read
/// nor write, and no credential but node N's own can speak as node N.
#[test]
fn only_the_clusters_certificates_open_links_and_only_a_nodes_own_claims_it() {
    let c = TestCluster::start("auth", 3);
    c.wait_healthy(3);
    c.cli_ok(&["object", "create", "s", "--size", "1MiB", "--memory"]);
    let rt = runtime();
    rt.block_on(async {
        let good = c.client();
        good.write("s", 0, Bytes::from(vec![7u8; 512])).await.unwrap();
        let id = good.lookup("s").await.unwrap().id;

        // 1. The real client library with another CA's certificate: refused
        //    in the TLS handshake.
        let bad = Client::new(foreign(None), c.info.nodes.clone());
        assert!(bad.read("s", 0, 512).await.is_err(), "read with a foreign certificate succeeded");
        assert!(bad.write("s", 0, Bytes::from(vec![1u8; 512])).await.is_err(), "write with a foreign certificate succeeded");

        for node in 1..=3u64 {
            // 2. Another CA's certificate that names a member node.
            let s = TcpStream::connect(addr(&c, node)).await.unwrap();
            let r = auth::dial(s, &foreign(Some(1)), Role::Node, 1, node).await;
            assert!(matches!(r, Err(AuthError::Tls(_))), "node {node}: {r:?}");

            // 3. The clients' certificate claiming to be a node: refused with
            //    UNAUTHENTICATED after TLS, then closed.
            let claimed = if node == 1 { 2 } else { 1 };
            let s = TcpStream::connect(addr(&c, node)).await.unwrap();
            let r = auth::dial(s, &credential(&c, None), Role::Node, claimed, node).await;
            assert!(matches!(&r, Err(AuthError::Refused(e)) if e.code == ErrorCode::Unauthenticated), "node {node}: {r:?}");

            // 4. One node's certificate claiming to be another node.
            let other = (1..=3u64).find(|&n| n != node && n != claimed).unwrap();
            let s = TcpStream::connect(addr(&c, node)).await.unwrap();
            let r = auth::dial(s, &credential(&c, Some(other)), Role::Node, claimed, node).await;
            assert!(matches!(&r, Err(AuthError::Refused(e)) if e.code == ErrorCode::Unauthenticated), "node {node}: {r:?}");

            // 5. The old plain-text handshake, or none at all: a wire frame
            //    where TLS expects its ClientHello is dropped unanswered.
            let w = msg::Write { object: id, offset: 0, data: Bytes::from(vec![9u8; 512]) };
            for frame in [
                (FrameKind::Hello, Hello { role: Role::Client, node_id: 0 }.encode()),
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
                // No data frame may come back (a TLS alert at most).
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
        s.flush().await.unwrap();
        drop(s);
        still_serving(&c, "m", &[5u8; 512]).await;

        // Oversized: over the frame cap, refused before any allocation.
        let mut s = authed(&c, owner).await;
        let mut hb = FrameHeader::new(FrameKind::Write, 0, 3, 0).encode();
        hb[0..4].copy_from_slice(&((FRAME_BODY_BYTES_MAX as u32) + 1).to_le_bytes());
        s.write_all(&hb).await.unwrap();
        s.flush().await.unwrap();
        expect_error(&mut s, ErrorCode::BadFrame).await;
        expect_closed(&mut s).await;
        still_serving(&c, "m", &[5u8; 512]).await;

        // Wrong version.
        let mut s = authed(&c, owner).await;
        let mut hb = FrameHeader::new(FrameKind::Read, 0, 4, 20).encode();
        hb[4] = 99;
        s.write_all(&hb).await.unwrap();
        s.write_all(&[0u8; 20]).await.unwrap();
        s.flush().await.unwrap();
        expect_error(&mut s, ErrorCode::BadVersion).await;
        expect_closed(&mut s).await;

        // Unknown type.
        let mut s = authed(&c, owner).await;
        let mut hb = FrameHeader::new(FrameKind::Read, 0, 5, 0).encode();
        hb[5] = 0x77;
        s.write_all(&hb).await.unwrap();
        s.flush().await.unwrap();
        expect_error(&mut s, ErrorCode::UnknownType).await;
        expect_closed(&mut s).await;

        // Garbage where the TLS handshake belongs: dropped.
        let mut s = TcpStream::connect(addr(&c, owner)).await.unwrap();
        let mut hb = FrameHeader::new(FrameKind::Hello, 0, 0, 0).encode();
        hb[0..4].copy_from_slice(&(1u32 << 30).to_le_bytes());
        s.write_all(&hb).await.unwrap();
        expect_closed(&mut s).await;

        // A component write from a client is refused with UNAUTHENTICATED
        // (components take writes from their owner alone) and the
        // connection stays usable.
        for node in 1..=3u64 {
            let mut s = authed(&c, node).await;
            let w = msg::ComponentWrite { object: o.id, epoch: o.epoch, seq: 1, offset: 0, data: Bytes::from(vec![0u8; 512]) };
            write_frame(&mut s, FrameKind::ComponentWrite, 0, 6, &[&w.encode_fixed(), &w.data]).await.unwrap();
            expect_error(&mut s, ErrorCode::Unauthenticated).await;
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

/// What the man in the middle does to the next bytes from the client.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tamper {
    Pass,
    /// Flip one bit in the next chunk.
    Alter,
    /// Send a well-formed plain Write frame of our own before the next chunk.
    Inject,
}

/// A TCP relay from a local port to `upstream` that tampers with the
/// client's bytes on demand, as an on-path attacker would once the link is
/// up. Returns its address.
async fn relay(upstream: String, tamper: Arc<Mutex<Tamper>>, forged: Bytes) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((down, _)) = l.accept().await {
            let up = TcpStream::connect(&upstream).await.unwrap();
            let (mut dr, mut dw) = down.into_split();
            let (mut ur, mut uw) = up.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut ur, &mut dw).await;
            });
            let (tamper, forged) = (tamper.clone(), forged.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match dr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let mode = std::mem::replace(&mut *tamper.lock().unwrap(), Tamper::Pass);
                    match mode {
                        Tamper::Alter => buf[n / 2] ^= 0x01,
                        Tamper::Inject => {
                            if uw.write_all(&forged).await.is_err() {
                                break;
                            }
                        }
                        Tamper::Pass => {}
                    }
                    if uw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    at
}

/// An on-path attacker who lets the handshake finish and then alters or
/// injects bytes gets the link closed: nothing it sent is applied, and the
/// client's write fails rather than landing changed.
#[test]
fn an_altered_or_injected_frame_on_an_established_link_is_refused() {
    let c = TestCluster::start("mitm", 3);
    c.wait_healthy(3);
    c.cli_ok(&["object", "create", "t", "--size", "1MiB", "--memory"]);
    let rt = runtime();
    rt.block_on(async {
        let good = c.client();
        good.write("t", 0, Bytes::from(vec![1u8; 4096])).await.unwrap();
        let o = good.lookup("t").await.unwrap();
        // The attacker's frame: a client Write of 0xEE at offset 0, well
        // formed in every way but for the missing TLS record around it.
        let w = msg::Write { object: o.id, offset: 0, data: Bytes::from(vec![0xeeu8; 4096]) };
        let mut forged = FrameHeader::new(FrameKind::Write, 0, 99, msg::Write::FIXED_BYTES + 4096).encode().to_vec();
        forged.extend_from_slice(&w.encode_fixed());
        forged.extend_from_slice(&w.data);
        for attack in [Tamper::Alter, Tamper::Inject] {
            let tamper = Arc::new(Mutex::new(Tamper::Pass));
            let at = relay(addr(&c, o.owner), tamper.clone(), Bytes::from(forged.clone())).await;
            let conn = Client::dial(&c.info.credential, o.owner, &at).await.unwrap();
            // Through the relay, untouched: works.
            Client::write_at(&conn, o.id, 4096, Bytes::from(vec![2u8; 4096])).await.unwrap();
            *tamper.lock().unwrap() = attack;
            let r = Client::write_at(&conn, o.id, 0, Bytes::from(vec![3u8; 4096])).await;
            assert!(r.is_err(), "a write survived a tampered link");
            tokio::time::timeout(T, async {
                while !conn.is_closed() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .expect("the node closes a link whose bytes were tampered with");
            // Neither the altered write nor the injected one landed.
            for node in 1..=3u64 {
                let got = good.component_read(node, o.id, 0, 8192).await.unwrap();
                assert_eq!(&got[..4096], &[1u8; 4096][..], "node {node} took a tampered write");
                assert_eq!(&got[4096..], &[2u8; 4096][..], "node {node}");
            }
        }
    });
}
