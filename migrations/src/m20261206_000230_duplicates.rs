//! Likely duplicate customers: what the check compares of each customer (`customer_keys`, kept as
//! customers arrive) and the pairs it found (`duplicate_candidates`), for managers to dismiss or
//! merge.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000230_duplicates"
    }
}

#[derive(DeriveIden)]
enum CustomerKeys {
    Table,
    Id,
    Name,
    Phone,
    TaxId,
    City,
    Lat,
    Lon,
}

#[derive(DeriveIden)]
enum DuplicateCandidates {
    Table,
    Id,
    /// The pair, the lower id first: a pair is found once whichever customer arrives second.
    CustomerA,
    CustomerB,
    Score,
    /// JSON: the reasons, each with its code and score.
    Reasons,
    /// `open`, `dismissed` or `merged`.
    Status,
    DetectedAt,
    DecidedBy,
    DecidedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CustomerKeys::Table)
                .col(
                    ColumnDef::new(CustomerKeys::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(CustomerKeys::Name).string().not_null())
                .col(ColumnDef::new(CustomerKeys::Phone).string())
                .col(ColumnDef::new(CustomerKeys::TaxId).string())
                .col(ColumnDef::new(CustomerKeys::City).string())
                .col(ColumnDef::new(CustomerKeys::Lat).double())
                .col(ColumnDef::new(CustomerKeys::Lon).double())
                .to_owned(),
        )
        .await?;
        for (name, column) in [
            ("idx_customer_keys_phone", CustomerKeys::Phone),
            ("idx_customer_keys_tax_id", CustomerKeys::TaxId),
            ("idx_customer_keys_city", CustomerKeys::City),
            ("idx_customer_keys_lat", CustomerKeys::Lat),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(CustomerKeys::Table)
                    .col(column)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(DuplicateCandidates::Table)
                .col(
                    ColumnDef::new(DuplicateCandidates::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(DuplicateCandidates::CustomerA)
                        .uuid()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DuplicateCandidates::CustomerB)
                        .uuid()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DuplicateCandidates::Score)
                        .double()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DuplicateCandidates::Reasons)
                        .text()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DuplicateCandidates::Status)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DuplicateCandidates::DetectedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(DuplicateCandidates::DecidedBy).uuid())
                .col(ColumnDef::new(DuplicateCandidates::DecidedAt).big_integer())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_duplicate_candidates_pair")
                .table(DuplicateCandidates::Table)
                .col(DuplicateCandidates::CustomerA)
                .col(DuplicateCandidates::CustomerB)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_duplicate_candidates_b")
                .table(DuplicateCandidates::Table)
                .col(DuplicateCandidates::CustomerB)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(DuplicateCandidates::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(CustomerKeys::Table).to_owned())
            .await
    }
}
