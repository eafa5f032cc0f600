//! Visit plans (an agent's visits for a day, in route order) and their stops.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000180_visit_plans"
    }
}

#[derive(DeriveIden)]
enum VisitPlans {
    Table,
    Id,
    Territory,
    AgentId,
    Day,
    Notes,
    Deleted,
    Conflicts,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum VisitPlanStops {
    Table,
    PlanId,
    Id,
    Position,
    VisitId,
    Sequence,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use VisitPlanStops as S;
        use VisitPlans as P;
        m.create_table(
            Table::create()
                .table(P::Table)
                .col(ColumnDef::new(P::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(P::Territory).string())
                .col(ColumnDef::new(P::AgentId).uuid())
                .col(ColumnDef::new(P::Day).big_integer())
                .col(ColumnDef::new(P::Notes).text())
                .col(ColumnDef::new(P::Deleted).boolean())
                .col(ColumnDef::new(P::Conflicts).text())
                .col(ColumnDef::new(P::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_visit_plans_agent_id")
                .table(P::Table)
                .col(P::AgentId)
                .col(P::Day)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(S::Table)
                .col(ColumnDef::new(S::PlanId).uuid().not_null())
                .col(ColumnDef::new(S::Id).uuid().not_null())
                .col(ColumnDef::new(S::Position).integer().not_null())
                .col(ColumnDef::new(S::VisitId).uuid())
                .col(ColumnDef::new(S::Sequence).big_integer())
                .primary_key(Index::create().col(S::PlanId).col(S::Id))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_visit_plan_stops_visit_id")
                .table(S::Table)
                .col(S::VisitId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(VisitPlanStops::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(VisitPlans::Table).to_owned())
            .await
    }
}
