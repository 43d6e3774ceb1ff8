//! ECHO ([MS-SMB2] 2.2.28, 2.2.29): StructureSize 4 and Reserved, both
//! ways and in both directions (a test client sends them too).

crate::msg::reserved_only_body!(EchoRequest, "ECHO request");
crate::msg::reserved_only_body!(EchoResponse, "ECHO response");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::encode_with;

    #[test]
    fn round_trips() {
        let p = encode_with(Command::Echo, |o| EchoRequest.encode(o));
        assert_eq!(EchoRequest::decode(&p[64..], &p).unwrap(), EchoRequest);
        let p = encode_with(Command::Echo, |o| EchoResponse.encode(o));
        assert_eq!(EchoResponse::decode(&p[64..], &p).unwrap(), EchoResponse);
    }
}
