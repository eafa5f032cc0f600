//! The personal data of the people in the CRM (the fields the schema marks personal: a contact's
//! and a lead's name, phone and e-mail; a customer's tax id): every read of it over the API and
//! every export is recorded (who, when, through which device or session, which record and fields,
//! never the values), and a person's data is exported on request, whole and machine-readable.

use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use sync_core::history::History;
use sync_core::kinds::{CONTACT, LEAD, TICKET};
use sync_core::{KindSchema, Role, Value};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::crm::history::{self, Ask};
use crate::crm::records::{self, Listing, Record};
use crate::db::{now_ms, BuildWith};
use crate::error::Error;
use crate::seal::Vault;

const TABLE: &str = "personal_data_access";
const COLUMNS: [&str; 9] = [
    "id",
    "at",
    "user_id",
    "device_id",
    "action",
    "record_id",
    "kind",
    "fields",
    "detail",
];
/// The most rows one audit page holds.
pub const MAX_PAGE: u64 = 500;
/// The most changes of a person's record an export holds (newest first); an export says when
/// there were more.
const MAX_HISTORY: usize = 1_000;

/// What was done with personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Shown over the API (a record, a listing, a history).
    Read,
    /// Exported: a person's data on request, or a kind's records as a file.
    Export,
    /// Erased on request (`detail` says why).
    Erase,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Export => "export",
            Action::Erase => "erase",
        }
    }
}

/// The records of an answer that hold personal fields, to audit: built before the answer's
/// audit is written, so that the audit holds no borrow of the answer across its await.
pub struct Shown(Vec<Row>);

impl Shown {
    /// The records of `records` whose kind has personal fields.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a Record>) -> Shown {
        Shown::ids(records.into_iter().map(|r| (r.id, r.kind.as_str())))
    }

    /// [`Shown::of`], of records by id and kind.
    pub fn ids<'a>(records: impl IntoIterator<Item = (Uuid, &'a str)>) -> Shown {
        let mut rows = Vec::new();
        for (id, kind) in records {
            let Ok(kind) = sync_core::kinds::get(kind) else {
                continue;
            };
            if let Some(fields) = personal(kind) {
                rows.push((Some(id), kind.name, fields, None));
            }
        }
        Shown(rows)
    }
}

/// Records `who`'s `action` on each record shown, one row per record.
pub async fn audit(
    conn: &impl ConnectionTrait,
    who: &Principal,
    action: Action,
    shown: Shown,
) -> Result<(), Error> {
    write(conn, who, action, shown.0).await
}

/// Records `who`'s export of the records of `kind` they see as a file (`extension`), in one row:
/// the export streams, and the row is written before its first byte.
pub async fn audit_bulk(
    conn: &impl ConnectionTrait,
    who: &Principal,
    kind: &'static KindSchema,
    extension: &str,
) -> Result<(), Error> {
    let Some(fields) = personal(kind) else {
        return Ok(());
    };
    let detail = Some(format!("every {} in scope, as {extension}", kind.name));
    write(
        conn,
        who,
        Action::Export,
        vec![(None, kind.name, fields, detail)],
    )
    .await
}

/// Records `who`'s erasure of person `id` (of `kind`), for `reason`.
pub async fn audit_erasure(
    conn: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
    kind: &'static KindSchema,
    reason: &str,
) -> Result<(), Error> {
    let fields = personal(kind).unwrap_or_default();
    let row = (Some(id), kind.name, fields, Some(reason.to_string()));
    write(conn, who, Action::Erase, vec![row]).await
}

/// The kind's personal fields, comma-separated; None when it has none.
fn personal(kind: &KindSchema) -> Option<String> {
    let fields: Vec<&str> = kind.personal_fields().collect();
    (!fields.is_empty()).then(|| fields.join(","))
}

type Row = (Option<Uuid>, &'static str, String, Option<String>);

async fn write(
    conn: &impl ConnectionTrait,
    who: &Principal,
    action: Action,
    rows: Vec<Row>,
) -> Result<(), Error> {
    let at = now_ms();
    // A page holds at most 500 records; 100 rows a statement stays far under either database's
    // bound on variables.
    for part in rows.chunks(100) {
        let mut stmt = Query::insert()
            .into_table(Alias::new(TABLE))
            .columns(COLUMNS.map(Alias::new))
            .to_owned();
        for (record, kind, fields, detail) in part {
            stmt.values_panic([
                Uuid::now_v7().into(),
                at.into(),
                who.user_id.into(),
                Some(who.device_id).into(),
                action.as_str().into(),
                (*record).into(),
                (*kind).into(),
                fields.clone().into(),
                detail.clone().into(),
            ]);
        }
        conn.execute(stmt.build_with(conn)).await?;
    }
    Ok(())
}

/// One row of the audit trail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Access {
    pub id: Uuid,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub user_id: Uuid,
    /// The device or dashboard session the request came through.
    pub device_id: Option<Uuid>,
    pub action: Action,
    /// None for a kind exported as a file (`detail` says so).
    pub record_id: Option<Uuid>,
    pub kind: String,
    /// The personal fields the record holds, comma-separated.
    pub fields: String,
    pub detail: Option<String>,
}

/// A page of the audit trail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccessPage {
    pub accesses: Vec<Access>,
    /// Pass as `before` for the next (older) page; null on the last.
    pub next_before: Option<Uuid>,
}

/// Which rows of the audit trail to read.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessQuery {
    /// Accesses to this record (a contact, a lead).
    pub record_id: Option<Uuid>,
    /// Accesses by this user.
    pub user_id: Option<Uuid>,
    /// Rows older than this one: the `next_before` of the previous page.
    pub before: Option<Uuid>,
    /// Rows per page, 1 to 500 [default 100].
    pub limit: Option<u64>,
}

/// The audit trail, newest first: an admin reads all of it; a manager the accesses to the records
/// she may see (not files exported of a whole kind, which name no record).
pub async fn accesses(
    conn: &impl ConnectionTrait,
    who: &Principal,
    q: &AccessQuery,
) -> Result<AccessPage, Error> {
    if who.role < Role::Manager {
        return Err(Error::Forbidden(
            "the audit trail of personal data is for managers and admins".into(),
        ));
    }
    let a = Alias::new("a");
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let mut stmt = Query::select()
        .columns(COLUMNS.map(|c| (a.clone(), Alias::new(c))))
        .from_as(Alias::new(TABLE), a.clone())
        .order_by((a.clone(), Alias::new("id")), Order::Desc)
        .limit(limit + 1)
        .to_owned();
    if !who.sees_all() {
        stmt.inner_join(
            Alias::new("documents"),
            Expr::col((Alias::new("documents"), Alias::new("id")))
                .equals((a.clone(), Alias::new("record_id"))),
        )
        .cond_where(who.visible(Some("documents")));
    }
    if let Some(record) = q.record_id {
        stmt.and_where(Expr::col((a.clone(), Alias::new("record_id"))).eq(record));
    }
    if let Some(user) = q.user_id {
        stmt.and_where(Expr::col((a.clone(), Alias::new("user_id"))).eq(user));
    }
    if let Some(before) = q.before {
        stmt.and_where(Expr::col((a.clone(), Alias::new("id"))).lt(before));
    }
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    let mut accesses = Vec::with_capacity(rows.len());
    for row in rows.iter().take(limit as usize) {
        let action: String = row.try_get("", "action")?;
        accesses.push(Access {
            id: row.try_get("", "id")?,
            at: row.try_get("", "at")?,
            user_id: row.try_get("", "user_id")?,
            device_id: row.try_get("", "device_id")?,
            action: match action.as_str() {
                "read" => Action::Read,
                "erase" => Action::Erase,
                _ => Action::Export,
            },
            record_id: row.try_get("", "record_id")?,
            kind: row.try_get("", "kind")?,
            fields: row.try_get("", "fields")?,
            detail: row.try_get("", "detail")?,
        });
    }
    let next_before = match rows.len() > limit as usize {
        true => accesses.last().map(|a| a.id),
        false => None,
    };
    Ok(AccessPage {
        accesses,
        next_before,
    })
}

/// Everything the CRM holds about a person, as one machine-readable document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PersonExport {
    /// Milliseconds since the epoch.
    pub exported_at: i64,
    /// The contact or lead, with every field.
    pub person: Record,
    /// Which of its fields are personal data.
    pub personal_fields: Vec<String>,
    /// The customer the person is a contact of, or the lead was converted into.
    pub customer: Option<Record>,
    /// Every change of the person's record: who, when, from what to what (the newest
    /// 1,000, with `next_before` set when there are more).
    pub history: History,
    /// The records that name the person: tickets they raised; the lead a contact was made from,
    /// or the contact a lead became.
    pub related: Vec<Record>,
    /// Who read or exported the person's personal fields, newest first (this export included).
    pub accesses: Vec<Access>,
}

/// A person's data, for a manager or an admin who may see their record: the record, its
/// customer, its history, the records naming them and the audit trail of their data. The export
/// is itself audited.
pub async fn export(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    who: &Principal,
    id: Uuid,
) -> Result<PersonExport, Error> {
    if who.role < Role::Manager {
        return Err(Error::Forbidden(
            "a person's data is exported by managers and admins".into(),
        ));
    }
    let detail = records::get(conn, vault, who, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no record {id}")))?;
    let person = detail.record;
    if person.kind != CONTACT.name && person.kind != LEAD.name {
        return Err(Error::bad_request(
            "not_a_person",
            format!("{id} is a {}, not a contact or a lead", person.kind),
        ));
    }
    let kind = sync_core::kinds::get(&person.kind)?;
    let field = |name: &str| {
        person.fields[name]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
    };
    let mut related = Vec::new();
    let named_by = |kind: &'static KindSchema, field: &'static str| {
        let spec = kind.field(field).expect("the kind has the field");
        (kind, [(spec, Value::Str(id.to_string()))])
    };
    for (kind, filters) in [
        named_by(&TICKET, "contact_id"),
        named_by(&LEAD, "contact_id"),
    ] {
        let page = records::list(
            conn,
            vault,
            who,
            &Listing {
                kind,
                filters: &filters,
                after: None,
                limit: records::MAX_PAGE_RECORDS,
                include_deleted: true,
            },
        )
        .await?;
        related.extend(page.records);
    }
    if let Some(contact) = field("contact_id") {
        related.extend(
            records::get(conn, vault, who, contact)
                .await?
                .map(|d| d.record),
        );
    }
    let customer = match field("customer_id") {
        Some(c) => records::get(conn, vault, who, c).await?.map(|d| d.record),
        None => None,
    };
    let ask = Ask {
        before: None,
        limit: MAX_HISTORY,
        field: None,
    };
    let history = history::history(conn, vault, who, id, &ask).await?;
    audit(conn, who, Action::Export, Shown::of([&person])).await?;
    let accesses = accesses(
        conn,
        who,
        &AccessQuery {
            record_id: Some(id),
            limit: Some(MAX_PAGE),
            ..AccessQuery::default()
        },
    )
    .await?
    .accesses;
    Ok(PersonExport {
        exported_at: now_ms(),
        personal_fields: kind.personal_fields().map(str::to_string).collect(),
        person,
        customer,
        history,
        related,
        accesses,
    })
}
