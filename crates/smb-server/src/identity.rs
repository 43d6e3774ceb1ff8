//! Who a session's user is to a security descriptor: a SID per user and
//! the groups every user is in. The user list refuses two names with one
//! SID (`holdfast_smb_security::users`).

use holdfast_types::security::{domain_users_sid, user_sid, well_known, Sid, HOLDFAST_DOMAIN_SEED as DOMAIN_SEED};

/// The SIDs an open carries to the file server (`OpenReq::token`): the
/// user's, then Domain Users, Everyone, Authenticated Users and
/// BUILTIN\Users.
pub fn token_sids(user: &str) -> Vec<Sid> {
    vec![user_sid(DOMAIN_SEED, user), domain_users_sid(DOMAIN_SEED), well_known::world(), well_known::authenticated_users(), well_known::builtin_users()]
}
