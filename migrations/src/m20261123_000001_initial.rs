//! Users, territories, devices, the document store, the change feed and the first projection tables.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000001_initial"
    }
}

#[derive(DeriveIden)]
enum Territories {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UserTerritories {
    Table,
    UserId,
    TerritoryId,
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
    UserId,
    Name,
    TokenHash,
    CreatedAt,
    LastSeenAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum FeedCounter {
    Table,
    Id,
    Seq,
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    Id,
    Kind,
    TerritoryId,
    OwnerId,
    ParentId,
    Heads,
    Seq,
    ChunkCount,
    ChunkBytes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DocChunks {
    Table,
    DocId,
    Seq,
    Snapshot,
    Data,
}

#[derive(DeriveIden)]
enum ScopeMoves {
    Table,
    Seq,
    DocId,
    FromTerritory,
    ToTerritory,
}

#[derive(DeriveIden)]
enum OrphanChanges {
    Table,
    DocId,
    DeviceId,
    Hash,
    Data,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum Quarantine {
    Table,
    Id,
    DocId,
    Kind,
    DeviceId,
    UserId,
    ChangesHash,
    Changes,
    Reason,
    Status,
    CreatedAt,
    DecidedBy,
    DecidedAt,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    Name,
    Territory,
    Phone,
    Email,
    Street,
    City,
    Postcode,
    Country,
    Lat,
    Lon,
    Status,
    CreditLimit,
    ExternalRef,
    Notes,
    Deleted,
    Conflicts,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    CustomerId,
    Name,
    Title,
    Phone,
    Email,
    Notes,
    Deleted,
    Conflicts,
    UpdatedAt,
}

fn millis<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Territories::Table)
                .col(
                    ColumnDef::new(Territories::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(Territories::Name)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(millis(Territories::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                .col(
                    ColumnDef::new(Users::Email)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Users::PasswordHash).string().not_null())
                .col(ColumnDef::new(Users::Role).string().not_null())
                .col(millis(Users::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UserTerritories::Table)
                .col(ColumnDef::new(UserTerritories::UserId).uuid().not_null())
                .col(
                    ColumnDef::new(UserTerritories::TerritoryId)
                        .uuid()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(UserTerritories::UserId)
                        .col(UserTerritories::TerritoryId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(UserTerritories::Table, UserTerritories::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(UserTerritories::Table, UserTerritories::TerritoryId)
                        .to(Territories::Table, Territories::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Devices::Table)
                .col(ColumnDef::new(Devices::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(Devices::UserId).uuid().not_null())
                .col(ColumnDef::new(Devices::Name).string().not_null())
                .col(
                    ColumnDef::new(Devices::TokenHash)
                        .binary()
                        .not_null()
                        .unique_key(),
                )
                .col(millis(Devices::CreatedAt))
                .col(ColumnDef::new(Devices::LastSeenAt).big_integer())
                .col(ColumnDef::new(Devices::RevokedAt).big_integer())
                .foreign_key(
                    ForeignKey::create()
                        .from(Devices::Table, Devices::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(FeedCounter::Table)
                .col(
                    ColumnDef::new(FeedCounter::Id)
                        .integer()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(FeedCounter::Seq).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(FeedCounter::Table)
                .columns([FeedCounter::Id, FeedCounter::Seq])
                .values_panic([1.into(), 0i64.into()])
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Documents::Table)
                .col(
                    ColumnDef::new(Documents::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Documents::Kind).string().not_null())
                .col(ColumnDef::new(Documents::TerritoryId).uuid())
                .col(ColumnDef::new(Documents::OwnerId).uuid().not_null())
                .col(ColumnDef::new(Documents::ParentId).uuid())
                .col(ColumnDef::new(Documents::Heads).binary().not_null())
                .col(ColumnDef::new(Documents::Seq).big_integer().not_null())
                .col(ColumnDef::new(Documents::ChunkCount).integer().not_null())
                .col(
                    ColumnDef::new(Documents::ChunkBytes)
                        .big_integer()
                        .not_null(),
                )
                .col(millis(Documents::CreatedAt))
                .col(millis(Documents::UpdatedAt))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("idx_documents_territory", Documents::TerritoryId),
            ("idx_documents_owner", Documents::OwnerId),
            ("idx_documents_parent", Documents::ParentId),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Documents::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(DocChunks::Table)
                .col(ColumnDef::new(DocChunks::DocId).uuid().not_null())
                .col(ColumnDef::new(DocChunks::Seq).big_integer().not_null())
                .col(ColumnDef::new(DocChunks::Snapshot).boolean().not_null())
                .col(ColumnDef::new(DocChunks::Data).binary().not_null())
                .primary_key(Index::create().col(DocChunks::DocId).col(DocChunks::Seq))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_doc_chunks_seq")
                .table(DocChunks::Table)
                .col(DocChunks::Seq)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ScopeMoves::Table)
                .col(ColumnDef::new(ScopeMoves::Seq).big_integer().not_null())
                .col(ColumnDef::new(ScopeMoves::DocId).uuid().not_null())
                .col(ColumnDef::new(ScopeMoves::FromTerritory).uuid())
                .col(ColumnDef::new(ScopeMoves::ToTerritory).uuid())
                .primary_key(Index::create().col(ScopeMoves::Seq).col(ScopeMoves::DocId))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OrphanChanges::Table)
                .col(ColumnDef::new(OrphanChanges::DocId).uuid().not_null())
                .col(ColumnDef::new(OrphanChanges::DeviceId).uuid().not_null())
                .col(ColumnDef::new(OrphanChanges::Hash).binary().not_null())
                .col(ColumnDef::new(OrphanChanges::Data).binary().not_null())
                .col(millis(OrphanChanges::ReceivedAt))
                .primary_key(
                    Index::create()
                        .col(OrphanChanges::DocId)
                        .col(OrphanChanges::DeviceId)
                        .col(OrphanChanges::Hash),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Quarantine::Table)
                .col(
                    ColumnDef::new(Quarantine::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Quarantine::DocId).uuid().not_null())
                .col(ColumnDef::new(Quarantine::Kind).string().not_null())
                .col(ColumnDef::new(Quarantine::DeviceId).uuid().not_null())
                .col(ColumnDef::new(Quarantine::UserId).uuid().not_null())
                .col(ColumnDef::new(Quarantine::ChangesHash).binary().not_null())
                .col(ColumnDef::new(Quarantine::Changes).binary().not_null())
                .col(ColumnDef::new(Quarantine::Reason).string().not_null())
                .col(ColumnDef::new(Quarantine::Status).string().not_null())
                .col(millis(Quarantine::CreatedAt))
                .col(ColumnDef::new(Quarantine::DecidedBy).uuid())
                .col(ColumnDef::new(Quarantine::DecidedAt).big_integer())
                .index(
                    Index::create()
                        .name("uq_quarantine_push")
                        .col(Quarantine::DocId)
                        .col(Quarantine::DeviceId)
                        .col(Quarantine::ChangesHash)
                        .unique(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Customers::Table)
                .col(
                    ColumnDef::new(Customers::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Customers::Name).string().not_null())
                .col(ColumnDef::new(Customers::Territory).string().not_null())
                .col(ColumnDef::new(Customers::Phone).string())
                .col(ColumnDef::new(Customers::Email).string())
                .col(ColumnDef::new(Customers::Street).string())
                .col(ColumnDef::new(Customers::City).string())
                .col(ColumnDef::new(Customers::Postcode).string())
                .col(ColumnDef::new(Customers::Country).string())
                .col(ColumnDef::new(Customers::Lat).double())
                .col(ColumnDef::new(Customers::Lon).double())
                .col(ColumnDef::new(Customers::Status).string())
                .col(ColumnDef::new(Customers::CreditLimit).big_integer())
                .col(ColumnDef::new(Customers::ExternalRef).string())
                .col(ColumnDef::new(Customers::Notes).text())
                .col(ColumnDef::new(Customers::Deleted).boolean())
                .col(ColumnDef::new(Customers::Conflicts).text())
                .col(millis(Customers::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_customers_territory")
                .table(Customers::Table)
                .col(Customers::Territory)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Contacts::Table)
                .col(ColumnDef::new(Contacts::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(Contacts::CustomerId).uuid().not_null())
                .col(ColumnDef::new(Contacts::Name).string().not_null())
                .col(ColumnDef::new(Contacts::Title).string())
                .col(ColumnDef::new(Contacts::Phone).string())
                .col(ColumnDef::new(Contacts::Email).string())
                .col(ColumnDef::new(Contacts::Notes).text())
                .col(ColumnDef::new(Contacts::Deleted).boolean())
                .col(ColumnDef::new(Contacts::Conflicts).text())
                .col(millis(Contacts::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_contacts_customer")
                .table(Contacts::Table)
                .col(Contacts::CustomerId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Contacts::Table.into_iden(),
            Customers::Table.into_iden(),
            Quarantine::Table.into_iden(),
            OrphanChanges::Table.into_iden(),
            ScopeMoves::Table.into_iden(),
            DocChunks::Table.into_iden(),
            Documents::Table.into_iden(),
            FeedCounter::Table.into_iden(),
            Devices::Table.into_iden(),
            UserTerritories::Table.into_iden(),
            Users::Table.into_iden(),
            Territories::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
