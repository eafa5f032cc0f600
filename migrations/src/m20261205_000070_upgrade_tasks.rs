//! Work the server does once, at start-up, on a database an older version wrote: what needs the
//! documents themselves and so cannot be a migration (the server's `sync::upgrade`). Each row is one
//! task; the server deletes it in the transaction that does the work.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000070_upgrade_tasks"
    }
}

#[derive(DeriveIden)]
enum UpgradeTasks {
    Table,
    Name,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(UpgradeTasks::Table)
                .col(
                    ColumnDef::new(UpgradeTasks::Name)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .to_owned(),
        )
        .await?;
        // Records with concurrent values were projected with the value automerge lists first rather
        // than the one it shows (`ReadDoc::get`): project them again.
        m.exec_stmt(
            Query::insert()
                .into_table(UpgradeTasks::Table)
                .columns([UpgradeTasks::Name])
                .values_panic(["reproject_conflict_winners".into()])
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(UpgradeTasks::Table).to_owned())
            .await
    }
}
