//! What a CREATE asks for, turned into a [`CreateRequest`].

use holdfast_smb_proto::msg::create::{create_options, disposition, impersonation, oplock_level, share_access, CreateRequest};
use holdfast_smb_proto::msg::create_ctx::{CreateContext, Lease, DHANDLE_FLAG_PERSISTENT};
use holdfast_smb_proto::{access, FileId, Guid};

/// A durable-handle context to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Durable {
    /// DHnQ (durable v1).
    V1,
    /// DHnC: reclaim a durable v1 handle.
    ReconnectV1 { file_id: FileId },
    /// DH2Q: durable v2, persistent when asked. `timeout_ms` 0 lets the
    /// server choose.
    V2 { create_guid: Guid, timeout_ms: u32, persistent: bool },
    /// DH2C: reclaim a durable v2 / persistent handle.
    ReconnectV2 { file_id: FileId, create_guid: Guid, persistent: bool },
}

/// A CREATE. The defaults open or create a plain file for read and write,
/// sharing everything, with no oplock, lease or durability.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Relative to the share root, backslashes.
    pub name: String,
    pub desired_access: u32,
    pub share_access: u32,
    pub disposition: u32,
    pub create_options: u32,
    pub file_attributes: u32,
    /// Oplock level when no lease is asked; set to LEASE by `lease`.
    pub oplock_level: u8,
    pub lease: Option<Lease>,
    pub durable: Option<Durable>,
    pub app_instance_id: Option<Guid>,
    /// Sets SMB2_FLAGS_REPLAY_OPERATION on the request.
    pub replay: bool,
    /// Further contexts, sent after the ones above.
    pub extra_contexts: Vec<CreateContext>,
}

impl OpenOptions {
    pub fn new(name: &str) -> OpenOptions {
        OpenOptions {
            name: name.into(),
            desired_access: access::GENERIC_READ | access::GENERIC_WRITE,
            share_access: share_access::READ | share_access::WRITE | share_access::DELETE,
            disposition: disposition::OPEN_IF,
            create_options: create_options::NON_DIRECTORY_FILE,
            file_attributes: 0,
            oplock_level: oplock_level::NONE,
            lease: None,
            durable: None,
            app_instance_id: None,
            replay: false,
            extra_contexts: Vec::new(),
        }
    }

    pub fn durable(mut self, d: Durable) -> OpenOptions {
        self.durable = Some(d);
        self
    }

    pub fn lease(mut self, l: Lease) -> OpenOptions {
        self.lease = Some(l);
        self
    }

    pub fn oplock(mut self, level: u8) -> OpenOptions {
        self.oplock_level = level;
        self
    }

    pub fn disposition(mut self, d: u32) -> OpenOptions {
        self.disposition = d;
        self
    }

    pub fn to_request(&self) -> CreateRequest {
        let mut contexts = Vec::new();
        match &self.durable {
            None => {}
            Some(Durable::V1) => contexts.push(CreateContext::DurableRequest),
            Some(Durable::ReconnectV1 { file_id }) => contexts.push(CreateContext::DurableReconnect { file_id: *file_id }),
            Some(Durable::V2 { create_guid, timeout_ms, persistent }) => contexts.push(CreateContext::DurableRequestV2 {
                timeout: *timeout_ms,
                flags: if *persistent { DHANDLE_FLAG_PERSISTENT } else { 0 },
                create_guid: *create_guid,
            }),
            Some(Durable::ReconnectV2 { file_id, create_guid, persistent }) => contexts.push(CreateContext::DurableReconnectV2 {
                file_id: *file_id,
                create_guid: *create_guid,
                flags: if *persistent { DHANDLE_FLAG_PERSISTENT } else { 0 },
            }),
        }
        if let Some(l) = &self.lease {
            contexts.push(CreateContext::Lease(*l));
        }
        if let Some(id) = self.app_instance_id {
            contexts.push(CreateContext::AppInstanceId(id));
        }
        contexts.extend(self.extra_contexts.iter().cloned());
        CreateRequest {
            security_flags: 0,
            requested_oplock_level: if self.lease.is_some() { oplock_level::LEASE } else { self.oplock_level },
            impersonation_level: impersonation::IMPERSONATION,
            smb_create_flags: 0,
            desired_access: self.desired_access,
            file_attributes: self.file_attributes,
            share_access: self.share_access,
            create_disposition: self.disposition,
            create_options: self.create_options,
            name: self.name.clone(),
            contexts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use holdfast_smb_proto::msg::create_ctx::LeaseV2;
    use holdfast_smb_proto::{encode_pdu, parse_request, Command, Header, Request};

    /// What the client sends is what the server's parser reads.
    #[test]
    fn durable_lease_and_replay_options_reach_the_wire() {
        let lease = Lease { key: [3; 16], state: 7, flags: 0, duration: 0, v2: Some(LeaseV2 { parent_key: [0; 16], epoch: 1 }) };
        let o = OpenOptions::new("dir\\f.dat")
            .durable(Durable::V2 { create_guid: [9; 16], timeout_ms: 5000, persistent: true })
            .lease(lease);
        let mut out = BytesMut::new();
        encode_pdu(&Header::request(Command::Create, 5, 1, 1), &o.to_request(), &mut out);
        let Request::Create(c) = parse_request(&out).unwrap() else { panic!("not a CREATE") };
        assert_eq!(c.name, "dir\\f.dat");
        assert_eq!(c.requested_oplock_level, oplock_level::LEASE);
        assert_eq!(
            c.contexts,
            vec![
                CreateContext::DurableRequestV2 { timeout: 5000, flags: DHANDLE_FLAG_PERSISTENT, create_guid: [9; 16] },
                CreateContext::Lease(lease),
            ]
        );
        let r = OpenOptions::new("x").durable(Durable::ReconnectV2 { file_id: FileId { persistent: 1, volatile: 2 }, create_guid: [4; 16], persistent: false });
        assert_eq!(
            r.to_request().contexts,
            vec![CreateContext::DurableReconnectV2 { file_id: FileId { persistent: 1, volatile: 2 }, create_guid: [4; 16], flags: 0 }]
        );
    }
}
