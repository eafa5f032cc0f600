//! The business side of the server, beyond syncing documents: records as people and integrations
//! read them, and write them through the merge path.

pub mod edit;
pub mod records;
