//! sea-orm entities of the tables the server reads and writes row by row. The change feed and the
//! projection tables are queried with sea-query directly (see `feed` and `projection`).

pub mod device;
pub mod document;
pub mod territory;
pub mod user;
pub mod user_territory;
