//! An index on `documents.seq`: a device's first sync pages through the documents in the order of
//! their latest feed position, each sent once and whole.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000030_documents_seq_index"
    }
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    Seq,
}

const INDEX: &str = "idx_documents_seq";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(Documents::Table)
                .col(Documents::Seq)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Documents::Table).to_owned())
            .await
    }
}
