//! When each scheduled job last ran, so that of several server processes on one database only one
//! runs a job per interval: a process claims a run by moving `last_run` forward, and only one
//! update of the row can see the old value.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000190_schedule_runs"
    }
}

#[derive(DeriveIden)]
enum ScheduleRuns {
    Table,
    Name,
    LastRun,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ScheduleRuns::Table)
                .col(
                    ColumnDef::new(ScheduleRuns::Name)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(ScheduleRuns::LastRun)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ScheduleRuns::Table).to_owned())
            .await
    }
}
