//! Who a session's user is to a security descriptor: a SID per user and
//! the groups every user is in.

use holdfast_types::security::{domain_users_sid, user_sid, well_known, Sid};

/// The seed of the domain SID (S-1-5-21-a-b-c) of Holdfast's users. It is
/// the same in every cluster and on every host, so a user's SID never
/// depends on where a session lands, and a descriptor written on one host
/// means the same on every other.
pub const DOMAIN_SEED: &[u8] = b"holdfast";

/// The SIDs an open carries to the file server (`OpenReq::token`): the
/// user's, then Domain Users, Everyone, Authenticated Users and
/// BUILTIN\Users.
pub fn token_sids(user: &str) -> Vec<Sid> {
    vec![user_sid(DOMAIN_SEED, user), domain_users_sid(DOMAIN_SEED), well_known::world(), well_known::authenticated_users(), well_known::builtin_users()]
}
