//! The projection of `product` records, the company-wide catalogue.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000080_products"
    }
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Sku,
    Name,
    Unit,
    Category,
    Active,
    Description,
    Deleted,
    Conflicts,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Products::Table)
                .col(ColumnDef::new(Products::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(Products::Sku).string().not_null())
                .col(ColumnDef::new(Products::Name).string().not_null())
                .col(ColumnDef::new(Products::Unit).string())
                .col(ColumnDef::new(Products::Category).string())
                .col(ColumnDef::new(Products::Active).boolean())
                .col(ColumnDef::new(Products::Description).text())
                .col(ColumnDef::new(Products::Deleted).boolean())
                .col(ColumnDef::new(Products::Conflicts).text())
                .col(ColumnDef::new(Products::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_products_sku")
                .table(Products::Table)
                .col(Products::Sku)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Products::Table).to_owned())
            .await
    }
}
