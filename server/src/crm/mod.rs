//! The business side of the server, beyond syncing documents: reading records as people and
//! integrations see them.

pub mod records;
