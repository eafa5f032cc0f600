//! Settings of the server process as a whole, made once at start by every program that runs the
//! server (`fieldsync-server`, and the copy the end-to-end tests start, so that what they measure is
//! what users run). Each such program also declares mimalloc its global allocator: the server
//! allocates and frees many small buffers per row and per change on several threads, where glibc's
//! malloc spent a sixth of a bootstrap's CPU and held several times the memory during large pushes.

/// `mi_option_purge_delay` in `mimalloc.h` (the same in mimalloc 2 and 3); the crate names no
/// constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tunes the allocators; call first thing in `main`.
pub fn tune_allocators() {
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
}
