//! The customer a lead is likely to be already, as the server's duplicate check found it, and why.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000340_lead_duplicates"
    }
}

#[derive(DeriveIden)]
enum Leads {
    Table,
    DuplicateOf,
    DuplicateReasons,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        m.alter_table(
            Table::alter()
                .table(Leads::Table)
                .add_column(ColumnDef::new(Leads::DuplicateOf).uuid())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Leads::Table)
                .add_column(ColumnDef::new(Leads::DuplicateReasons).string())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Leads::DuplicateOf, Leads::DuplicateReasons] {
            m.alter_table(
                Table::alter()
                    .table(Leads::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
