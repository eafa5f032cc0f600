//! Who is asking, and what they may see and write.
//!
//! An agent sees the records of their territories and the records they created; a manager the same for
//! their territories; an admin sees everything; everyone sees the company-wide records (the
//! catalogue), but what products cost, which managers and admins alone see. A record kept to one person of the team (a task assigned to an agent) is seen, of
//! the territory's agents, by that one alone. Seeing a record and writing it are the same right, except for company-wide records,
//! which only managers and admins write; which *fields* a role may write is the schema's business
//! (`sync_core::inspect`). ARCHITECTURE.md ("Scopes") has the whole model.

use std::sync::LazyLock;

use sea_orm::sea_query::{Alias, Cond, Expr};
use sync_core::{kinds, Role};
use uuid::Uuid;

use crate::db::entities::document;

/// The company-wide kinds a user of each role sees, whatever their territories: agents', then
/// managers' and admins'.
static COMPANY_KINDS: LazyLock<[Vec<&'static str>; 2]> = LazyLock::new(|| {
    [Role::Agent, Role::Manager].map(|role| {
        kinds::ALL
            .iter()
            .filter(|k| k.scope.read_everywhere_by(role))
            .map(|k| k.name)
            .collect()
    })
});

/// The authenticated device and its user, loaded once per request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
    pub device_id: Uuid,
    /// The user's territories, sorted.
    pub territories: Vec<Uuid>,
    /// The feed position the server had recorded for this device when it authenticated the request
    /// (see `checkpoint`).
    pub checkpoint: i64,
    /// The device id this device's store named as its own at login and could not prove
    /// (`checkpoint::login_device`): what the device hands in under it waits for a manager.
    pub claimed_device: Option<Uuid>,
}

impl Principal {
    pub fn sees_all(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the user may see and write a record in `territory` created by `owner` and kept to
    /// `user` (for kinds kept to one person of the team): its creator, that user, and whoever holds
    /// the territory, but of the territory's agents only that user when the record names one.
    pub fn can_access(&self, territory: Option<Uuid>, owner: Uuid, user: Option<Uuid>) -> bool {
        self.sees_all()
            || owner == self.user_id
            || user == Some(self.user_id)
            || (territory.is_some_and(|t| self.holds(t))
                && (user.is_none() || self.role >= Role::Manager))
    }

    /// Whether the user may see a stored record: company-wide for their role, or
    /// [`Principal::can_access`].
    pub fn can_see(&self, row: &document::Model) -> bool {
        self.company_kinds().contains(&row.kind.as_str())
            || self.can_access(row.territory_id, row.owner_id, row.user_id)
    }

    /// The company-wide kinds this user sees.
    fn company_kinds(&self) -> &'static [&'static str] {
        let [agents, managers] = &*COMPANY_KINDS;
        match self.role {
            Role::Agent => agents,
            Role::Manager | Role::Admin => managers,
        }
    }

    /// Whether the user may give a user of `role` the territory `territory` (None: one that does
    /// not exist yet), or take it from them: an admin anyone any territory; a manager an agent one of
    /// the manager's own territories.
    pub fn may_staff(&self, role: Role, territory: Option<Uuid>) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Manager => role == Role::Agent && territory.is_some_and(|t| self.holds(t)),
            Role::Agent => false,
        }
    }

    fn holds(&self, territory: Uuid) -> bool {
        self.territories.binary_search(&territory).is_ok()
    }

    /// Whether the user may put a record into `territory`.
    pub fn can_use_territory(&self, territory: Uuid) -> bool {
        self.sees_all() || self.territories.binary_search(&territory).is_ok()
    }

    /// The SQL condition "this user may see the document", on `documents` (or its alias `table`).
    pub fn visible(&self, table: Option<&str>) -> Cond {
        self.visible_with(|name| match table {
            Some(t) => Expr::col((Alias::new(t), Alias::new(name))),
            None => Expr::col(Alias::new(name)),
        })
    }

    /// [`Principal::visible`] on `documents AS table`, written so that SQLite uses no index for it
    /// (a unary `+` on the columns): for a query that walks another index of `documents` in order
    /// and stops at a limit, which SQLite, without statistics, would rather trade for the territory
    /// or owner index and a sort of every visible document. SQLite only: PostgreSQL has no unary `+`
    /// for these types and plans well unaided.
    pub fn visible_unindexed(&self, table: &str) -> Cond {
        self.visible_with(|name| Expr::expr(Expr::cust(format!("+\"{table}\".\"{name}\""))))
    }

    fn visible_with(&self, col: impl Fn(&str) -> Expr) -> Cond {
        if self.sees_all() {
            return Cond::all();
        }
        // `user_id` is mostly NULL: compared bare, it would make the condition NULL rather than
        // false, and its negation (what to evict) would miss those rows.
        let mut cond = Cond::any().add(col("owner_id").eq(self.user_id)).add(
            Cond::all()
                .add(col("user_id").is_not_null())
                .add(col("user_id").eq(self.user_id)),
        );
        if !self.territories.is_empty() {
            let territory = col("territory_id").is_in(self.territories.clone());
            cond = cond.add(match self.role {
                Role::Agent => Cond::all().add(territory).add(col("user_id").is_null()),
                Role::Manager | Role::Admin => Cond::all().add(territory),
            });
        }
        let company = self.company_kinds();
        if !company.is_empty() {
            cond = cond.add(col("kind").is_in(company.iter().copied()));
        }
        cond
    }

    /// Every automerge actor of this device starts with these bytes (the device id).
    pub fn actor_prefix(&self) -> &[u8] {
        self.device_id.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_see_their_territories_and_what_they_own() {
        let (t1, t2) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let agent = Principal {
            user_id: Uuid::from_u128(9),
            role: Role::Agent,
            device_id: Uuid::nil(),
            territories: vec![t1],
            checkpoint: 0,
            claimed_device: None,
        };
        assert!(agent.can_access(Some(t1), Uuid::nil(), None));
        assert!(!agent.can_access(Some(t2), Uuid::nil(), None));
        assert!(agent.can_access(Some(t2), agent.user_id, None));
        assert!(!agent.can_use_territory(t2));
        // A record kept to one user: that user's, not the rest of the territory's agents'.
        let colleague = Some(Uuid::from_u128(10));
        assert!(!agent.can_access(Some(t1), Uuid::nil(), colleague));
        assert!(agent.can_access(Some(t2), Uuid::nil(), Some(agent.user_id)));
        let manager = Principal {
            role: Role::Manager,
            ..agent.clone()
        };
        assert!(manager.can_access(Some(t1), Uuid::nil(), colleague));
        assert!(!manager.can_access(Some(t2), Uuid::nil(), colleague));
        let admin = Principal {
            role: Role::Admin,
            territories: vec![],
            ..agent
        };
        assert!(admin.can_access(Some(t2), Uuid::nil(), colleague));
    }

    #[test]
    fn admins_staff_anyone_and_managers_their_agents_in_their_territories() {
        let (north, south) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let manager = Principal {
            user_id: Uuid::from_u128(9),
            role: Role::Manager,
            device_id: Uuid::nil(),
            territories: vec![north],
            checkpoint: 0,
            claimed_device: None,
        };
        assert!(manager.may_staff(Role::Agent, Some(north)));
        assert!(!manager.may_staff(Role::Agent, Some(south)));
        assert!(!manager.may_staff(Role::Agent, None), "no new territories");
        assert!(!manager.may_staff(Role::Manager, Some(north)));
        let admin = Principal {
            role: Role::Admin,
            territories: vec![],
            ..manager.clone()
        };
        assert!(admin.may_staff(Role::Manager, None));
        let agent = Principal {
            role: Role::Agent,
            ..manager
        };
        assert!(!agent.may_staff(Role::Agent, Some(north)));
    }

    #[test]
    fn everyone_sees_company_wide_records() {
        let agent = Principal {
            user_id: Uuid::from_u128(9),
            role: Role::Agent,
            device_id: Uuid::nil(),
            territories: vec![],
            checkpoint: 0,
            claimed_device: None,
        };
        let row = |kind: &str| document::Model {
            id: Uuid::nil(),
            kind: kind.into(),
            territory_id: None,
            user_id: None,
            owner_id: Uuid::nil(),
            parent_id: None,
            heads: vec![],
            seq: 0,
            chunk_count: 0,
            chunk_bytes: 0,
            listing_fields: None,
            listing_conflicts: None,
            listing_deleted: None,
            created_at: 0,
            updated_at: 0,
            erased_at: None,
        };
        assert!(agent.can_see(&row("product")));
        assert!(!agent.can_see(&row("customer")));
        assert!(
            !agent.can_see(&row("product_cost")),
            "what a product costs is the managers'"
        );
        let manager = Principal {
            role: Role::Manager,
            ..agent
        };
        assert!(manager.can_see(&row("product_cost")));
    }
}
