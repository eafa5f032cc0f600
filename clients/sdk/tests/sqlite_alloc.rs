//! SQLite on mimalloc, in a process of its own: SQLite takes its allocator only before its first use,
//! which no other test may have made.

use fieldsync_sdk::{sqlite_alloc, store};

#[tokio::test]
async fn a_store_works_on_mimalloc_and_sqlite_keeps_no_statistics() {
    assert!(
        sqlite_alloc::use_mimalloc(),
        "SQLite takes the allocator before its first use"
    );
    let pool = store::in_memory().await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    // Values from a few bytes to a few pages, so that SQLite allocates, grows and frees memory of
    // every size class; each must read back as written.
    for i in 0..300usize {
        let value = format!("{i}:{}", "x".repeat(i * 37));
        store::set_meta(&mut conn, &format!("key {i}"), &value)
            .await
            .unwrap();
    }
    for i in (0..300usize).step_by(7) {
        let value = store::get_meta(&mut conn, &format!("key {i}"))
            .await
            .unwrap();
        assert_eq!(value, Some(format!("{i}:{}", "x".repeat(i * 37))));
    }
    // SQLite counts the memory it uses only with statistics on: none counted means it took the
    // configuration.
    // SAFETY: a plain read of SQLite's process-wide counter.
    let used = unsafe { libsqlite3_sys::sqlite3_memory_used() };
    assert_eq!(
        used, 0,
        "SQLite kept statistics: it did not take the configuration"
    );
    assert!(
        !sqlite_alloc::use_mimalloc(),
        "once in use, SQLite refuses a new allocator and keeps the one it has"
    );
}
