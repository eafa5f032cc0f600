//! The field-sales records beyond customers and contacts: customers' commercial fields, contacts'
//! buying roles and consent, and the projections of visits, opportunities, tickets, payments, visit
//! types and tier policies. Customers' old lifecycle values are rewritten by the server at start-up
//! (the task `customer_statuses`), since that needs the documents.
//!
//! The columns are written out here rather than read from the record schemas: a migration is
//! frozen once released, while the schemas move on.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000120_crm_records"
    }
}

/// The SQL type of a projected field.
#[derive(Clone, Copy)]
enum Col {
    Str,
    Text,
    Int,
    Float,
    Bool,
    Uuid,
}

fn column(name: &str, ty: Col) -> ColumnDef {
    let mut def = ColumnDef::new(Alias::new(name));
    match ty {
        Col::Str => def.string(),
        Col::Text => def.text(),
        Col::Int => def.big_integer(),
        Col::Float => def.double(),
        Col::Bool => def.boolean(),
        Col::Uuid => def.uuid(),
    };
    def
}

const CUSTOMER_COLUMNS: Columns = &[
    ("code", Col::Str),
    ("industry", Col::Str),
    ("size", Col::Str),
    ("region", Col::Str),
    ("tax_id", Col::Str),
    ("geo_radius_m", Col::Float),
    ("owner_id", Col::Uuid),
    ("key_account_manager_id", Col::Uuid),
    ("tier", Col::Str),
    ("tier_locked", Col::Bool),
    ("payment_terms_days", Col::Int),
];

const CONTACT_COLUMNS: Columns = &[
    ("buying_role", Col::Str),
    ("decision_maker", Col::Bool),
    ("consent_email", Col::Bool),
    ("consent_phone", Col::Bool),
    ("consent_sms", Col::Bool),
];

/// Projected fields: name and SQL type.
type Columns = &'static [(&'static str, Col)];

/// Each new table: its name, its fields, and the columns indexed for lookups and reports.
const TABLES: &[(&str, Columns, &[&str])] = &[
    (
        "visits",
        &[
            ("customer_id", Col::Uuid),
            ("agent_id", Col::Uuid),
            ("visit_type", Col::Str),
            ("status", Col::Str),
            ("planned_start", Col::Int),
            ("planned_end", Col::Int),
            ("check_in_at", Col::Int),
            ("check_in_lat", Col::Float),
            ("check_in_lon", Col::Float),
            ("check_in_accuracy_m", Col::Float),
            ("check_in_distance_m", Col::Float),
            ("check_in_result", Col::Str),
            ("check_out_at", Col::Int),
            ("check_out_lat", Col::Float),
            ("check_out_lon", Col::Float),
            ("outcome", Col::Str),
            ("notes", Col::Text),
            ("deleted", Col::Bool),
        ],
        &["customer_id", "agent_id", "planned_start", "check_in_at"],
    ),
    (
        "opportunities",
        &[
            ("customer_id", Col::Uuid),
            ("title", Col::Str),
            ("stage", Col::Str),
            ("amount", Col::Int),
            ("probability", Col::Int),
            ("expected_close", Col::Int),
            ("owner_id", Col::Uuid),
            ("closed_at", Col::Int),
            ("close_reason", Col::Str),
            ("notes", Col::Text),
            ("deleted", Col::Bool),
        ],
        &["customer_id", "owner_id", "stage"],
    ),
    (
        "tickets",
        &[
            ("customer_id", Col::Uuid),
            ("contact_id", Col::Uuid),
            ("subject", Col::Str),
            ("category", Col::Str),
            ("severity", Col::Str),
            ("status", Col::Str),
            ("opened_at", Col::Int),
            ("resolved_at", Col::Int),
            ("resolution", Col::Str),
            ("satisfaction", Col::Int),
            ("expectation", Col::Int),
            ("notes", Col::Text),
            ("deleted", Col::Bool),
        ],
        &["customer_id", "opened_at"],
    ),
    (
        "payments",
        &[
            ("customer_id", Col::Uuid),
            ("amount", Col::Int),
            ("currency", Col::Str),
            ("collected_at", Col::Int),
            ("method", Col::Str),
            ("reference", Col::Str),
            ("collected_by", Col::Uuid),
            ("lat", Col::Float),
            ("lon", Col::Float),
            ("notes", Col::Text),
            ("deleted", Col::Bool),
        ],
        &["customer_id", "collected_at"],
    ),
    (
        "visit_types",
        &[
            ("name", Col::Str),
            ("geofence", Col::Str),
            ("radius_m", Col::Float),
            ("require_checkout", Col::Bool),
            ("active", Col::Bool),
            ("deleted", Col::Bool),
        ],
        &[],
    ),
    (
        "tier_policies",
        &[
            ("tier", Col::Str),
            ("visits_per_period", Col::Int),
            ("period_days", Col::Int),
            ("min_visit_minutes", Col::Int),
            ("deleted", Col::Bool),
        ],
        &[],
    ),
];

/// SQLite alters one column per statement.
async fn add_columns(
    m: &SchemaManager<'_>,
    table: &str,
    columns: &[(&str, Col)],
) -> Result<(), DbErr> {
    for (name, ty) in columns {
        m.alter_table(
            Table::alter()
                .table(Alias::new(table))
                .add_column(column(name, *ty))
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}

async fn drop_columns(
    m: &SchemaManager<'_>,
    table: &str,
    columns: &[(&str, Col)],
) -> Result<(), DbErr> {
    for (name, _) in columns {
        m.alter_table(
            Table::alter()
                .table(Alias::new(table))
                .drop_column(Alias::new(*name))
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_columns(m, "customers", CUSTOMER_COLUMNS).await?;
        add_columns(m, "contacts", CONTACT_COLUMNS).await?;
        m.create_index(
            Index::create()
                .name("idx_customers_code")
                .table(Alias::new("customers"))
                .col(Alias::new("code"))
                .to_owned(),
        )
        .await?;
        for (table, columns, indexed) in TABLES {
            let mut create = Table::create();
            create.table(Alias::new(*table)).col(
                ColumnDef::new(Alias::new("id"))
                    .uuid()
                    .not_null()
                    .primary_key(),
            );
            for (name, ty) in *columns {
                create.col(column(name, *ty));
            }
            create
                .col(ColumnDef::new(Alias::new("conflicts")).text())
                .col(
                    ColumnDef::new(Alias::new("updated_at"))
                        .big_integer()
                        .not_null(),
                );
            m.create_table(create.to_owned()).await?;
            for col in *indexed {
                m.create_index(
                    Index::create()
                        .name(format!("idx_{table}_{col}"))
                        .table(Alias::new(*table))
                        .col(Alias::new(*col))
                        .to_owned(),
                )
                .await?;
            }
        }
        // Customers' `lead` becomes `prospect` and `inactive` becomes `dormant`: a change of each such
        // document, written by the server at its next start.
        m.exec_stmt(
            Query::insert()
                .into_table(Alias::new("upgrade_tasks"))
                .columns([Alias::new("name")])
                .values_panic(["customer_statuses".into()])
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (table, _, _) in TABLES {
            m.drop_table(Table::drop().table(Alias::new(*table)).to_owned())
                .await?;
        }
        m.drop_index(
            Index::drop()
                .name("idx_customers_code")
                .table(Alias::new("customers"))
                .to_owned(),
        )
        .await?;
        drop_columns(m, "contacts", CONTACT_COLUMNS).await?;
        drop_columns(m, "customers", CUSTOMER_COLUMNS).await?;
        m.exec_stmt(
            Query::delete()
                .from_table(Alias::new("upgrade_tasks"))
                .and_where(Expr::col(Alias::new("name")).eq("customer_statuses"))
                .to_owned(),
        )
        .await
    }
}
