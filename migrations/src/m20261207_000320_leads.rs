//! The projection of leads, scoped by territory and, when owned, kept to their owner.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000320_leads"
    }
}

#[derive(DeriveIden)]
enum Leads {
    Table,
    Id,
    Name,
    Territory,
    Status,
    Source,
    OwnerId,
    Company,
    Title,
    Phone,
    Email,
    Street,
    City,
    Postcode,
    Country,
    Lat,
    Lon,
    Industry,
    CapturedAt,
    ConsentEmail,
    ConsentPhone,
    ConsentVisit,
    DisqualifiedReason,
    ConvertedAt,
    CustomerId,
    ContactId,
    OpportunityId,
    Notes,
    Deleted,
    Conflicts,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Leads::Table)
                .col(ColumnDef::new(Leads::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(Leads::Name).string())
                .col(ColumnDef::new(Leads::Territory).string())
                .col(ColumnDef::new(Leads::Status).string())
                .col(ColumnDef::new(Leads::Source).string())
                .col(ColumnDef::new(Leads::OwnerId).uuid())
                .col(ColumnDef::new(Leads::Company).string())
                .col(ColumnDef::new(Leads::Title).string())
                .col(ColumnDef::new(Leads::Phone).string())
                .col(ColumnDef::new(Leads::Email).string())
                .col(ColumnDef::new(Leads::Street).string())
                .col(ColumnDef::new(Leads::City).string())
                .col(ColumnDef::new(Leads::Postcode).string())
                .col(ColumnDef::new(Leads::Country).string())
                .col(ColumnDef::new(Leads::Lat).double())
                .col(ColumnDef::new(Leads::Lon).double())
                .col(ColumnDef::new(Leads::Industry).string())
                .col(ColumnDef::new(Leads::CapturedAt).big_integer())
                .col(ColumnDef::new(Leads::ConsentEmail).boolean())
                .col(ColumnDef::new(Leads::ConsentPhone).boolean())
                .col(ColumnDef::new(Leads::ConsentVisit).boolean())
                .col(ColumnDef::new(Leads::DisqualifiedReason).string())
                .col(ColumnDef::new(Leads::ConvertedAt).big_integer())
                .col(ColumnDef::new(Leads::CustomerId).uuid())
                .col(ColumnDef::new(Leads::ContactId).uuid())
                .col(ColumnDef::new(Leads::OpportunityId).uuid())
                .col(ColumnDef::new(Leads::Notes).text())
                .col(ColumnDef::new(Leads::Deleted).boolean())
                .col(ColumnDef::new(Leads::Conflicts).text())
                .col(ColumnDef::new(Leads::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        // The conversion report groups by cohort (the capture), source and owner; the import
        // matches leads by e-mail.
        m.create_index(
            Index::create()
                .name("idx_leads_captured_at")
                .table(Leads::Table)
                .col(Leads::CapturedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_leads_email")
                .table(Leads::Table)
                .col(Leads::Email)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Leads::Table).to_owned())
            .await
    }
}
