//! The fieldsync server program, built inside the test crate so tests can start it as a process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    fieldsync_server::cli::main().await
}
