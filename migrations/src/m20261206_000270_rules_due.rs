//! The rules a push leaves to run after its transaction commits, recorded in that transaction: a
//! process that stops before they run leaves them due, and another pass runs them.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000270_rules_due"
    }
}

#[derive(DeriveIden)]
enum RulesDue {
    Table,
    Id,
    /// Who made the push, as the rules judge it: a user, a role, and the server's purpose (none
    /// for a device's own push).
    UserId,
    Role,
    Purpose,
    /// JSON: the records the push wrote, each with the fields its changes wrote and whether it
    /// lacks a text or items of its kind.
    Records,
    /// When the rules became due, or were last tried (ms).
    DueAt,
    Attempts,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RulesDue::Table)
                .col(ColumnDef::new(RulesDue::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(RulesDue::UserId).uuid().not_null())
                .col(ColumnDef::new(RulesDue::Role).string().not_null())
                .col(ColumnDef::new(RulesDue::Purpose).string())
                .col(ColumnDef::new(RulesDue::Records).text().not_null())
                .col(ColumnDef::new(RulesDue::DueAt).big_integer().not_null())
                .col(
                    ColumnDef::new(RulesDue::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_rules_due_due_at")
                .table(RulesDue::Table)
                .col(RulesDue::DueAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RulesDue::Table).to_owned())
            .await
    }
}
