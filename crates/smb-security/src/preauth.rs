//! SMB 3.1.1 pre-authentication integrity ([MS-SMB2] 3.3.5.4, 3.3.5.5):
//! a SHA-512 hash chained over the NEGOTIATE and SESSION_SETUP messages,
//! which becomes the context of the 3.1.1 key derivation.
//!
//! ```text
//! H0 = 64 zero bytes
//! Hn = SHA-512(Hn-1 || message n)
//! ```
//!
//! Each message is one whole SMB2 message as sent on the wire: from the
//! 0xFE 'S' 'M' 'B' header to its end (without the 4-byte transport
//! header; a compound member without the padding that follows it is not a
//! case here, NEGOTIATE and SESSION_SETUP are never compounded).
//!
//! How the server uses it:
//!
//! * Connection.PreauthIntegrityHashValue: `PreauthHash::new()`, then
//!   `update(NEGOTIATE request)` and `update(NEGOTIATE response)`, only when
//!   3.1.1 is negotiated.
//! * Session.PreauthIntegrityHashValue: at a SESSION_SETUP request that
//!   creates a session (or binds a channel), a *copy* of the connection's
//!   value (`clone()`); then `update(request)` for every SESSION_SETUP
//!   request of that session and `update(response)` for every response
//!   with STATUS_MORE_PROCESSING_REQUIRED. The final (STATUS_SUCCESS)
//!   response is not hashed: the keys are derived from the value after the
//!   last request, and that response is signed with them.

use sha2::{Digest, Sha512};

/// A pre-authentication integrity hash value.
#[derive(Clone, PartialEq, Eq)]
pub struct PreauthHash {
    value: [u8; 64],
}

impl PreauthHash {
    /// The initial value: 64 zero bytes.
    pub fn new() -> Self {
        PreauthHash { value: [0; 64] }
    }

    /// A hash that continues from `value`.
    pub fn from_value(value: [u8; 64]) -> Self {
        PreauthHash { value }
    }

    /// Chains one message in: value = SHA-512(value || message).
    pub fn update(&mut self, message: &[u8]) {
        self.update_parts(&[message]);
    }

    /// As [`PreauthHash::update`] for a message held in several buffers
    /// (e.g. header and body), hashed as their concatenation.
    pub fn update_parts(&mut self, parts: &[&[u8]]) {
        let mut h = Sha512::new();
        h.update(self.value);
        for p in parts {
            h.update(p);
        }
        self.value.copy_from_slice(&h.finalize());
    }

    /// The current value, for [`crate::kdf::derive_session_keys`].
    pub fn value(&self) -> &[u8; 64] {
        &self.value
    }
}

impl Default for PreauthHash {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PreauthHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreauthHash({}…)", crate::crypto::hex(&self.value[..8]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;

    /// Microsoft's pre-authentication integrity walk-through: NEGOTIATE,
    /// then a session's two SESSION_SETUP round trips.
    #[test]
    fn microsoft_vector() {
        let mut conn = PreauthHash::new();
        conn.update(&unhex_vec(PREAUTH_NEGOTIATE_REQUEST));
        assert_eq!(conn.value(), &unhex_arr::<64>(PREAUTH_HASH_1));
        conn.update(&unhex_vec(PREAUTH_NEGOTIATE_RESPONSE));
        assert_eq!(conn.value(), &unhex_arr::<64>(PREAUTH_HASH_2));

        // The session starts from a copy; the connection value stays.
        let mut sess = conn.clone();
        sess.update(&unhex_vec(PREAUTH_SESSION_SETUP_REQUEST_1));
        assert_eq!(sess.value(), &unhex_arr::<64>(PREAUTH_HASH_3));
        let resp = unhex_vec(PREAUTH_SESSION_SETUP_RESPONSE_1);
        // Split to check update_parts hashes the concatenation.
        sess.update_parts(&[&resp[..64], &resp[64..]]);
        assert_eq!(sess.value(), &unhex_arr::<64>(PREAUTH_HASH_4));
        sess.update(&unhex_vec(PREAUTH_SESSION_SETUP_REQUEST_2));
        assert_eq!(sess.value(), &unhex_arr::<64>(PREAUTH_HASH_5));
        assert_eq!(conn.value(), &unhex_arr::<64>(PREAUTH_HASH_2));
    }
}
