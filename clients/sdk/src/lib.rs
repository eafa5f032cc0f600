//! The Rust client SDK of fieldsync: what a field agent's device runs.
//!
//! [`Replica`] is the device's offline-first store of records (automerge documents edited through
//! their schema, in a durable SQLite file) and its sync loop; [`Client`] speaks the wire protocol to a
//! server, retrying transient failures. Field actions (the day's plan, checking in and out of visits,
//! taking orders, collecting payments, tasks, converting leads, campaigns' calls) are typed functions
//! of [`Replica`] ([`visits`], [`orders`], [`tasks`], [`leads`], [`campaigns`]).

pub mod campaigns;
pub mod client;
pub mod error;
pub mod files;
pub mod leads;
pub mod orders;
pub mod outbox;
pub mod replica;
pub mod store;
pub mod tasks;
pub mod visits;

pub use client::{Client, RetryPolicy};
pub use error::Error;
/// SQLite on mimalloc: an app calls `sqlite_alloc::use_mimalloc()` first thing, before it opens a store.
pub use fieldsync_sqlite_alloc as sqlite_alloc;
pub use files::{FileProgress, PendingFile, UploadAt};
pub use leads::{Conversion, ConvertAs, LikelyCustomer};
pub use orders::{LineRequest, OrderOrigin, PaymentRequest, TakenOrder};
pub use replica::{RecordInfo, Replica, Session, Status, SyncReport};
pub use sync_core::geo::Position;
pub use visits::{CheckIn, CheckedIn, PlannedVisit};
