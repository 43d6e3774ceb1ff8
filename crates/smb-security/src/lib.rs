//! Everything cryptographic the Holdfast SMB server needs, with no I/O on
//! sockets: the SMB server feeds bytes in and sends the bytes that come out.
//!
//! | module | what | spec |
//! |---|---|---|
//! | [`spnego`] | [`ServerAuth`]: SPNEGO + NTLMSSP for SESSION_SETUP; the NEGOTIATE response's token | RFC 4178, [MS-SPNG] |
//! | [`ntlm`] | NTLMSSP server: CHALLENGE, AUTHENTICATE, NTLMv2 and MIC verification | [MS-NLMP] |
//! | [`kdf`] | SMB 3.x key derivation (SP800-108, HMAC-SHA256) | [MS-SMB2] 3.1.4.2 |
//! | [`preauth`] | SMB 3.1.1 pre-authentication integrity hash (SHA-512) | [MS-SMB2] 3.3.5.4 |
//! | [`signing`] | HMAC-SHA256, AES-128-CMAC, AES-128-GMAC signing | [MS-SMB2] 3.1.4.1 |
//! | [`encryption`] | TRANSFORM_HEADER, AES-128/256-CCM/GCM | [MS-SMB2] 2.2.41, 3.1.4.3 |
//! | [`users`] | the `DIR/smb-users` file and the user lookup | |
//!
//! A session, from the server's side:
//!
//! ```text
//! NEGOTIATE      resp.SecurityBuffer = ServerAuth::negotiate_token()
//!                conn_hash.update(req); conn_hash.update(resp)         (3.1.1)
//! SESSION_SETUP  sess_hash = conn_hash.clone(); sess_hash.update(req)
//!                match auth.step(req.SecurityBuffer)? {
//!                  Continue(out) => MORE_PROCESSING_REQUIRED, out; sess_hash.update(resp)
//!                  Done{auth, out} => keys = kdf::derive_session_keys(dialect,
//!                        &auth.session_key, cipher, Some(sess_hash.value()));
//!                        SUCCESS, out, signed with Signer::new(alg, &keys.signing_key)
//!                }
//! later          Signer::verify / sign; SmbCipher::decrypt / encrypt
//! ```
//!
//! Not supported: Kerberos, NTLMv1, LM, NTLM without extended session
//! security for the mechListMIC (accepted without one). See
//! `docs/smb-security.md`.

pub mod encryption;
pub mod error;
pub mod kdf;
pub mod ntlm;
pub mod preauth;
pub mod signing;
pub mod spnego;
pub mod users;

mod crypto;
mod der;

#[cfg(test)]
mod e2e_tests;
#[cfg(any(test, feature = "test-client"))]
pub mod test_client;
#[cfg(test)]
mod test_util;

pub use encryption::{SmbCipher, TransformHeader, TRANSFORM_HEADER_LEN};
pub use error::{Error, Result};
pub use kdf::{derive_session_keys, Cipher, Dialect, SessionKeys};
pub use ntlm::{nt_hash, Authenticated, NtlmServerConfig};
pub use preauth::PreauthHash;
pub use signing::{Signer, SigningAlgorithm};
pub use spnego::{AuthStep, ServerAuth};
pub use users::{UserLookup, UserRecord, Users, UsersError};
