//! Files referenced from records (a visit's photos, a payment's receipt, a ticket's evidence):
//! where their bytes live ([`store`]), how they arrive ([`uploads`], tus 1.0.0, resumable), which
//! media types are taken ([`media`]), who may read one ([`refs`]: whoever may read a record that
//! references it), and the collection of files no record references any more ([`collect`]).
//!
//! A file is named by the SHA-256 of its bytes, so it is stored once however many records and
//! devices hold it, and never changes once stored.

pub mod collect;
pub mod media;
pub mod refs;
pub mod store;
pub mod uploads;

use std::time::Duration;

/// What a device may upload, and how long an unreferenced file is kept.
#[derive(Debug, Clone, Copy)]
pub struct FileLimits {
    /// The largest file accepted.
    pub max_file_bytes: u64,
    /// The bytes of the files one device first uploaded, and of its uploads in progress, together.
    pub device_quota_bytes: u64,
    /// How long a file no record references is kept before it is collected: a record edited to drop
    /// a photo by mistake can take it back meanwhile, and a client that uploads before it writes
    /// the record referencing the file has that long.
    pub grace: Duration,
}

/// 25 MB per file; 2 GiB per device (some 500 photos of a phone's camera); a week's grace.
pub const DEFAULT_LIMITS: FileLimits = FileLimits {
    max_file_bytes: sync_core::attachments::DEFAULT_MAX_FILE_BYTES,
    device_quota_bytes: 2 << 30,
    grace: Duration::from_secs(7 * 24 * 3600),
};
