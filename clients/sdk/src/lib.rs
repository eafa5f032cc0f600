//! The Rust client SDK of fieldsync.
//!
//! [`Client`] speaks the wire protocol to a server. [`Replica`] is a device's view of its records:
//! automerge documents edited offline through their schema, which it pushes and pulls with a client.
//! Durable local storage, retries and the CLI build on these.

pub mod client;
pub mod error;
pub mod replica;

pub use client::Client;
pub use error::Error;
pub use replica::{Replica, SyncReport};
