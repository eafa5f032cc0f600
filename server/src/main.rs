//! `fieldsync-server`: see [`fieldsync_server::cli`].

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    fieldsync_server::cli::main().await
}
