//! TREE_DISCONNECT ([MS-SMB2] 2.2.11, 2.2.12): StructureSize 4 and
//! Reserved, both ways; the tree is the header's TreeId.

crate::msg::reserved_only_body!(TreeDisconnectRequest, "TREE_DISCONNECT request");
crate::msg::reserved_only_body!(TreeDisconnectResponse, "TREE_DISCONNECT response");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::pdu;

    #[test]
    fn decode() {
        let p = pdu(Command::TreeDisconnect, &[4, 0, 0, 0]);
        assert!(TreeDisconnectRequest::decode(&p[64..], &p).is_ok());
        let mut out = bytes::BytesMut::new();
        TreeDisconnectResponse.encode(&mut out);
        assert_eq!(&out[..], &[4, 0, 0, 0]);
    }
}
