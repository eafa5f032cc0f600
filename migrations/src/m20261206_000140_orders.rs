//! Orders and their lines, price lists and their prices, payments' allocations to orders, and the
//! alerts and conflicts the server's rules raise; customers' price list and tags; products' prices,
//! tax rates and costs.
//!
//! Items inside a record (an order's lines) project into child tables keyed by the record's id and
//! the item's id, with the item's position in the record. The columns are written out here rather
//! than read from the record schemas: a migration is frozen once released, while the schemas move
//! on.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000140_orders"
    }
}

/// The SQL type of a projected field.
#[derive(Clone, Copy)]
enum Col {
    Str,
    Text,
    Int,
    Bool,
    Uuid,
}

fn column(name: &str, ty: Col) -> ColumnDef {
    let mut def = ColumnDef::new(Alias::new(name));
    match ty {
        Col::Str => def.string(),
        Col::Text => def.text(),
        Col::Int => def.big_integer(),
        Col::Bool => def.boolean(),
        Col::Uuid => def.uuid(),
    };
    def
}

/// Projected fields: name and SQL type.
type Columns = &'static [(&'static str, Col)];

const CUSTOMER_COLUMNS: Columns = &[("price_list_id", Col::Uuid), ("tags", Col::Str)];
const PRODUCT_COLUMNS: Columns = &[
    ("list_price", Col::Int),
    ("tax_bp", Col::Int),
    ("unit_cost", Col::Int),
];

/// Each new record table: its name, its fields, and the columns indexed for lookups and reports.
const TABLES: &[(&str, Columns, &[&str])] = &[
    (
        "price_lists",
        &[
            ("name", Col::Str),
            ("currency", Col::Str),
            ("valid_from", Col::Int),
            ("valid_to", Col::Int),
            ("active", Col::Bool),
            ("deleted", Col::Bool),
        ],
        &[],
    ),
    (
        "orders",
        &[
            ("customer_id", Col::Uuid),
            ("agent_id", Col::Uuid),
            ("visit_id", Col::Uuid),
            ("status", Col::Str),
            ("currency", Col::Str),
            ("order_discount_bp", Col::Int),
            ("subtotal", Col::Int),
            ("discount", Col::Int),
            ("tax", Col::Int),
            ("total", Col::Int),
            ("ordered_at", Col::Int),
            ("submitted_at", Col::Int),
            ("delivered_at", Col::Int),
            ("hold_reason", Col::Str),
            ("decided_by", Col::Uuid),
            ("decided_at", Col::Int),
            ("decision_note", Col::Str),
            ("notes", Col::Text),
            ("deleted", Col::Bool),
        ],
        &["customer_id", "agent_id", "status", "ordered_at"],
    ),
    (
        "alerts",
        &[
            ("customer_id", Col::Uuid),
            ("record_id", Col::Uuid),
            ("record_kind", Col::Str),
            ("code", Col::Str),
            ("message", Col::Str),
            ("user_id", Col::Uuid),
            ("raised_at", Col::Int),
            ("status", Col::Str),
            ("outcome", Col::Str),
            ("note", Col::Str),
            ("resolved_by", Col::Uuid),
            ("resolved_at", Col::Int),
            ("deleted", Col::Bool),
        ],
        &["record_id", "status", "raised_at"],
    ),
    (
        "record_conflicts",
        &[
            ("customer_id", Col::Uuid),
            ("record_id", Col::Uuid),
            ("record_kind", Col::Str),
            ("field", Col::Str),
            ("candidates", Col::Text),
            ("raised_at", Col::Int),
            ("status", Col::Str),
            ("outcome", Col::Text),
            ("note", Col::Str),
            ("resolved_by", Col::Uuid),
            ("resolved_at", Col::Int),
            ("deleted", Col::Bool),
        ],
        &["record_id", "status", "raised_at"],
    ),
];

/// Each child table: its name, the column naming its record, the item's fields, and the columns
/// indexed besides the record's.
const CHILD_TABLES: &[(&str, &str, Columns, &[&str])] = &[
    (
        "order_lines",
        "order_id",
        &[
            ("product_id", Col::Uuid),
            ("sku", Col::Str),
            ("quantity", Col::Int),
            ("unit_price", Col::Int),
            ("discount_bp", Col::Int),
            ("tax_bp", Col::Int),
            // The line's amount after every discount, and its tax, as the order's totals give them.
            ("net", Col::Int),
            ("tax", Col::Int),
        ],
        &["product_id"],
    ),
    (
        "price_list_items",
        "price_list_id",
        &[
            ("product_id", Col::Uuid),
            ("min_quantity", Col::Int),
            ("unit_price", Col::Int),
        ],
        &["product_id"],
    ),
    (
        "payment_allocations",
        "payment_id",
        &[("order_id", Col::Uuid), ("amount", Col::Int)],
        &["order_id"],
    ),
];

/// SQLite alters one column per statement.
async fn add_columns(m: &SchemaManager<'_>, table: &str, columns: Columns) -> Result<(), DbErr> {
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

async fn drop_columns(m: &SchemaManager<'_>, table: &str, columns: Columns) -> Result<(), DbErr> {
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

async fn index(m: &SchemaManager<'_>, table: &str, col: &str) -> Result<(), DbErr> {
    m.create_index(
        Index::create()
            .name(format!("idx_{table}_{col}"))
            .table(Alias::new(table))
            .col(Alias::new(col))
            .to_owned(),
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_columns(m, "customers", CUSTOMER_COLUMNS).await?;
        add_columns(m, "products", PRODUCT_COLUMNS).await?;
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
                index(m, table, col).await?;
            }
        }
        for (table, record, columns, indexed) in CHILD_TABLES {
            let mut create = Table::create();
            create
                .table(Alias::new(*table))
                .col(ColumnDef::new(Alias::new(*record)).uuid().not_null())
                .col(ColumnDef::new(Alias::new("id")).uuid().not_null())
                .col(ColumnDef::new(Alias::new("position")).integer().not_null());
            for (name, ty) in *columns {
                create.col(column(name, *ty));
            }
            // Keyed by the record first: a record's items are replaced together.
            create.primary_key(
                Index::create()
                    .col(Alias::new(*record))
                    .col(Alias::new("id")),
            );
            m.create_table(create.to_owned()).await?;
            for col in *indexed {
                index(m, table, col).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (table, _, _, _) in CHILD_TABLES {
            m.drop_table(Table::drop().table(Alias::new(*table)).to_owned())
                .await?;
        }
        for (table, _, _) in TABLES {
            m.drop_table(Table::drop().table(Alias::new(*table)).to_owned())
                .await?;
        }
        drop_columns(m, "products", PRODUCT_COLUMNS).await?;
        drop_columns(m, "customers", CUSTOMER_COLUMNS).await
    }
}
