//! Each document keeps its listing (the projected fields as JSON), so the feed can hand a whole
//! document to a fresh device together with what it needs to list the record without loading it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000010_document_listing"
    }
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    Listing,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Nullable: documents written before this migration get theirs with their next change, and
        // until then devices load them as before.
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .add_column(ColumnDef::new(Documents::Listing).text())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .drop_column(Documents::Listing)
                .to_owned(),
        )
        .await
    }
}
