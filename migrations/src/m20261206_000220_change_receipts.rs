//! When the server received each change of a record, for the record's history: one row per write
//! of a record, naming the changes it brought. Compaction replaces a record's chunks, not these.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000220_change_receipts"
    }
}

#[derive(DeriveIden)]
enum ChangeReceipts {
    Table,
    DocId,
    /// The feed position of the write.
    Seq,
    /// Milliseconds since the epoch, by the server's clock.
    ReceivedAt,
    /// The hashes of the changes the write brought, 32 bytes each.
    Hashes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ChangeReceipts::Table)
                .col(ColumnDef::new(ChangeReceipts::DocId).uuid().not_null())
                .col(ColumnDef::new(ChangeReceipts::Seq).big_integer().not_null())
                .col(
                    ColumnDef::new(ChangeReceipts::ReceivedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(ChangeReceipts::Hashes).binary().not_null())
                .primary_key(
                    Index::create()
                        .col(ChangeReceipts::DocId)
                        .col(ChangeReceipts::Seq),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ChangeReceipts::Table).to_owned())
            .await
    }
}
