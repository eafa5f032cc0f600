//! Whose figures a caller may read: an admin everyone's; a manager those of their territories; an
//! agent their own (the orders, visits, payments and opportunities they are the agent of) and, for
//! figures about customers rather than people (receivables, service), their territories' customers.

use uuid::Uuid;

use crate::auth::principal::Principal;
use sync_core::Role;

#[derive(Debug, Clone)]
pub struct Scope {
    pub all: bool,
    pub territories: Vec<Uuid>,
    /// Set for agents: only facts whose agent is this user.
    pub agent: Option<Uuid>,
}

impl Scope {
    pub fn of(who: &Principal) -> Scope {
        Scope {
            all: who.sees_all(),
            territories: who.territories.clone(),
            agent: (who.role == Role::Agent).then_some(who.user_id),
        }
    }
}
