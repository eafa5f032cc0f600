//! Declarative schemas of record kinds: what fields a kind has, their types, which are required, who
//! may write them and how a record of the kind is scoped to territories.
//!
//! Adding a kind is one [`KindSchema`] constant in [`crate::kinds`] plus a migration that creates its
//! projection table; every other part of the system (validation, write checks, projection, the feed)
//! reads the schema.

use serde::{Deserialize, Serialize};

/// A user's role. Roles are ordered by what they may write: an admin may do what a manager may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Manager,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" => Some(Role::Agent),
            "manager" => Some(Role::Manager),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Who may write a field through a device push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// Anyone who may write the record.
    Agent,
    /// Managers and admins only (e.g. a credit limit).
    Manager,
    /// Admins only (the company's settings).
    Admin,
    /// Only the server itself (e.g. an ERP reference set by an integration); no device push may touch it.
    Server,
}

impl Writer {
    pub fn allows(self, role: Role) -> bool {
        match self {
            Writer::Agent => true,
            Writer::Manager => role >= Role::Manager,
            Writer::Admin => role >= Role::Admin,
            Writer::Server => false,
        }
    }
}

/// The type of a field's value inside the automerge document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldType {
    /// A last-writer-wins string of at most `max_len` characters.
    String {
        max_len: usize,
    },
    /// A collaborative text object (character-level merge), for notes.
    Text {
        max_len: usize,
    },
    /// An e-mail address (a string with one `@`).
    Email,
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Bool,
    /// Milliseconds since the Unix epoch, stored as an automerge timestamp.
    Timestamp,
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
    /// The id (UUID) of another record of the named kind.
    Reference(&'static str),
    /// A file (a photo, a scanned receipt) by the SHA-256 of its bytes, as 64 lowercase hex
    /// digits: the file travels apart from the document, uploaded to the server's file store.
    Attachment,
    /// Items inside the record (an order's lines): see [`ItemsSchema`].
    Items(&'static ItemsSchema),
}

/// Items kept inside a record, such as an order's lines or a price list's prices.
///
/// In the document, the field is a map created in the record's first change (like a text), from each
/// item's id to a map of the item's scalar fields. A map rather than a list, so that merging is
/// per item and per field: two devices that add lines offline keep both, and two that change
/// different lines change both. Items are ordered by id; clients give them time-ordered ids (UUID v7),
/// so the order is the order of entry. Each item projects into a row of `table`, keyed by the record's
/// id (in `record_column`) and the item's id (`id`).
#[derive(Debug, PartialEq)]
pub struct ItemsSchema {
    pub table: &'static str,
    pub record_column: &'static str,
    pub max_items: usize,
    /// Scalar fields only (no text, no nested items); every item field is written by whoever may
    /// write the record field that holds the items.
    pub fields: &'static [FieldSpec],
}

impl ItemsSchema {
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// What a whole number counts, where it is not a plain count: how a client shows it and what it
/// may add it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Minor units (cents) of the company's one currency.
    MinorUnits,
    /// Thousandths of a unit of measure (1.5 kg is 1500).
    Thousandths,
    /// Hundredths of a percent (1,250 is 12.5%).
    BasisPoints,
    Percent,
    Metres,
    Days,
    Minutes,
}

/// One field of a kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
    pub writer: Writer,
    /// What the number counts (money, quantities, rates, distances); None for text and plain counts.
    pub unit: Option<Unit>,
    /// Whether the value is a person's personal data (a contact's name, phone and e-mail): a
    /// person's data export holds it, and every read of it over the API is audited.
    pub personal: bool,
}

impl FieldSpec {
    pub const fn new(name: &'static str, ty: FieldType) -> FieldSpec {
        FieldSpec {
            name,
            ty,
            required: false,
            writer: Writer::Agent,
            unit: None,
            personal: false,
        }
    }

    pub const fn personal(mut self) -> FieldSpec {
        self.personal = true;
        self
    }

    pub const fn in_unit(mut self, unit: Unit) -> FieldSpec {
        self.unit = Some(unit);
        self
    }

    pub const fn required(mut self) -> FieldSpec {
        self.required = true;
        self
    }

    pub const fn written_by(mut self, writer: Writer) -> FieldSpec {
        self.writer = writer;
        self
    }
}

/// Who may see and write a record of a kind. The whole model is in ARCHITECTURE.md ("Scopes").
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope {
    /// The record names its territory in this field (a territory name) and, for a kind kept to
    /// one person of the team (a task, a visit plan, an agent's target), that person's user id in
    /// `user`: a record naming one is seen by that user, the territory's managers and its creator,
    /// where a record naming none is seen by the whole territory.
    Territory {
        field: &'static str,
        user: Option<&'static str>,
    },
    /// The record belongs to a parent record (named by this reference field) and shares its scope,
    /// at any depth: it moves whenever its parent (or the parent's parent) changes territory.
    Parent {
        field: &'static str,
        kind: &'static str,
    },
    /// The company's shared data (the catalogue, settings): every user of at least `readers`' role
    /// reads it (every user, for the catalogue; managers and admins, for what a product costs),
    /// and only managers and admins write it.
    Company { readers: Role },
}

impl Scope {
    /// The field whose value places a record: a territory name or a parent id; None for company-wide
    /// records, which every user sees.
    pub fn field(self) -> Option<&'static str> {
        match self {
            Scope::Territory { field, .. } | Scope::Parent { field, .. } => Some(field),
            Scope::Company { .. } => None,
        }
    }

    /// The field naming the one user a record is for, for kinds kept to one person of the team.
    pub fn user_field(self) -> Option<&'static str> {
        match self {
            Scope::Territory { user, .. } => user,
            Scope::Parent { .. } | Scope::Company { .. } => None,
        }
    }

    /// Whether a user of `role` may read records of this scope wherever they are (company-wide
    /// records); the others are read where the user's territories or records place them.
    pub fn read_everywhere_by(self, role: Role) -> bool {
        matches!(self, Scope::Company { readers } if role >= readers)
    }

    /// Whether an agent may write records of this scope (company-wide ones are read-only to them).
    pub fn writable_by(self, role: Role) -> bool {
        match self {
            Scope::Company { .. } => role >= Role::Manager,
            Scope::Territory { .. } | Scope::Parent { .. } => true,
        }
    }
}

/// The schema of one record kind.
#[derive(Debug)]
pub struct KindSchema {
    /// The kind's name on the wire and in URLs (`customer`).
    pub name: &'static str,
    /// The relational table the records are projected into (`customers`).
    pub table: &'static str,
    pub scope: Scope,
    pub fields: &'static [FieldSpec],
}

/// The field every kind has: a record is deleted by setting it to true (a tombstone), so that a delete
/// merges with concurrent edits instead of losing them.
pub const DELETED_FIELD: &str = "deleted";

impl KindSchema {
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The names of the kind's personal fields ([`FieldSpec::personal`]).
    pub fn personal_fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().filter(|f| f.personal).map(|f| f.name)
    }
}
