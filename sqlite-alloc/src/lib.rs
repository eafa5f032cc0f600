//! SQLite's memory through mimalloc, for the server and the devices alike. A device storing a first
//! sync makes tens of thousands of small allocations per page (each bound value is copied, each
//! B-tree page allocated), and a server answering one reads as many; through glibc's malloc, with
//! SQLite's own usage statistics behind a global mutex, they take a third of the device store's CPU
//! time (BENCHMARKS.md, "Memory").

use std::os::raw::{c_int, c_void};

use libsqlite3_sys as ffi;

unsafe extern "C" fn malloc(size: c_int) -> *mut c_void {
    libmimalloc_sys::mi_malloc(size.max(0) as usize)
}

unsafe extern "C" fn free(ptr: *mut c_void) {
    libmimalloc_sys::mi_free(ptr)
}

unsafe extern "C" fn realloc(ptr: *mut c_void, size: c_int) -> *mut c_void {
    libmimalloc_sys::mi_realloc(ptr, size.max(0) as usize)
}

unsafe extern "C" fn size(ptr: *mut c_void) -> c_int {
    libmimalloc_sys::mi_usable_size(ptr) as c_int
}

unsafe extern "C" fn roundup(size: c_int) -> c_int {
    libmimalloc_sys::mi_good_size(size.max(0) as usize) as c_int
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

/// Makes SQLite stop keeping usage statistics, which take a global mutex on every allocation. SQLite
/// takes this only before its first use in the process; answers whether it did.
pub fn without_statistics() -> bool {
    // SAFETY: sqlite3_config is safe to call before SQLite is initialised, and answers
    // SQLITE_MISUSE (changing nothing) after; this option takes a plain int.
    unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) == ffi::SQLITE_OK }
}

/// Makes SQLite allocate through mimalloc and stop keeping usage statistics. SQLite takes this only
/// before its first use in the process: call it at the start of `main`, before any store is opened.
/// Answers whether SQLite took it; if not, SQLite goes on with its defaults, which work as well,
/// only slower.
pub fn use_mimalloc() -> bool {
    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(malloc),
        xFree: Some(free),
        xRealloc: Some(realloc),
        xSize: Some(size),
        xRoundup: Some(roundup),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SAFETY: as in `without_statistics`. SQLite copies the methods. The functions take and
    // return what SQLite's allocator interface expects: SQLite never asks for a negative size,
    // mimalloc's blocks are 8-byte aligned, and mi_usable_size answers the size of any block
    // mi_malloc gave.
    without_statistics()
        && unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &methods) == ffi::SQLITE_OK }
}
