//! `fieldsync today`: the agent's day at a glance, offline: the visits planned for today (and any in
//! progress) in the order of their planned start, their open tasks due today or overdue, the
//! campaigns' customers still waiting for them, and what waits to be synced or was refused.

use chrono::{DateTime, Local, TimeZone};
use fieldsync_sdk::Replica;
use serde_json::json;

use crate::output::{local_time, table, Output};

pub async fn run(replica: &Replica, out: Output) -> anyhow::Result<()> {
    // Today in the device's own time zone: an agent's day starts at their midnight.
    let midnight = Local::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    let from = Local
        .from_local_datetime(&midnight)
        .earliest()
        .map_or(0, |t| t.timestamp_millis());
    let to = from + 24 * 3_600_000;
    let plan = replica.day_plan(from, to).await?;
    let tasks = replica.my_tasks(to).await?;
    let calls = replica
        .campaign_calls(Local::now().timestamp_millis())
        .await?;
    let status = replica.status().await?;
    if out.json {
        out.json_value(&json!({
            "visits": plan,
            "tasks": tasks.iter().map(crate::output::record_json).collect::<Vec<_>>(),
            "campaigns": calls.iter().map(crate::output::record_json).collect::<Vec<_>>(),
            "outbox": status.outbox,
            "rejected": status.rejected.len(),
            "conflicts": status.conflicts.len(),
        }));
        return Ok(());
    }
    if plan.is_empty() {
        crate::outln!("no visits planned for today");
    } else {
        let rows: Vec<Vec<String>> = plan
            .iter()
            .map(|p| {
                let field = |name: &str| p.visit.str(name).unwrap_or_default().to_string();
                vec![
                    p.planned_start
                        .and_then(DateTime::from_timestamp_millis)
                        .map(|t| t.with_timezone(&Local).format("%H:%M").to_string())
                        .unwrap_or_default(),
                    p.customer_name.clone().unwrap_or_default(),
                    field("visit_type"),
                    field("status"),
                    p.visit.id.to_string(),
                ]
            })
            .collect();
        table(&["time", "customer", "type", "status", "visit"], &rows);
    }
    if !tasks.is_empty() {
        let rows: Vec<Vec<String>> = tasks
            .iter()
            .map(|t| {
                let due = t.i64("due_at");
                vec![
                    due.map(local_time).unwrap_or_default(),
                    if due.is_some_and(|d| d < from) {
                        "overdue"
                    } else {
                        ""
                    }
                    .to_string(),
                    t.str("title").unwrap_or_default().to_string(),
                    t.id.to_string(),
                ]
            })
            .collect();
        table(&["due", "", "task", "id"], &rows);
    }
    if !calls.is_empty() {
        let mut rows = Vec::with_capacity(calls.len());
        for call in &calls {
            let customer = match call.str("customer_id").map(str::parse) {
                Some(Ok(id)) => replica.get(id).await.ok(),
                _ => None,
            };
            rows.push(vec![
                call.str("name").unwrap_or_default().to_string(),
                customer
                    .as_ref()
                    .and_then(|c| c.get("name").as_str().map(str::to_string))
                    .unwrap_or_default(),
                call.str("asks").unwrap_or_default().to_string(),
                call.i64("ends_at").map(local_time).unwrap_or_default(),
                call.id.to_string(),
            ]);
        }
        table(&["campaign", "customer", "asks", "ends", "member"], &rows);
    }
    crate::outln!(
        "{} change(s) wait to be synced; {} record(s) refused; {} in conflict",
        status.outbox,
        status.rejected.len(),
        status.conflicts.len()
    );
    Ok(())
}
