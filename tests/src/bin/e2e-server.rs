//! The fieldsync server program, built inside the test crate so tests can start it as a process:
//! the same allocator and settings as `fieldsync-server`, so that the memory tests measure what
//! users run.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    fieldsync_server::process::tune_allocators();
    fieldsync_server::cli::main().await
}
