//! The host-to-host protocol (documented byte by byte in
//! `docs/wire-protocol.md`).
//!
//! - [`frame`]: the fixed 16-byte frame header; pure, no I/O.
//! - [`msg`]: message bodies and their binary layouts; pure, no I/O.
//! - [`pki`]: the cluster CA and the certificates it signs.
//! - [`tls`]: a host's credential (CA, certificate, key) as TLS configs.
//! - [`auth`]: opening a link: mutual TLS, then which node is which.
//! - [`mux`]: one multiplexed connection carrying many requests at once.

pub mod auth;
pub mod control;
pub mod frame;
pub mod msg;
pub mod mux;
pub mod net;
pub mod pki;
pub mod tls;

pub use frame::{FrameHeader, FrameKind, WIRE_VERSION};
pub use mux::{Conn, ConnError, Frame, RequestHandler};
