//! Tickle ACKs, as CTDB sends them: after a host died without a word, its
//! clients' TCP connections to the service address are still open on the
//! client side, which keeps retransmitting into the void with a growing
//! back-off. The host that takes the address over sends each of those
//! clients a bare ACK from the service address, with sequence and
//! acknowledgement numbers 0. The client's TCP finds them out of window and
//! answers with an ACK of its own; that reaches the new host, whose kernel
//! has no such connection and resets it; the client reconnects at once.
//!
//! The serving host's smbd lists its connections in a file
//! (`SmbdConfig::conns_file`); the supervisor sends the list to every other
//! node (`ControlRequest::TickleList`) whenever it changes, and a node that
//! starts a service it did not run before tickles the list it holds.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// Connections one service may list (its smbd's `connections_max` is far
/// below): bounds what a peer can make a node store and send.
pub const TICKLE_CONNS_MAX: usize = 4096;
/// Each ACK is sent this many times: one lost on the way must not leave
/// the client waiting out its back-off.
const TICKLE_REPEATS: usize = 2;

/// Parses a connection list line, `CLIENT_IP:PORT SERVICE_IP:PORT`.
pub fn parse_line(line: &str) -> Option<(SocketAddrV4, SocketAddrV4)> {
    let (c, s) = line.trim().split_once(' ')?;
    match (c.parse::<SocketAddr>().ok()?, s.trim().parse::<SocketAddr>().ok()?) {
        (SocketAddr::V4(c), SocketAddr::V4(s)) => Some((c, s)),
        _ => None,
    }
}

/// The Internet checksum of the TCP segment with its IPv4 pseudo-header.
fn tcp_checksum(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for pair in b.chunks(2) {
            let hi = pair[0] as u32;
            let lo = pair.get(1).copied().unwrap_or(0) as u32;
            sum += (hi << 8) | lo;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&[0, 6]);
    add(&(segment.len() as u16).to_be_bytes());
    add(segment);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The 20-byte TCP header of a tickle: ACK set, seq 0, ack 0.
pub fn tickle_segment(server: SocketAddrV4, client: SocketAddrV4) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0..2].copy_from_slice(&server.port().to_be_bytes());
    h[2..4].copy_from_slice(&client.port().to_be_bytes());
    // seq and ack stay 0.
    h[12] = 5 << 4; // data offset: 5 words, no options
    h[13] = 0x10; // ACK
    h[14..16].copy_from_slice(&1234u16.to_be_bytes()); // window
    let c = tcp_checksum(*server.ip(), *client.ip(), &h);
    h[16..18].copy_from_slice(&c.to_be_bytes());
    h
}

/// Sends the tickle ACKs for `conns` from their service address (which
/// this host must hold). Returns how many connections were tickled; needs
/// CAP_NET_RAW.
pub fn send_tickles(conns: &[(SocketAddrV4, SocketAddrV4)]) -> std::io::Result<usize> {
    // SAFETY: plain socket(2); the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_TCP) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut sent = 0;
    let mut last_err = None;
    for &(client, server) in conns {
        let seg = tickle_segment(server, client);
        let to = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(client.ip().octets()) },
            sin_zero: [0; 8],
        };
        let from = libc::sockaddr_in { sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(server.ip().octets()) }, ..to };
        // The kernel builds the IP header; binding picks its source address.
        // SAFETY: both addresses are valid sockaddr_in values on the stack.
        let bound = unsafe {
            libc::bind(fd, &from as *const libc::sockaddr_in as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
        };
        if bound != 0 {
            last_err = Some(std::io::Error::last_os_error());
            continue;
        }
        for _ in 0..TICKLE_REPEATS {
            // SAFETY: `seg` and `to` outlive the call.
            let n = unsafe {
                libc::sendto(
                    fd,
                    seg.as_ptr() as *const libc::c_void,
                    seg.len(),
                    0,
                    &to as *const libc::sockaddr_in as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            };
            if n < 0 {
                last_err = Some(std::io::Error::last_os_error());
            }
        }
        sent += 1;
    }
    // SAFETY: fd is ours and still open.
    unsafe { libc::close(fd) };
    match (sent, last_err) {
        (0, Some(e)) if !conns.is_empty() => Err(e),
        _ => Ok(sent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_checksums_to_zero_and_lines_parse() {
        let s: SocketAddrV4 = "198.18.0.50:445".parse().unwrap();
        let c: SocketAddrV4 = "198.18.0.100:51234".parse().unwrap();
        let seg = tickle_segment(s, c);
        assert_eq!(tcp_checksum(*s.ip(), *c.ip(), &seg), 0, "a segment with its checksum sums to 0");
        assert_eq!(seg[13], 0x10);
        assert_eq!(parse_line("198.18.0.100:51234 198.18.0.50:445\n"), Some((c, s)));
        assert_eq!(parse_line("[::1]:5 [::1]:445"), None);
        assert_eq!(parse_line("garbage"), None);
    }
}
