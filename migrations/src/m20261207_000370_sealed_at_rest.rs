//! Documents' chunks and people's personal values are sealed at rest under the server key, and
//! customers' tax ids are matched through a keyed hash. What an older version stored in clear is
//! sealed at the server's next start (the upgrade task `seal_at_rest`, the same work as
//! `fieldsync-server key reseal`). No column changes: a sealed chunk is a blob, a sealed value text.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000370_sealed_at_rest"
    }
}

#[derive(DeriveIden)]
enum UpgradeTasks {
    Table,
    Name,
}

const TASK: &str = "seal_at_rest";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let task = Query::insert()
            .into_table(UpgradeTasks::Table)
            .columns([UpgradeTasks::Name])
            .values_panic([TASK.into()])
            .to_owned();
        m.exec_stmt(task).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let task = Query::delete()
            .from_table(UpgradeTasks::Table)
            .and_where(Expr::col(UpgradeTasks::Name).eq(TASK))
            .to_owned();
        m.exec_stmt(task).await
    }
}
