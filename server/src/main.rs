//! `fieldsync-server`: see [`fieldsync_server::cli`].

/// mimalloc instead of the system allocator: see [`fieldsync_server::process`].
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    fieldsync_server::process::tune_allocators();
    fieldsync_server::cli::main().await
}
