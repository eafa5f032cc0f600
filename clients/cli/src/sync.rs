//! `fieldsync login`, `sync` (once, or `--watch` as the device sync job) and `status`.

use std::io::IsTerminal;
use std::time::Duration;

use clap::ArgMatches;
use fieldsync_sdk::replica::PullProgress;
use fieldsync_sdk::{Replica, RetryPolicy, SyncReport};
use serde_json::json;

use crate::output::{table, Output};

pub async fn login(replica: &Replica, m: &ArgMatches, out: Output) -> anyhow::Result<()> {
    let server = m.get_one::<String>("server").expect("required");
    let email = m.get_one::<String>("email").expect("required");
    let password = match std::env::var("FIELDSYNC_PASSWORD") {
        Ok(p) => p,
        Err(_) => rpassword::prompt_password(format!("Password for {email}: "))?,
    };
    let device_name = m
        .get_one::<String>("device-name")
        .cloned()
        .unwrap_or_else(default_device_name);
    let session = replica
        .login(server, email, &password, &device_name)
        .await?;
    if out.json {
        out.json_value(&json!({
            "server": session.server_url, "email": session.email, "role": session.role,
            "device_id": session.device_id, "user_id": session.user_id, "territories": session.territories,
        }));
    } else {
        crate::outln!(
            "logged in to {} as {} ({}); this device is {}",
            session.server_url,
            session.email,
            session.role,
            session.device_id
        );
    }
    Ok(())
}

fn default_device_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "fieldsync CLI".into())
}

pub async fn sync(replica: &Replica, m: &ArgMatches, out: Output) -> anyhow::Result<()> {
    if !m.get_flag("watch") {
        let report = once(replica, out, true).await?;
        print_report(&report, out);
        return Ok(());
    }
    let interval = *m.get_one::<Duration>("interval").expect("has a default");
    let mut round = 0u64;
    loop {
        round += 1;
        match once(replica, out, false).await {
            Ok(report) => log_round(round, Ok(&report), out),
            // A revoked device has wiped itself: there is nothing left to sync.
            Err(e)
                if matches!(
                    e.downcast_ref::<fieldsync_sdk::Error>(),
                    Some(fieldsync_sdk::Error::Wiped)
                ) =>
            {
                return Err(e)
            }
            // The server being down is normal in the field: log it and try again next round.
            Err(e) => log_round(round, Err(&e), out),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => {
                eprintln!("stopped after {round} rounds");
                return Ok(());
            }
        }
    }
}

/// One sync round, with a progress bar on a terminal while many records arrive.
async fn once(replica: &Replica, out: Output, show_progress: bool) -> anyhow::Result<SyncReport> {
    let mut client = replica.client().await?;
    if !show_progress {
        // A round of the sync job gives up quickly: the next round is the retry.
        client = client.with_retry(RetryPolicy {
            attempts: 2,
            base: Duration::from_millis(200),
            max: Duration::from_secs(1),
        });
    }
    let bar = (show_progress && !out.json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .expect("valid template"),
        );
        bar
    });
    let mut progress = |p: PullProgress| {
        if let Some(bar) = &bar {
            bar.set_message(format!(
                "{} records received in {} pages{}",
                p.docs,
                p.pages,
                if p.more { ", more to come" } else { "" }
            ));
            bar.tick();
        }
    };
    let mut files = |p: fieldsync_sdk::FileProgress| {
        if let Some(bar) = &bar {
            bar.set_message(format!(
                "uploading file {}…: {} of {} KiB",
                &p.hash[..12],
                p.sent / 1024,
                p.size / 1024
            ));
            bar.tick();
        }
    };
    let report = replica
        .sync_reporting(&client, &mut progress, &mut files)
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(report?)
}

fn report_json(report: &SyncReport) -> serde_json::Value {
    json!({
        "pushed": report.pushed_docs,
        "pulled": report.pulled_docs,
        "merged": report.merged_docs,
        "evicted": report.evicted,
        "rewritten": report.rewritten,
        "quarantined": report.quarantined,
        "missing_dependencies": report.missing_dependencies,
        "server_restored": report.restored,
        "repushed": report.repushed_docs,
        "uploaded_files": report.uploaded_files,
        "files_deferred": report.files_deferred,
        "rejected": report.rejected.iter().map(|(id, r)| json!({"id": id, "code": r.code, "message": r.message, "field": r.field})).collect::<Vec<_>>(),
    })
}

fn print_report(report: &SyncReport, out: Output) {
    if out.json {
        out.json_value(&report_json(report));
        return;
    }
    if report.restored {
        crate::outln!(
            "the server's database was restored from an older backup: sent again {} records it had lost",
            report.repushed_docs
        );
    }
    crate::outln!(
        "sent {} records, received {}",
        report.pushed_docs,
        report.pulled_docs
    );
    if report.uploaded_files > 0 {
        crate::outln!("uploaded {} files", report.uploaded_files);
    }
    if let Some(why) = &report.files_deferred {
        crate::outln!("files wait for the next sync: {why}");
    }
    for (id, reason) in &report.rejected {
        crate::outln!("refused {id}: {} ({})", reason.message, reason.code);
    }
    for id in &report.quarantined {
        crate::outln!("{id}: your changes wait for a manager's review (you lost access to the record, or they write again a person's erased data)");
    }
    for id in &report.rewritten {
        crate::outln!("{id}: a person in this record was erased; your copy was replaced and your unsent changes re-applied");
    }
    if !report.evicted.is_empty() {
        crate::outln!(
            "removed {} records you no longer have access to",
            report.evicted.len()
        );
    }
}

fn log_round(round: u64, result: Result<&SyncReport, &anyhow::Error>, out: Output) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match (result, out.json) {
        (Ok(report), true) => crate::outln!(
            "{}",
            json!({"time": now, "round": round, "ok": true, "report": report_json(report)})
        ),
        (Err(e), true) => crate::outln!(
            "{}",
            json!({"time": now, "round": round, "ok": false, "error": format!("{e:#}")})
        ),
        (Ok(r), false) => eprintln!(
            "{now} round {round}: pushed {}, received {}, refused {}, evicted {}{}",
            r.pushed_docs,
            r.pulled_docs,
            r.rejected.len(),
            r.evicted.len(),
            if r.restored {
                format!(
                    "; the server was restored from a backup, {} records sent again",
                    r.repushed_docs
                )
            } else {
                String::new()
            }
        ),
        (Err(e), false) => eprintln!("{now} round {round}: failed, will retry: {e:#}"),
    }
}

pub async fn status(replica: &Replica, out: Output) -> anyhow::Result<()> {
    let status = replica.status().await?;
    let session = replica.session().await?;
    let last_sync = status
        .last_sync
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    if out.json {
        out.json_value(&json!({
            "server": session.as_ref().map(|s| &s.server_url),
            "email": session.as_ref().map(|s| &s.email),
            "outbox": status.outbox,
            "last_sync": last_sync,
            "rejected": status.rejected,
            "conflicts": status.conflicts,
            "quarantined": status.quarantined,
            "files": status.files,
        }));
        return Ok(());
    }
    match &session {
        Some(s) => crate::outln!("logged in to {} as {} ({})", s.server_url, s.email, s.role),
        None => crate::outln!("not logged in"),
    }
    crate::outln!("last sync: {}", last_sync.as_deref().unwrap_or("never"));
    crate::outln!("changes waiting to be sent: {}", status.outbox);
    let refused: Vec<_> = status
        .files
        .iter()
        .filter(|f| f.refused.is_some())
        .collect();
    crate::outln!(
        "files waiting to upload: {}",
        status.files.len() - refused.len()
    );
    for file in refused {
        crate::outln!(
            "file {} refused by the server: {}",
            file.hash,
            file.refused.as_deref().unwrap_or_default()
        );
    }
    if !status.rejected.is_empty() {
        crate::outln!("refused by the server:");
        let rows: Vec<Vec<String>> = status
            .rejected
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    r.kind.clone(),
                    r.reason.code.clone(),
                    r.reason.message.clone(),
                ]
            })
            .collect();
        table(&["id", "kind", "code", "reason"], &rows);
    }
    if !status.conflicts.is_empty() {
        crate::outln!("records with concurrent edits to resolve:");
        let rows: Vec<Vec<String>> = status
            .conflicts
            .iter()
            .map(|c| vec![c.id.to_string(), c.kind.clone(), c.fields.join(", ")])
            .collect();
        table(&["id", "kind", "fields"], &rows);
    }
    if !status.quarantined.is_empty() {
        crate::outln!(
            "waiting for a manager's review: {}",
            status.quarantined.len()
        );
    }
    Ok(())
}
