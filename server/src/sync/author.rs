//! Who a write through the merge path is by. Every write to a record goes through that one path
//! (`push`); the author says whose automerge actors its new changes must carry, whose rights decide
//! what it may write and where, and what it leaves behind besides the records.

use automerge::{ActorId, AutoCommit, ChangeHash};
use serde_bytes::ByteBuf;
use sync_core::protocol::{DocPush, Hash};
use sync_core::{KindSchema, Role};
use uuid::Uuid;

use crate::auth::principal::Principal;

pub enum Author {
    /// A device pushing its own changes: made by its actor, within its user's rights. Changes
    /// waiting for dependencies are kept for it, records it lost access to go to the quarantine,
    /// and its checkpoint moves with the write.
    Device(Principal),
    /// The server writing for a person (the demo seed's admin; an import's admin, a manager's
    /// action): changes made by an actor of this write alone, so that no two writes, in one process
    /// or several, ever share an actor's sequence numbers. The write records which person the actor
    /// acted for (`server_actors`), so a record's history shows a person.
    Server {
        /// The person's rights. `device_id` is nil: no device is involved.
        rights: Principal,
        actor: ActorId,
        /// Why the server wrote, for the history (`demo`, `import`, ...).
        purpose: &'static str,
    },
    /// A device's changes held in the quarantine, accepted by a reviewer: made by the device's
    /// actor (or by the device it named as its own and could not prove: the reviewer vouches for
    /// them now), merged within the reviewer's scope (an admin's is everything) but with no more
    /// field rights than the device's user has, and the entry is marked accepted in the same
    /// transaction as the write. A record new to the server belongs to the reviewer.
    Approved {
        /// The reviewer, whose scope decides where the changes may go.
        rights: Principal,
        /// The lesser of the reviewer's and the device user's roles: which fields they may write.
        field_role: Role,
        device_id: Uuid,
        /// The device id the device named as its own at login and could not prove.
        claimed_device: Option<Uuid>,
        entry: Uuid,
    },
}

impl Author {
    /// The server acting for `user` (with `role` and `territories`), with a new actor.
    pub fn server(
        user_id: Uuid,
        role: Role,
        territories: Vec<Uuid>,
        purpose: &'static str,
    ) -> Author {
        Author::server_as(user_id, role, territories, purpose, new_server_actor())
    }

    /// The server acting for `user` with an actor made for this write beforehand
    /// ([`new_server_actor`]): an import makes its new records' first changes while it checks
    /// the file, before it writes them.
    pub fn server_as(
        user_id: Uuid,
        role: Role,
        territories: Vec<Uuid>,
        purpose: &'static str,
        actor: ActorId,
    ) -> Author {
        Author::Server {
            rights: Principal {
                user_id,
                role,
                device_id: Uuid::nil(),
                territories,
                checkpoint: 0,
                claimed_device: None,
            },
            actor,
            purpose,
        }
    }

    /// The server acting for no person: its rules after a merge, its upgrades. It sees every record
    /// and alone writes the fields only the server writes (an order's hold, an alert's findings).
    pub fn system(purpose: &'static str) -> Author {
        Author::server(Uuid::nil(), Role::Admin, vec![], purpose)
    }

    pub fn is_system(&self) -> bool {
        matches!(self, Author::Server { rights, .. } if rights.user_id.is_nil())
    }

    /// Whose rights decide what the write may touch and where.
    pub fn rights(&self) -> &Principal {
        match self {
            Author::Device(p) => p,
            Author::Server { rights, .. } | Author::Approved { rights, .. } => rights,
        }
    }

    /// The role that decides which fields the write may touch.
    pub fn field_role(&self) -> Role {
        match self {
            Author::Approved { field_role, .. } => *field_role,
            Author::Device(_) | Author::Server { .. } => self.rights().role,
        }
    }

    /// Whether a change new to the server may carry this actor.
    pub fn owns(&self, actor: &ActorId) -> bool {
        match self {
            Author::Device(p) => actor.to_bytes().starts_with(p.actor_prefix()),
            Author::Server { actor: own, .. } => actor == own,
            Author::Approved {
                device_id,
                claimed_device,
                ..
            } => {
                let actor = actor.to_bytes();
                actor.starts_with(device_id.as_bytes())
                    || claimed_device.is_some_and(|c| actor.starts_with(c.as_bytes()))
            }
        }
    }

    /// Whether a change new to the server carries the actor of the device the pushing device named
    /// as its own at login and could not prove. Nothing shows the device made it, and nothing shows
    /// it did not (a restore lost the proof): such changes wait for a manager.
    pub fn claims(&self, actor: &ActorId) -> bool {
        match self {
            Author::Device(p) => p
                .claimed_device
                .is_some_and(|c| actor.to_bytes().starts_with(c.as_bytes())),
            Author::Server { .. } | Author::Approved { .. } => false,
        }
    }

    /// Why the server writes, for the server's own writes.
    pub fn purpose(&self) -> Option<&'static str> {
        match self {
            Author::Server { purpose, .. } => Some(purpose),
            Author::Device(_) | Author::Approved { .. } => None,
        }
    }

    /// The actor the server's own write makes its changes with.
    pub fn server_actor(&self) -> Option<&ActorId> {
        match self {
            Author::Server { actor, .. } => Some(actor),
            Author::Device(_) | Author::Approved { .. } => None,
        }
    }

    /// The pushing device, for what a write leaves for it: kept orphan changes, quarantine entries,
    /// its checkpoint. None for the server's own writes and for accepted quarantine entries.
    pub fn device(&self) -> Option<&Principal> {
        match self {
            Author::Device(p) => Some(p),
            Author::Server { .. } | Author::Approved { .. } => None,
        }
    }
}

/// An actor for one server write, never shared with another: a time-ordered UUID's bytes.
pub fn new_server_actor() -> ActorId {
    ActorId::from(Uuid::now_v7().as_bytes().as_slice())
}

/// The push of the changes the server's own write made to `doc` (record `id` of `kind`) on top of
/// `base`, the heads they were made on; None when it made none (the values were already there).
/// The server's changes go through the merge path as a device's do.
pub fn push_of_own_change(
    id: Uuid,
    kind: &KindSchema,
    base: Vec<ChangeHash>,
    doc: &mut AutoCommit,
) -> Option<DocPush> {
    let changes: Vec<ByteBuf> = doc
        .get_changes(&base)
        .iter()
        .map(|c| ByteBuf::from(c.raw_bytes().to_vec()))
        .collect();
    (!changes.is_empty()).then(|| DocPush {
        id,
        kind: kind.name.to_string(),
        base_heads: base.into_iter().map(Hash::from).collect(),
        changes,
        group: None,
    })
}
