//! The projection of the company's `settings` record: its currency and the discount limits.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000130_settings"
    }
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Id,
    Currency,
    AgentDiscountLimitBp,
    ManagerDiscountLimitBp,
    Deleted,
    Conflicts,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Settings::Table)
                .col(ColumnDef::new(Settings::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(Settings::Currency).string())
                .col(ColumnDef::new(Settings::AgentDiscountLimitBp).big_integer())
                .col(ColumnDef::new(Settings::ManagerDiscountLimitBp).big_integer())
                .col(ColumnDef::new(Settings::Deleted).boolean())
                .col(ColumnDef::new(Settings::Conflicts).text())
                .col(ColumnDef::new(Settings::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Settings::Table).to_owned())
            .await
    }
}
