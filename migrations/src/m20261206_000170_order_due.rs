//! When a delivered order's payment falls due, for receivables and their ageing; and which
//! submission of an order its hold was decided for.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000170_order_due"
    }
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    DueAt,
    HeldAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Orders::Table)
                .add_column(ColumnDef::new(Orders::DueAt).big_integer())
                .to_owned(),
        )
        .await?;
        // SQLite alters one column per statement.
        m.alter_table(
            Table::alter()
                .table(Orders::Table)
                .add_column(ColumnDef::new(Orders::HeldAt).big_integer())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_orders_due_at")
                .table(Orders::Table)
                .col(Orders::DueAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_orders_due_at")
                .table(Orders::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Orders::Table)
                .drop_column(Orders::HeldAt)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Orders::Table)
                .drop_column(Orders::DueAt)
                .to_owned(),
        )
        .await
    }
}
