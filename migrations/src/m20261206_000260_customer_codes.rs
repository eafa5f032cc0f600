//! Which customer holds each customer number, one row per number: the primary key makes two pushes
//! that take one number at once (racing on two processes, or past a merge made outside the write
//! transaction) collide in the database, where a check of the projection alone lets both pass.
//! Filled from the customers as they stand, the oldest holder of a number first.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000260_customer_codes"
    }
}

#[derive(DeriveIden)]
enum CustomerCodes {
    Table,
    Code,
    CustomerId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CustomerCodes::Table)
                .col(
                    ColumnDef::new(CustomerCodes::Code)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(CustomerCodes::CustomerId).uuid().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_customer_codes_customer")
                .table(CustomerCodes::Table)
                .col(CustomerCodes::CustomerId)
                .to_owned(),
        )
        .await?;
        // Portable SQL: `NOT deleted` reads SQLite's 0/1 and PostgreSQL's booleans alike.
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO customer_codes (code, customer_id) \
                 SELECT c.code, c.id FROM customers c \
                 WHERE c.code IS NOT NULL AND (c.deleted IS NULL OR NOT c.deleted) \
                 AND NOT EXISTS (SELECT 1 FROM customers o WHERE o.code = c.code \
                 AND (o.deleted IS NULL OR NOT o.deleted) AND o.id < c.id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CustomerCodes::Table).to_owned())
            .await
    }
}
