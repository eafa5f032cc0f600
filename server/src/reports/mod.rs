//! Managers' reports, computed in the database from the projection tables (never by loading
//! documents), the same SQL on SQLite and PostgreSQL through sea-query.
//!
//! A report is named sections, each a table of columns and rows, plus the exact definition of every
//! figure, so that what a number means travels with it. Each report module builds its sections from
//! the caller's [`Scope`] and the parsed [`Filters`].

pub mod campaign;
pub mod clv;
pub mod customer_value;
pub mod filters;
pub mod grading;
pub mod leads;
pub mod pipeline;
pub mod receivables;
pub mod retention;
pub mod sales;
pub mod scope;
pub mod scorecard;
pub mod service;
pub mod sql;
pub mod sync_health;
pub mod targets;
pub mod visits;
pub mod warnings;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub use filters::{Filters, RawFilters};
pub use scope::Scope;

use crate::error::Error;

/// One value of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

impl Cell {
    pub fn int(&self) -> i64 {
        match self {
            Cell::Int(v) => *v,
            Cell::Float(v) => *v as i64,
            _ => 0,
        }
    }

    /// A text cell's text (an agent's id, a period), empty for any other cell: a key to group
    /// rows of several tables by.
    pub fn text(&self) -> String {
        match self {
            Cell::Text(v) => v.clone(),
            _ => String::new(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(v) => Value::from(*v),
            // Ratios to four decimal places: more would only be noise of the float arithmetic.
            Cell::Float(v) if v.is_finite() => Value::from((v * 10_000.0).round() / 10_000.0),
            Cell::Float(_) => Value::Null,
            Cell::Text(v) => Value::from(v.as_str()),
        }
    }

    fn csv(&self) -> String {
        match self.json() {
            Value::Null => String::new(),
            Value::String(s) => s,
            v => v.to_string(),
        }
    }
}

impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Cell {
        v.map_or(Cell::Null, Cell::Float)
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Cell {
        Cell::Int(v)
    }
}

/// `a / b`, or nothing when `b` is zero.
pub fn ratio(a: i64, b: i64) -> Cell {
    (b != 0).then(|| a as f64 / b as f64).into()
}

/// A table of a report.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(columns: &[&'static str]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// The value of `column` in `row`.
    pub fn get(&self, row: usize, column: &str) -> &Cell {
        let i = self.columns.iter().position(|c| *c == column);
        &self.rows[row][i.unwrap_or_else(|| panic!("no column {column}"))]
    }

    fn json(&self) -> Value {
        let rows = self
            .rows
            .iter()
            .map(|row| {
                let mut obj = Map::new();
                for (name, cell) in self.columns.iter().zip(row) {
                    obj.insert(name.to_string(), cell.json());
                }
                Value::Object(obj)
            })
            .collect();
        Value::Array(rows)
    }
}

/// A report's answer.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: &'static str,
    pub filters: Filters,
    /// Each figure's exact definition, by column name.
    pub definitions: &'static [(&'static str, &'static str)],
    pub sections: Vec<(&'static str, Table)>,
}

/// The JSON form of a report (documentation of its shape; see [`Report::json`]).
#[derive(Serialize, ToSchema)]
pub struct ReportBody {
    /// The report's name.
    pub report: String,
    /// The period, in milliseconds since the epoch: `from` inclusive, `to` exclusive.
    pub from: i64,
    pub to: i64,
    /// `day`, `week` or `month`: the buckets of the `by_period` sections.
    pub granularity: String,
    /// Each figure's exact definition, by column name.
    pub definitions: Map<String, Value>,
    /// Each section: a list of rows, each an object of column name to value.
    #[schema(value_type = Object)]
    pub sections: Map<String, Value>,
    /// The sections in the report's order, each with its columns in order (the rows' objects do
    /// not keep one): what a table of the report shows, as its CSV does.
    pub layout: Vec<SectionLayout>,
}

/// A section's name and its columns, in order.
#[derive(Serialize, ToSchema)]
pub struct SectionLayout {
    pub section: String,
    pub columns: Vec<String>,
}

impl Report {
    pub fn section(&self, name: &str) -> Option<&Table> {
        self.sections
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t)
    }

    pub fn json(&self) -> Value {
        let definitions = self
            .definitions
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        let sections = self
            .sections
            .iter()
            .map(|(k, t)| (k.to_string(), t.json()))
            .collect();
        serde_json::to_value(ReportBody {
            report: self.name.to_string(),
            from: self.filters.from,
            to: self.filters.to,
            granularity: self.filters.granularity.name().to_string(),
            definitions,
            sections,
            layout: self
                .sections
                .iter()
                .map(|(name, t)| SectionLayout {
                    section: name.to_string(),
                    columns: t.columns.iter().map(|c| c.to_string()).collect(),
                })
                .collect(),
        })
        .expect("a report serialises")
    }

    /// The section the `section` filter names, else the first.
    pub fn chosen(&self) -> Result<&Table, Error> {
        match &self.filters.section {
            Some(name) => self.section(name).ok_or_else(|| {
                let names: Vec<_> = self.sections.iter().map(|(n, _)| *n).collect();
                Error::bad_request(
                    "invalid_parameter",
                    format!("`section`: expected one of {}", names.join(", ")),
                )
            }),
            None => Ok(&self.sections[0].1),
        }
    }

    /// The chosen section as CSV (RFC 4180, a header row of column names).
    pub fn csv(&self) -> Result<String, Error> {
        let table = self.chosen()?;
        let mut out = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| Error::Internal(format!("writing CSV: {e}"));
        out.write_record(&table.columns).map_err(io)?;
        for row in &table.rows {
            out.write_record(row.iter().map(Cell::csv)).map_err(io)?;
        }
        let bytes = out
            .into_inner()
            .map_err(|e| Error::Internal(format!("writing CSV: {e}")))?;
        String::from_utf8(bytes).map_err(|e| Error::Internal(e.to_string()))
    }
}
