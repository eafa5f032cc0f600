//! `fieldsync KIND add|set|show|list|delete`: records edited offline, checked against their schema.

use anyhow::{anyhow, bail};
use clap::ArgMatches;
use fieldsync_sdk::Replica;
use serde_json::json;
use sync_core::schema::DELETED_FIELD;
use sync_core::{kinds, validate, KindSchema, Scope, Value, Writer};
use uuid::Uuid;

use crate::output::{display, local_time, record_json, table, Output};

pub async fn run(
    replica: &Replica,
    kind: &str,
    matches: &ArgMatches,
    out: Output,
) -> anyhow::Result<()> {
    let kind = kinds::get(kind)?;
    let id = |m: &ArgMatches| *m.get_one::<Uuid>("id").expect("clap requires the id");
    match matches.subcommand() {
        Some(("add", m)) => add(replica, kind, m, out).await,
        Some(("set", m)) => set(replica, kind, id(m), m, out).await,
        Some(("show", m)) => show(replica, kind, id(m), out).await,
        Some(("list", m)) => list(replica, kind, m, out).await,
        Some(("history", m)) => history(replica, id(m), m, out).await,
        Some(("delete", m)) => {
            let id = id(m);
            check_kind(replica, kind, id).await?;
            replica.delete(id).await?;
            if out.json {
                out.json_value(&json!({"id": id, "deleted": true}));
            } else {
                crate::outln!("deleted {} {id} (it syncs like any edit)", kind.name);
            }
            Ok(())
        }
        _ => unreachable!("clap requires a subcommand"),
    }
}

async fn add(
    replica: &Replica,
    kind: &'static KindSchema,
    m: &ArgMatches,
    out: Output,
) -> anyhow::Result<()> {
    let mut fields: Vec<(&str, Value)> = Vec::new();
    for spec in kind.fields {
        if let Some(text) = m.try_get_one::<String>(spec.name).ok().flatten() {
            fields.push((
                spec.name,
                validate::parse(spec, text).map_err(|e| {
                    anyhow!("--{}: {}", crate::args::option_name(spec.name), e.message)
                })?,
            ));
        }
    }
    if let Scope::Territory { field, .. } = kind.scope {
        if !fields.iter().any(|(f, _)| *f == field) {
            let session = replica
                .session()
                .await?
                .ok_or(fieldsync_sdk::Error::NotLoggedIn)?;
            match session.territories.as_slice() {
                [only] => fields.push((field, Value::Str(only.clone()))),
                _ => bail!(
                    "--{field} is required: you have {} territories",
                    session.territories.len()
                ),
            }
        }
    }
    // Money is in the company's one currency: a record that names it takes the settings' value.
    if kinds::in_company_currency(kind) && !fields.iter().any(|(f, _)| *f == kinds::CURRENCY_FIELD)
    {
        let settings = replica.list(kinds::SETTINGS.name).await?;
        match settings.first().and_then(|s| s.str(kinds::CURRENCY_FIELD)) {
            Some(currency) => fields.push((kinds::CURRENCY_FIELD, Value::Str(currency.into()))),
            _ => bail!(
                "--currency is required: this device holds no company settings yet (sync first)"
            ),
        }
    }
    let id = replica.create(kind.name, &fields).await?;
    if out.json {
        out.json_value(&json!({"id": id}));
    } else {
        crate::outln!("{id}");
    }
    Ok(())
}

async fn set(
    replica: &Replica,
    kind: &'static KindSchema,
    id: Uuid,
    m: &ArgMatches,
    out: Output,
) -> anyhow::Result<()> {
    check_kind(replica, kind, id).await?;
    let mut fields: Vec<(&str, Value)> = Vec::new();
    for assignment in m.get_many::<String>("assignments").into_iter().flatten() {
        let (name, text) = assignment
            .split_once('=')
            .ok_or_else(|| anyhow!("`{assignment}` is not FIELD=VALUE"))?;
        let spec = kind.field(name).ok_or_else(|| {
            let names: Vec<&str> = kind
                .fields
                .iter()
                .filter(|f| f.writer != Writer::Server && f.name != DELETED_FIELD)
                .map(|f| f.name)
                .collect();
            anyhow!(
                "a {} has no field `{name}`; its fields are {}",
                kind.name,
                names.join(", ")
            )
        })?;
        if spec.writer == Writer::Server || spec.name == DELETED_FIELD {
            bail!("`{name}` cannot be set from a device");
        }
        fields.push((
            spec.name,
            validate::parse(spec, text).map_err(|e| anyhow!("{name}: {}", e.message))?,
        ));
    }
    replica.update(id, &fields).await?;
    if out.json {
        out.json_value(&record_json(&replica.info(id).await?));
    } else {
        crate::outln!("updated {} {id}", kind.name);
    }
    Ok(())
}

/// The record's history as the server tells it: the device holds the changes but not who made
/// them (a device's actor is bound to its user on the server) nor when the server received them.
async fn history(replica: &Replica, id: Uuid, m: &ArgMatches, out: Output) -> anyhow::Result<()> {
    let field = m.get_one::<String>("field").map(String::as_str);
    let limit = *m.get_one::<usize>("limit").expect("clap has a default");
    let history = replica
        .client()
        .await?
        .history(id, field, None, limit)
        .await?;
    if out.json {
        out.json_value(&serde_json::to_value(&history)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = history
        .entries
        .iter()
        .flat_map(|e| {
            let when = e.received_at.map(local_time).unwrap_or_default();
            let who = e
                .user
                .as_ref()
                .map(|u| u.email.clone().unwrap_or_else(|| u.id.to_string()))
                .unwrap_or_else(|| "server".into());
            let via = match &e.device {
                Some(d) => d.name.clone(),
                None => e.via.clone(),
            };
            e.fields.iter().map(move |f| {
                let new = if f.concurrent.is_empty() {
                    short(&f.new)
                } else {
                    let all: Vec<String> = f.concurrent.iter().map(short).collect();
                    format!("{} (concurrent)", all.join(" | "))
                };
                vec![
                    when.clone(),
                    who.clone(),
                    via.clone(),
                    f.field.clone(),
                    short(&f.old),
                    new,
                ]
            })
        })
        .collect();
    table(&["received", "by", "via", "field", "old", "new"], &rows);
    if history.next_before.is_some() {
        crate::outln!(
            "({} of {} changes shown; --limit shows more)",
            history.entries.len(),
            history.total
        );
    }
    Ok(())
}

/// A value for a table cell: a long note shows its start.
fn short(value: &serde_json::Value) -> String {
    const WIDTH: usize = 60;
    let text = display(value);
    match text.char_indices().nth(WIDTH) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

async fn check_kind(replica: &Replica, kind: &KindSchema, id: Uuid) -> anyhow::Result<()> {
    let info = replica.info(id).await?;
    if info.kind != kind.name {
        bail!("{id} is a {}, not a {}", info.kind, kind.name);
    }
    Ok(())
}

async fn show(
    replica: &Replica,
    kind: &'static KindSchema,
    id: Uuid,
    out: Output,
) -> anyhow::Result<()> {
    check_kind(replica, kind, id).await?;
    let info = replica.info(id).await?;
    if out.json {
        out.json_value(&record_json(&info));
        return Ok(());
    }
    let mut rows = vec![vec!["id".to_string(), id.to_string()]];
    for spec in kind.fields {
        let value = info.fields.get(spec.name).map(display).unwrap_or_default();
        // The tombstone is worth showing only when it is set.
        let hidden = spec.name == DELETED_FIELD && value != "true";
        if !value.is_empty() && !hidden {
            rows.push(vec![spec.name.to_string(), value]);
        }
    }
    table(&["field", "value"], &rows);
    for conflict in &info.conflicts {
        let values: Vec<String> = conflict.values.iter().map(|v| v.to_string()).collect();
        crate::outln!(
            "conflict: {} was set to {} at the same time",
            conflict.field,
            values.join(" | ")
        );
    }
    if info.pending > 0 {
        crate::outln!("{} change(s) not yet synced", info.pending);
    }
    if let Some(reason) = &info.rejected {
        crate::outln!(
            "refused by the server: {} ({})",
            reason.message,
            reason.code
        );
    }
    if info.quarantined {
        crate::outln!("some changes wait for a manager's review");
    }
    Ok(())
}

async fn list(
    replica: &Replica,
    kind: &'static KindSchema,
    m: &ArgMatches,
    out: Output,
) -> anyhow::Result<()> {
    let mut filters = Vec::new();
    for filter in m.get_many::<String>("where").into_iter().flatten() {
        filters.push(
            filter
                .split_once('=')
                .ok_or_else(|| anyhow!("`{filter}` is not FIELD=VALUE"))?,
        );
    }
    let records = replica.query(kind.name, &filters).await?;
    if out.json {
        out.json_value(&serde_json::Value::Array(
            records.iter().map(record_json).collect(),
        ));
        return Ok(());
    }
    // The first few fields of the schema make the columns; `show` has the rest.
    let columns: Vec<&str> = kind
        .fields
        .iter()
        .map(|f| f.name)
        .filter(|f| *f != DELETED_FIELD)
        .take(4)
        .collect();
    let mut header = vec!["id"];
    header.extend(&columns);
    header.push("sync");
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let mut row = vec![r.id.to_string()];
            row.extend(
                columns
                    .iter()
                    .map(|c| r.fields.get(*c).map(display).unwrap_or_default()),
            );
            row.push(if r.rejected.is_some() {
                "refused".into()
            } else if !r.conflicts.is_empty() {
                "conflict".into()
            } else if r.pending > 0 {
                "pending".into()
            } else {
                "synced".into()
            });
            row
        })
        .collect();
    table(&header, &rows);
    Ok(())
}
