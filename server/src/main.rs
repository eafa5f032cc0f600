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
    // next allocates, so a server answering bursts of large pages would keep part of each burst.
    // Returned at once, its resident set stays flat at no cost in speed (BENCHMARKS.md, "Memory").
    // SAFETY: sets a process-wide option; mimalloc allows this at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    // SQLite without the global mutex its usage statistics take on every allocation. Its memory
    // stays on the system allocator: on mimalloc, whose heaps are per thread (sqlx runs a thread
    // per SQLite connection), the server would hold more memory during pushes (BENCHMARKS.md,
    // "Memory").
    fieldsync_sqlite_alloc::without_statistics();
    fieldsync_server::cli::main().await
}
