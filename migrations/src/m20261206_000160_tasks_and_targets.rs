//! The projections of tasks and sales targets, both scoped by territory.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000160_tasks_and_targets"
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    Territory,
    Title,
    AssigneeId,
    DueAt,
    Status,
    Priority,
    RelatedId,
    RelatedKind,
    DoneAt,
    Notes,
    Deleted,
    Conflicts,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SalesTargets {
    Table,
    Id,
    Territory,
    AgentId,
    PeriodStart,
    PeriodEnd,
    Metric,
    Value,
    Deleted,
    Conflicts,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Tasks::Table)
                .col(ColumnDef::new(Tasks::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(Tasks::Territory).string())
                .col(ColumnDef::new(Tasks::Title).string())
                .col(ColumnDef::new(Tasks::AssigneeId).uuid())
                .col(ColumnDef::new(Tasks::DueAt).big_integer())
                .col(ColumnDef::new(Tasks::Status).string())
                .col(ColumnDef::new(Tasks::Priority).string())
                .col(ColumnDef::new(Tasks::RelatedId).uuid())
                .col(ColumnDef::new(Tasks::RelatedKind).string())
                .col(ColumnDef::new(Tasks::DoneAt).big_integer())
                .col(ColumnDef::new(Tasks::Notes).text())
                .col(ColumnDef::new(Tasks::Deleted).boolean())
                .col(ColumnDef::new(Tasks::Conflicts).text())
                .col(ColumnDef::new(Tasks::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_tasks_assignee_id")
                .table(Tasks::Table)
                .col(Tasks::AssigneeId)
                .col(Tasks::DueAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SalesTargets::Table)
                .col(
                    ColumnDef::new(SalesTargets::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(SalesTargets::Territory).string())
                .col(ColumnDef::new(SalesTargets::AgentId).uuid())
                .col(ColumnDef::new(SalesTargets::PeriodStart).big_integer())
                .col(ColumnDef::new(SalesTargets::PeriodEnd).big_integer())
                .col(ColumnDef::new(SalesTargets::Metric).string())
                .col(ColumnDef::new(SalesTargets::Value).big_integer())
                .col(ColumnDef::new(SalesTargets::Deleted).boolean())
                .col(ColumnDef::new(SalesTargets::Conflicts).text())
                .col(
                    ColumnDef::new(SalesTargets::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SalesTargets::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await
    }
}
