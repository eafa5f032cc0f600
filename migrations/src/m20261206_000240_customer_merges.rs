//! A customer merged into another (a duplicate) names it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000240_customer_merges"
    }
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    MergedInto,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Customers::Table)
                .add_column(ColumnDef::new(Customers::MergedInto).uuid())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Customers::Table)
                .drop_column(Customers::MergedInto)
                .to_owned(),
        )
        .await
    }
}
