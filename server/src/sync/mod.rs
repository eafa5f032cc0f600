//! The sync path: pushes merged and written, the pull feed, verification, device checkpoints, the
//! stored documents and their projection into relational tables.

pub mod checkpoint;
pub mod docstore;
pub mod feed;
pub mod projection;
pub mod push;
pub mod read_ahead;
pub mod verify;
pub mod write;
