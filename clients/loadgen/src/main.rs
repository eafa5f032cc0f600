//! The `fieldsync-loadgen` program; everything it does is in the library.

use clap::Parser;
use fieldsync_loadgen::args::Args;

/// mimalloc, for the devices' own allocations and (below) their SQLite's: a simulated fleet
/// allocates on many threads at once, as the server does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    fieldsync_sdk::sqlite_alloc::use_mimalloc();
    let args = Args::parse();
    if !fieldsync_loadgen::run(&args).await? {
        anyhow::bail!("the run failed: see the report");
    }
    Ok(())
}
