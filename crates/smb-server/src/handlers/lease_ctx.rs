//! The caching a CREATE asks for (RequestedOplockLevel and the RqLs
//! context) and the lease context of its response.

use holdfast_smb_proto::msg::create::{oplock_level, CreateRequest};
use holdfast_smb_proto::msg::create_ctx::{CreateContext, CreateResponseContext, Lease, LeaseV2};

use crate::leases::{GrantedLease, LeaseId, Requested};
use crate::state::Negotiated;

/// [MS-SMB2] 3.3.5.9: a lease only with LEASE level, a lease context and
/// a 2.1+ dialect (v2 leases on 3.x); otherwise the oplock level (a lease
/// level without a context asks for nothing).
pub fn requested(neg: &Negotiated, req: &CreateRequest) -> Requested {
    if req.requested_oplock_level != oplock_level::LEASE {
        return Requested::Oplock(req.requested_oplock_level);
    }
    let lease = req.contexts.iter().find_map(|c| if let CreateContext::Lease(l) = c { Some(l) } else { None });
    match lease {
        Some(l) if neg.dialect >= holdfast_smb_proto::dialect::SMB_2_1 => {
            let v2 = l.v2.filter(|_| neg.is_smb3());
            Requested::Lease {
                id: (neg.client_guid, l.key),
                state: l.state,
                version: if v2.is_some() { 2 } else { 1 },
                epoch: v2.map(|v| v.epoch).unwrap_or(0),
                parent_key: v2.map(|v| v.parent_key).unwrap_or([0; 16]),
                flags: l.flags,
            }
        }
        _ => Requested::Oplock(oplock_level::NONE),
    }
}

/// The lease a request names, if any.
pub fn lease_id(r: &Requested) -> Option<LeaseId> {
    match r {
        Requested::Lease { id, .. } => Some(*id),
        Requested::Oplock(_) => None,
    }
}

/// The RqLs response context of a lease kept in a handle record.
pub fn from_record(l: &holdfast_objfs::handles::Lease) -> CreateResponseContext {
    response(&GrantedLease { key: l.key, state: l.state, flags: l.flags, epoch: l.epoch, version: l.version, parent_key: l.parent_key })
}

/// The RqLs response context of a granted lease (v1 or v2 as asked).
pub fn response(g: &GrantedLease) -> CreateResponseContext {
    CreateResponseContext::Lease(Lease {
        key: g.key,
        state: g.state,
        flags: g.flags,
        duration: 0,
        v2: (g.version >= 2).then_some(LeaseV2 { parent_key: g.parent_key, epoch: g.epoch }),
    })
}
