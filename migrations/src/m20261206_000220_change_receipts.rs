//! When the server received each change of a record, for the record's history: each chunk row
//! names the changes it brought and the time (`receipts`: per change, its 32-byte hash and the
//! time in milliseconds, 8 bytes big-endian). A compaction's snapshot carries the receipts of the
//! chunks it replaces, so no receipt is lost, and the write of an edit stays one row.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000220_change_receipts"
    }
}

#[derive(DeriveIden)]
enum DocChunks {
    Table,
    Receipts,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(DocChunks::Table)
                .add_column(ColumnDef::new(DocChunks::Receipts).binary())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(DocChunks::Table)
                .drop_column(DocChunks::Receipts)
                .to_owned(),
        )
        .await
    }
}
