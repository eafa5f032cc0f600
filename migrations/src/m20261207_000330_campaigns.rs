//! Campaigns (with the customers they name and the products they promote), their members in the
//! field, and the campaign an order came from.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000330_campaigns"
    }
}

#[derive(DeriveIden)]
enum Campaigns {
    Table,
    Id,
    Name,
    CampaignType,
    Status,
    StartsAt,
    EndsAt,
    Budget,
    Channel,
    VisitType,
    Asks,
    TargetTerritory,
    TargetIndustry,
    TargetRegion,
    TargetSize,
    TargetTier,
    TargetStatus,
    Notes,
    Deleted,
    Conflicts,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CampaignCustomers {
    Table,
    CampaignId,
    Id,
    Position,
    CustomerId,
}

#[derive(DeriveIden)]
enum CampaignProducts {
    Table,
    CampaignId,
    Id,
    Position,
    ProductId,
}

#[derive(DeriveIden)]
enum CampaignMembers {
    Table,
    Id,
    CustomerId,
    CampaignId,
    Name,
    CampaignType,
    Status,
    StartsAt,
    EndsAt,
    Channel,
    VisitType,
    Asks,
    Products,
    Contactable,
    Response,
    RespondedAt,
    RespondedBy,
    Notes,
    Deleted,
    Conflicts,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    CampaignId,
}

const ORDERS_INDEX: &str = "idx_orders_campaign_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use CampaignMembers as M;
        use Campaigns as C;
        m.create_table(
            Table::create()
                .table(C::Table)
                .col(ColumnDef::new(C::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(C::Name).string())
                .col(ColumnDef::new(C::CampaignType).string())
                .col(ColumnDef::new(C::Status).string())
                .col(ColumnDef::new(C::StartsAt).big_integer())
                .col(ColumnDef::new(C::EndsAt).big_integer())
                .col(ColumnDef::new(C::Budget).big_integer())
                .col(ColumnDef::new(C::Channel).string())
                .col(ColumnDef::new(C::VisitType).string())
                .col(ColumnDef::new(C::Asks).string())
                .col(ColumnDef::new(C::TargetTerritory).string())
                .col(ColumnDef::new(C::TargetIndustry).string())
                .col(ColumnDef::new(C::TargetRegion).string())
                .col(ColumnDef::new(C::TargetSize).string())
                .col(ColumnDef::new(C::TargetTier).string())
                .col(ColumnDef::new(C::TargetStatus).string())
                .col(ColumnDef::new(C::Notes).text())
                .col(ColumnDef::new(C::Deleted).boolean())
                .col(ColumnDef::new(C::Conflicts).text())
                .col(ColumnDef::new(C::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CampaignCustomers::Table)
                .col(
                    ColumnDef::new(CampaignCustomers::CampaignId)
                        .uuid()
                        .not_null(),
                )
                .col(ColumnDef::new(CampaignCustomers::Id).uuid().not_null())
                .col(
                    ColumnDef::new(CampaignCustomers::Position)
                        .integer()
                        .not_null(),
                )
                .col(ColumnDef::new(CampaignCustomers::CustomerId).uuid())
                .primary_key(
                    Index::create()
                        .col(CampaignCustomers::CampaignId)
                        .col(CampaignCustomers::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CampaignProducts::Table)
                .col(
                    ColumnDef::new(CampaignProducts::CampaignId)
                        .uuid()
                        .not_null(),
                )
                .col(ColumnDef::new(CampaignProducts::Id).uuid().not_null())
                .col(
                    ColumnDef::new(CampaignProducts::Position)
                        .integer()
                        .not_null(),
                )
                .col(ColumnDef::new(CampaignProducts::ProductId).uuid())
                .primary_key(
                    Index::create()
                        .col(CampaignProducts::CampaignId)
                        .col(CampaignProducts::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(M::Table)
                .col(ColumnDef::new(M::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(M::CustomerId).uuid())
                .col(ColumnDef::new(M::CampaignId).uuid())
                .col(ColumnDef::new(M::Name).string())
                .col(ColumnDef::new(M::CampaignType).string())
                .col(ColumnDef::new(M::Status).string())
                .col(ColumnDef::new(M::StartsAt).big_integer())
                .col(ColumnDef::new(M::EndsAt).big_integer())
                .col(ColumnDef::new(M::Channel).string())
                .col(ColumnDef::new(M::VisitType).string())
                .col(ColumnDef::new(M::Asks).string())
                .col(ColumnDef::new(M::Products).string())
                .col(ColumnDef::new(M::Contactable).boolean())
                .col(ColumnDef::new(M::Response).string())
                .col(ColumnDef::new(M::RespondedAt).big_integer())
                .col(ColumnDef::new(M::RespondedBy).uuid())
                .col(ColumnDef::new(M::Notes).text())
                .col(ColumnDef::new(M::Deleted).boolean())
                .col(ColumnDef::new(M::Conflicts).text())
                .col(ColumnDef::new(M::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        // The rules find a campaign's members; the report groups them by campaign.
        m.create_index(
            Index::create()
                .name("idx_campaign_members_campaign_id")
                .table(M::Table)
                .col(M::CampaignId)
                .col(M::CustomerId)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Orders::Table)
                .add_column(ColumnDef::new(Orders::CampaignId).uuid())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(ORDERS_INDEX)
                .table(Orders::Table)
                .col(Orders::CampaignId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(ORDERS_INDEX)
                .table(Orders::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Orders::Table)
                .drop_column(Orders::CampaignId)
                .to_owned(),
        )
        .await?;
        for table in [
            CampaignMembers::Table.into_iden(),
            CampaignProducts::Table.into_iden(),
            CampaignCustomers::Table.into_iden(),
            Campaigns::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
