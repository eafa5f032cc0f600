//! `fieldsync attachment get|pending`: files attached to records.

use anyhow::bail;
use clap::ArgMatches;
use fieldsync_sdk::Replica;
use serde_json::json;

use crate::output::Output;

pub async fn run(replica: &Replica, m: &ArgMatches, out: Output) -> anyhow::Result<()> {
    match m.subcommand() {
        Some(("get", m)) => {
            let hash = m.get_one::<String>("hash").expect("clap requires the hash");
            let path = m
                .get_one::<std::path::PathBuf>("out")
                .expect("clap requires --out");
            if !sync_core::attachments::is_hash(hash) {
                bail!("`{hash}` is not a file's SHA-256 (64 lowercase hex digits)");
            }
            let client = replica.client().await?;
            let bytes = replica.file(&client, hash).await?;
            // The server checked the hash when it took the file; this checks what arrived.
            if sync_core::attachments::hash(&bytes) != *hash {
                bail!("the bytes received do not have the hash asked for; nothing was written");
            }
            std::fs::write(path, &bytes)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            if out.json {
                out.json_value(&json!({"hash": hash, "size": bytes.len(), "out": path}));
            } else {
                crate::outln!("wrote {} bytes to {}", bytes.len(), path.display());
            }
        }
        Some(("pending", _)) => {
            let pending = replica.pending_files().await?;
            if out.json {
                out.json_value(&json!(pending));
                return Ok(());
            }
            if pending.is_empty() {
                crate::outln!("no files wait to upload");
            }
            for file in pending {
                let state = file
                    .refused
                    .map_or("waits for the next sync".to_string(), |why| {
                        format!("refused: {why}")
                    });
                crate::outln!(
                    "{}  {:>9} bytes  record {}  {state}",
                    file.hash,
                    file.size,
                    file.record_id
                );
            }
        }
        _ => unreachable!("clap requires a subcommand"),
    }
    Ok(())
}
