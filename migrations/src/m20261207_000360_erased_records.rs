//! When a person in a record was last erased: the record's history was rewritten without their
//! personal values, and devices holding its old history replace their copies. The hashes of the
//! old history's changes are kept (hashes only), so that none of them is ever merged again.

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

#[derive(DeriveIden)]
enum ErasedChanges {
    Table,
    DocId,
    Hash,
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
        .await?;
        m.create_table(
            Table::create()
                .table(ErasedChanges::Table)
                .col(ColumnDef::new(ErasedChanges::DocId).uuid().not_null())
                .col(ColumnDef::new(ErasedChanges::Hash).binary().not_null())
                .primary_key(
                    Index::create()
                        .col(ErasedChanges::DocId)
                        .col(ErasedChanges::Hash),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ErasedChanges::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .drop_column(Documents::ErasedAt)
                .to_owned(),
        )
        .await
    }
}
