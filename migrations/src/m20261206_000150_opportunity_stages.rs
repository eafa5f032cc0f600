//! Opportunities' stage history, the items of their `stage_history` field: one row per stage
//! entered, keyed by the opportunity and the item.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000150_opportunity_stages"
    }
}

#[derive(DeriveIden)]
enum OpportunityStages {
    Table,
    OpportunityId,
    Id,
    Position,
    Stage,
    At,
    UserId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use OpportunityStages as S;
        m.create_table(
            Table::create()
                .table(S::Table)
                .col(ColumnDef::new(S::OpportunityId).uuid().not_null())
                .col(ColumnDef::new(S::Id).uuid().not_null())
                .col(ColumnDef::new(S::Position).integer().not_null())
                .col(ColumnDef::new(S::Stage).string())
                .col(ColumnDef::new(S::At).big_integer())
                .col(ColumnDef::new(S::UserId).uuid())
                .primary_key(Index::create().col(S::OpportunityId).col(S::Id))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_opportunity_stages_at")
                .table(S::Table)
                .col(S::At)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(OpportunityStages::Table).to_owned())
            .await
    }
}
