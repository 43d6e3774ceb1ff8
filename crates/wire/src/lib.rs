//! The host-to-host protocol (documented byte by byte in
//! `docs/wire-protocol.md`).
//!
//! - [`frame`]: the fixed 16-byte frame header; pure, no I/O.
//! - [`msg`]: message bodies and their binary layouts; pure, no I/O.
//! - [`auth`]: the HMAC challenge that proves the cluster secret.
//! - [`mux`]: one multiplexed connection carrying many requests at once.

pub mod auth;
pub mod control;
pub mod frame;
pub mod msg;
pub mod mux;
pub mod net;

pub use frame::{FrameHeader, FrameKind, WIRE_VERSION};
pub use mux::{Conn, ConnError, Frame, RequestHandler};
