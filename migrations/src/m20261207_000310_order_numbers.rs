//! An order's number, as the company's other systems know it: what an import of orders matches
//! its rows on (with the customer), so that importing a file again updates instead of duplicating.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000310_order_numbers"
    }
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Number,
    CustomerId,
}

const INDEX: &str = "idx_orders_customer_number";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Orders::Table)
                .add_column(ColumnDef::new(Orders::Number).text())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(Orders::Table)
                .col(Orders::CustomerId)
                .col(Orders::Number)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Orders::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Orders::Table)
                .drop_column(Orders::Number)
                .to_owned(),
        )
        .await
    }
}
