//! The business side of the server, beyond syncing documents: records as people and integrations
//! read them, write them through the merge path, hold them to the business's rules after each merge,
//! and managers' decisions on them.

pub mod actions;
pub mod duplicates;
pub mod edit;
pub mod erasure;
pub mod history;
pub mod merge;
pub mod privacy;
pub mod records;
pub mod rules;
