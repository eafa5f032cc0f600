//! What a product costs moves out of the product, whose document every device receives, into a
//! record of its own that managers and admins alone read (`product_costs`). The products' costs
//! are written as those records at the server's next start (the upgrade task `product_costs`),
//! which also takes the field out of each product's current state.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000290_product_costs"
    }
}

#[derive(DeriveIden)]
enum ProductCosts {
    Table,
    Id,
    ProductId,
    UnitCost,
    Deleted,
    Conflicts,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    UnitCost,
}

#[derive(DeriveIden)]
enum UpgradeTasks {
    Table,
    Name,
}

const TASK: &str = "product_costs";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ProductCosts::Table)
                .col(
                    ColumnDef::new(ProductCosts::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(ProductCosts::ProductId).uuid())
                .col(ColumnDef::new(ProductCosts::UnitCost).big_integer())
                .col(ColumnDef::new(ProductCosts::Deleted).boolean())
                .col(ColumnDef::new(ProductCosts::Conflicts).text())
                .col(
                    ColumnDef::new(ProductCosts::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_product_costs_product_id")
                .table(ProductCosts::Table)
                .col(ProductCosts::ProductId)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Products::Table)
                .drop_column(Products::UnitCost)
                .to_owned(),
        )
        .await?;
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
        m.exec_stmt(task).await?;
        m.alter_table(
            Table::alter()
                .table(Products::Table)
                .add_column(ColumnDef::new(Products::UnitCost).big_integer())
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(ProductCosts::Table).to_owned())
            .await
    }
}
