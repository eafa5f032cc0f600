//! Printing: readable tables for people, JSON with `--json`. Errors go to stderr.

use fieldsync_sdk::RecordInfo;
use serde_json::{json, Map, Value};

/// Prints a line to stdout; a reader that went away (`| head`) is not an error.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    pub fn json_value(&self, value: &Value) {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    }

    pub fn error(&self, e: &anyhow::Error) {
        let code = e
            .downcast_ref::<fieldsync_sdk::Error>()
            .and_then(|e| e.code().map(str::to_string));
        let core = e
            .downcast_ref::<fieldsync_sdk::Error>()
            .and_then(|e| match e {
                fieldsync_sdk::Error::Core(c) => Some(c.code().to_string()),
                fieldsync_sdk::Error::UnknownRecord(_) => Some("not_found".to_string()),
                fieldsync_sdk::Error::NotLoggedIn => Some("not_logged_in".to_string()),
                fieldsync_sdk::Error::NotAllowed { code, .. } => Some(code.to_string()),
                fieldsync_sdk::Error::Network(_) | fieldsync_sdk::Error::GaveUp { .. } => {
                    Some("unreachable".to_string())
                }
                _ => None,
            });
        let code = code.or(core).unwrap_or_else(|| "error".to_string());
        if self.json {
            eprintln!(
                "{}",
                json!({"error": {"code": code, "message": format!("{e:#}")}})
            );
        } else {
            eprintln!("error: {e:#}");
        }
    }
}

/// A record as one JSON object: its id and its fields.
pub fn record_json(info: &RecordInfo) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), json!(info.id));
    for (k, v) in &info.fields {
        object.insert(k.clone(), v.clone());
    }
    Value::Object(object)
}

pub fn display(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Milliseconds since the epoch as the local time to the minute.
pub fn local_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// Prints rows as a table with a header and columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        crate::outln!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        line(row.clone());
    }
}
