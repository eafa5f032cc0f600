//! The `fieldsync` CLI program, built inside the test crate so tests can run it as a process.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    fieldsync_cli::main().await
}
