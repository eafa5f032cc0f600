//! Pure sync logic shared by the fieldsync server and every Rust client.
//!
//! Each business record (customer, contact, ...) is one automerge document. This crate knows what a
//! record of each kind looks like ([`schema`], [`kinds`]), reads and checks a document against its kind
//! ([`record`], [`validate`]), checks that untrusted changes fit a document's history
//! ([`structure`]), tells which fields a set of changes writes ([`inspect`]), and defines the
//! wire protocol that devices and the server speak ([`protocol`]). It also computes order totals, so
//! that device and server agree on them to the cent ([`totals`], [`orders`]), keeps items such as an
//! order's lines inside a record ([`items`]), and grades check-ins by where they happened ([`geo`]).
//!
//! **Architecture invariant:** this crate does no I/O. It knows nothing of HTTP, SQL or files, so the
//! server and the device apply the very same rules.

pub mod attachments;
pub mod campaigns;
pub mod change;
pub mod digest;
pub mod duplicates;
pub mod error;
pub mod geo;
pub mod history;
pub mod inspect;
pub mod items;
pub mod kinds;
pub mod layout;
pub mod leads;
pub mod orders;
pub mod protocol;
pub mod record;
pub mod rewrite;
pub mod schema;
pub mod structure;
pub mod totals;
pub mod validate;
pub mod value;

pub use error::Error;
pub use schema::{FieldSpec, FieldType, ItemsSchema, KindSchema, Role, Scope, Unit, Writer};
pub use value::{Item, Value};
