//! The sync engine: what push, pull and verify need, and only that. Handlers and the server's own
//! writers (the demo seed, quarantine accepts) call the sync path with it; it knows nothing of HTTP.

use std::num::NonZeroUsize;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use sync_core::protocol::Limits;
use tokio::sync::Semaphore;

use crate::budget::ByteBudget;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::sync::docstore::DocCache;
use crate::sync::feed::read_ahead::ReadAhead;

/// Cloning is cheap: every part is shared.
#[derive(Clone)]
pub struct SyncEngine {
    pub db: Db,
    /// Recently merged documents; bounded by bytes, so memory does not grow with the database.
    pub cache: Arc<DocCache>,
    pub limits: Limits,
    /// The bytes the documents being merged hold, across every push in the process: a push takes
    /// room for each document's estimated merge (`docstore::merge_cost`) before it loads it, and
    /// for each merged document it keeps to cache after its write.
    pub merges: Arc<ByteBudget>,
    /// Pushes merged ahead of their write (SQLite) at once; see [`merge_slots`].
    pub merge_slots: Arc<Semaphore>,
    /// First-sync pages read before their devices ask for them.
    pub read_ahead: Arc<ReadAhead>,
    /// Pushes merged ahead whose inputs changed before their write, and so merged again.
    pub merged_again: Counter,
    /// Stored records that failed to load.
    pub unloadable: Counter,
}

impl SyncEngine {
    pub fn new(
        db: Db,
        cache_bytes: usize,
        merges: ByteBudget,
        limits: Limits,
        metrics: &Metrics,
    ) -> SyncEngine {
        SyncEngine {
            db,
            cache: Arc::new(DocCache::new(cache_bytes)),
            limits,
            merges: Arc::new(merges),
            merge_slots: Arc::new(Semaphore::new(merge_slots())),
            read_ahead: Arc::new(ReadAhead::new(
                READ_AHEAD_SLOTS,
                metrics.pages_read_ahead.clone(),
                metrics.unloadable_records.clone(),
            )),
            merged_again: metrics.push_merged_again.clone(),
            unloadable: metrics.unloadable_records.clone(),
        }
    }
}

/// How many pushes may be merged ahead of their write at once: one per core, and one more being
/// written. SQLite writes one batch at a time, and a batch merged ahead holds its loaded documents
/// until it is written, so more would only hold memory (BENCHMARKS.md, "Push").
fn merge_slots() -> usize {
    std::thread::available_parallelism().map_or(2, NonZeroUsize::get) + 1
}

/// First-sync pages read ahead at once: enough for a few devices bootstrapping together, each page
/// a few MiB at most.
const READ_AHEAD_SLOTS: usize = 4;
