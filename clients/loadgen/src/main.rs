//! The `fieldsync-loadgen` program; everything it does is in the library.

use clap::Parser;
use fieldsync_loadgen::args::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !fieldsync_loadgen::run(&args).await? {
        anyhow::bail!("the run failed: see the report");
    }
    Ok(())
}
