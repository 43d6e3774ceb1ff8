//! Just enough SMB1 to answer a client that opens with an SMB1 NEGOTIATE
//! (multi-protocol negotiate, [MS-SMB2] 3.3.5.3): detect the message, read
//! its dialect strings, and say which SMB2 dialect to answer with. The
//! server then sends an SMB2 NEGOTIATE response; nothing else of SMB1 is
//! spoken.
//!
//! ```text
//! offset size field
//!  0     4    Protocol   0xFF 'S' 'M' 'B'
//!  4     1    Command    0x72 (SMB_COM_NEGOTIATE)
//!  5    27    Status, Flags, Flags2, PIDHigh, SecurityFeatures, Reserved, TID, PIDLow, UID, MID
//! 32     1    WordCount  0
//! 33     2    ByteCount
//! 35     n    Dialects   repeated: 0x02, NUL-terminated OEM string
//! ```

use crate::error::{ProtoError, Result};
use crate::limits::SMB1_DIALECTS_MAX;
use crate::wire::{check_max, Reader};

pub const SMB1_PROTOCOL_ID: [u8; 4] = [0xFF, b'S', b'M', b'B'];
pub const SMB1_COM_NEGOTIATE: u8 = 0x72;
const SMB1_HEADER_BYTES: usize = 32;
/// BufferFormat byte before each dialect string.
const DIALECT_BUFFER_FORMAT: u8 = 0x02;
/// The dialect strings that mean "I speak SMB2".
pub const SMB1_DIALECT_SMB2_WILDCARD: &str = "SMB 2.???";
pub const SMB1_DIALECT_SMB2_002: &str = "SMB 2.002";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smb1Negotiate {
    pub dialects: Vec<String>,
}

impl Smb1Negotiate {
    pub fn decode(msg: &[u8]) -> Result<Smb1Negotiate> {
        let mut r = Reader::new(msg, "SMB1 NEGOTIATE");
        let protocol: [u8; 4] = r.array()?;
        if protocol != SMB1_PROTOCOL_ID {
            return Err(ProtoError::ProtocolId { got: protocol });
        }
        let command = r.u8()?;
        if command != SMB1_COM_NEGOTIATE {
            return Err(ProtoError::InvalidValue { field: "SMB1 Command", value: command.into() });
        }
        r.skip(SMB1_HEADER_BYTES - 5)?;
        let word_count = r.u8()?;
        if word_count != 0 {
            return Err(ProtoError::InvalidValue { field: "SMB1 WordCount", value: word_count.into() });
        }
        let byte_count = r.u16()?;
        let mut bytes = Reader::new(r.take(byte_count.into())?, "SMB1 NEGOTIATE dialects");
        let mut dialects = Vec::new();
        while bytes.remaining() > 0 {
            let format = bytes.u8()?;
            if format != DIALECT_BUFFER_FORMAT {
                return Err(ProtoError::InvalidValue { field: "SMB1 BufferFormat", value: format.into() });
            }
            // The string runs to its NUL; a missing NUL is a truncation.
            let mut s = Vec::new();
            loop {
                let b = bytes.u8()?;
                if b == 0 {
                    break;
                }
                s.push(b);
            }
            check_max("SMB1 dialect count", dialects.len() as u64 + 1, SMB1_DIALECTS_MAX as u64)?;
            dialects.push(String::from_utf8_lossy(&s).into_owned());
        }
        Ok(Smb1Negotiate { dialects })
    }

    /// The DialectRevision of the SMB2 NEGOTIATE response to send
    /// (3.3.5.3.1): 0x02FF if the client offered "SMB 2.???", 0x0202 if
    /// only "SMB 2.002", None if it speaks no SMB2 (drop the connection).
    pub fn smb2_dialect(&self) -> Option<u16> {
        if self.dialects.iter().any(|d| d == SMB1_DIALECT_SMB2_WILDCARD) {
            Some(crate::dialect::SMB2_WILDCARD)
        } else if self.dialects.iter().any(|d| d == SMB1_DIALECT_SMB2_002) {
            Some(crate::dialect::SMB_2_0_2)
        } else {
            None
        }
    }
}

/// Whether `msg` starts with the SMB1 protocol id.
pub fn is_smb1(msg: &[u8]) -> bool {
    msg.get(0..4) == Some(&SMB1_PROTOCOL_ID[..])
}

#[cfg(test)]
pub(crate) fn build_smb1_negotiate(dialects: &[&str]) -> Vec<u8> {
    let mut body = Vec::new();
    for d in dialects {
        body.push(DIALECT_BUFFER_FORMAT);
        body.extend_from_slice(d.as_bytes());
        body.push(0);
    }
    let mut m = SMB1_PROTOCOL_ID.to_vec();
    m.push(SMB1_COM_NEGOTIATE);
    m.resize(SMB1_HEADER_BYTES, 0);
    m.push(0);
    m.extend_from_slice(&(body.len() as u16).to_le_bytes());
    m.extend_from_slice(&body);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_style_dialects_select_the_wildcard() {
        let m = build_smb1_negotiate(&["NT LM 0.12", "SMB 2.002", "SMB 2.???"]);
        let n = Smb1Negotiate::decode(&m).unwrap();
        assert_eq!(n.dialects, vec!["NT LM 0.12", "SMB 2.002", "SMB 2.???"]);
        assert_eq!(n.smb2_dialect(), Some(0x02FF));
        assert!(is_smb1(&m));
    }

    #[test]
    fn only_2_002_selects_0202_and_none_selects_nothing() {
        let m = build_smb1_negotiate(&["NT LM 0.12", "SMB 2.002"]);
        assert_eq!(Smb1Negotiate::decode(&m).unwrap().smb2_dialect(), Some(0x0202));
        let m = build_smb1_negotiate(&["NT LM 0.12"]);
        assert_eq!(Smb1Negotiate::decode(&m).unwrap().smb2_dialect(), None);
    }

    #[test]
    fn malformed_is_an_error() {
        let m = build_smb1_negotiate(&["SMB 2.002"]);
        // Missing NUL at the end.
        let mut t = m.clone();
        t.pop();
        let n = t.len() - 35;
        t[33..35].copy_from_slice(&(n as u16).to_le_bytes());
        assert!(Smb1Negotiate::decode(&t).is_err());
        // ByteCount beyond the message.
        let mut t = m.clone();
        t[33] = 0xFF;
        assert!(Smb1Negotiate::decode(&t).is_err());
        // Wrong buffer format.
        let mut t = m.clone();
        t[35] = 0x03;
        assert!(Smb1Negotiate::decode(&t).is_err());
        // Not a NEGOTIATE.
        let mut t = m;
        t[4] = 0x73;
        assert!(Smb1Negotiate::decode(&t).is_err());
    }
}
