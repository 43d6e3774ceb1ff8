//! LOGOFF ([MS-SMB2] 2.2.7, 2.2.8): StructureSize 4 and Reserved, both ways.

crate::msg::reserved_only_body!(
    /// LOGOFF request: the session is the header's SessionId.
    LogoffRequest,
    "LOGOFF request"
);
crate::msg::reserved_only_body!(LogoffResponse, "LOGOFF response");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::pdu;

    #[test]
    fn decode_and_reject_bad_size() {
        let p = pdu(Command::Logoff, &[4, 0, 0, 0]);
        assert_eq!(LogoffRequest::decode(&p[64..], &p).unwrap(), LogoffRequest);
        let p = pdu(Command::Logoff, &[5, 0, 0, 0]);
        assert!(LogoffRequest::decode(&p[64..], &p).is_err());
        let p = pdu(Command::Logoff, &[4, 0]);
        assert!(LogoffRequest::decode(&p[64..], &p).is_err());
    }

    #[test]
    fn response_encodes_four_bytes() {
        let mut out = bytes::BytesMut::new();
        LogoffResponse.encode(&mut out);
        assert_eq!(&out[..], &[4, 0, 0, 0]);
    }
}
