//! When a person in a record was last erased: the record's history was rewritten without their
//! personal values, and devices holding its old history replace their copies.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000360_erased_records"
    }
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    ErasedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .add_column(ColumnDef::new(Documents::ErasedAt).big_integer())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .drop_column(Documents::ErasedAt)
                .to_owned(),
        )
        .await
    }
}
