//! The sync path: pushes merged and written, the pull feed, verification, device checkpoints, the
//! stored documents and their projection into relational tables, the rebuilding of a record that no
//! longer loads, and the
//! once-only work a new version does on a database an older one wrote.

pub mod author;
pub mod checkpoint;
pub mod decide;
pub mod docstore;
pub mod due;
pub mod engine;
pub mod feed;
pub mod projection;
pub mod push;
pub mod quarantine;
pub mod repair;
pub mod reseal;
pub mod upgrade;
pub mod verify;
pub mod write;
