//! `fieldsync-server`: see [`fieldsync_server::cli`].

/// mimalloc instead of the system allocator: the server allocates and frees many small buffers per
/// row and per change on several threads, where glibc's malloc spent a sixth of a bootstrap's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in `mimalloc.h` (the same in mimalloc 2 and 3); the crate names no
/// constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // By default mimalloc returns freed memory to the system only after a delay, checked when it
    // next allocates, so a server answering bursts of large pages kept part of each burst: over five
    // bootstraps of 100,000 records in a row its resident set grew 173 → 345 MiB. Returned at once,
    // it levelled off at about 235 MiB, with no change in the bootstrap's time (BENCHMARKS.md).
    // SAFETY: sets a process-wide option; mimalloc allows this at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    // SQLite without the global mutex its usage statistics take on every allocation. Its memory
    // stays on the system allocator: on mimalloc, whose heaps are per thread (sqlx runs a thread
    // per SQLite connection), the server's resident set during pushes rose by about 75 MiB
    // (BENCHMARKS.md, session 13).
    fieldsync_sqlite_alloc::without_statistics();
    fieldsync_server::cli::main().await
}
