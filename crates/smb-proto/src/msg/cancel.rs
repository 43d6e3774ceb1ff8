//! CANCEL ([MS-SMB2] 2.2.30): StructureSize 4 and Reserved. The request to
//! cancel is named by the header (MessageId, or AsyncId when
//! ASYNC_COMMAND is set); there is no response.

crate::msg::reserved_only_body!(CancelRequest, "CANCEL request");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::pdu;

    #[test]
    fn decode() {
        let p = pdu(Command::Cancel, &[4, 0, 0, 0]);
        assert!(CancelRequest::decode(&p[64..], &p).is_ok());
        assert!(CancelRequest::decode(&p[64..66], &p).is_err());
    }
}
