//! `holdfast-smb-client`: a small async SMB 2.1 / 3.x client for Holdfast's
//! tests and benchmarks. One connection, one session, one request in
//! flight at a time; encoding and decoding come from `holdfast-smb-proto`,
//! NTLMv2/SPNEGO, key derivation and signing from `holdfast-smb-security`.
//!
//! It does what a careful client must (credits, CreditCharge, STATUS_PENDING
//! interim responses, signature checks on every response after logon, break
//! notifications set aside) and offers a raw path ([`SmbClient::build_pdu`],
//! [`SmbClient::send_message`], [`SmbClient::send_raw`], [`SmbClient::recv`])
//! for tests that send malformed bytes. See `docs/smb-client.md`.

mod client;
mod error;
mod open;
mod ops;
mod session;
mod transport;

pub use client::{ClientConfig, Negotiated, RequestOpts, Response, SmbClient, NOTIFICATION_MESSAGE_ID};
pub use error::{ClientError, Result};
pub use open::{Durable, OpenOptions};
pub use ops::{lease_break, unc, Open, Tree};
pub use session::Credentials;

/// The codec, re-exported so users need no second dependency.
pub use holdfast_smb_proto as proto;
pub use holdfast_types::ntstatus::NtStatus;
