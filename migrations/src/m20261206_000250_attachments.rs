//! Files referenced from records: the files the server holds (`attachments`), uploads in progress
//! and the pieces each has received (`uploads`, `upload_parts`), a visit's photos and a ticket's
//! evidence (items tables), and a payment's receipt.
//!
//! The columns are written out here rather than read from the record schemas: a migration is frozen
//! once released, while the schemas move on.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000250_attachments"
    }
}

#[derive(DeriveIden)]
enum Attachments {
    Table,
    /// The SHA-256 of the bytes, 64 lowercase hex digits.
    Hash,
    Size,
    /// Recognised from the bytes, not from a name.
    MediaType,
    /// The user and device that first uploaded the file (the device's quota counts it).
    UploadedBy,
    DeviceId,
    CreatedAt,
    /// Since when no record references the file (the collector's grace runs from then); NULL
    /// while one does, or before the collector first looked.
    UnreferencedSince,
}

#[derive(DeriveIden)]
enum Uploads {
    Table,
    Id,
    UserId,
    DeviceId,
    Hash,
    Length,
    /// The bytes received so far: the parts' lengths add up to it.
    Offset,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UploadParts {
    Table,
    UploadId,
    /// Where the part starts in the file.
    Offset,
    Length,
    /// The object holding the part's bytes in the file store.
    Key,
}

#[derive(DeriveIden)]
enum Payments {
    Table,
    Receipt,
}

async fn index(m: &SchemaManager<'_>, table: &str, cols: &[&str]) -> Result<(), DbErr> {
    let mut index = Index::create();
    index
        .name(format!("idx_{table}_{}", cols.join("_")))
        .table(Alias::new(table));
    for col in cols {
        index.col(Alias::new(*col));
    }
    m.create_index(index.to_owned()).await
}

/// Items that attach files to a record: keyed by the record and the item, like every items table.
async fn attached(m: &SchemaManager<'_>, table: &str, record: &str) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table(Alias::new(table))
            .col(ColumnDef::new(Alias::new(record)).uuid().not_null())
            .col(ColumnDef::new(Alias::new("id")).uuid().not_null())
            .col(ColumnDef::new(Alias::new("position")).integer().not_null())
            .col(ColumnDef::new(Alias::new("hash")).string())
            .col(ColumnDef::new(Alias::new("caption")).string())
            .col(ColumnDef::new(Alias::new("taken_at")).big_integer())
            .primary_key(
                Index::create()
                    .col(Alias::new(record))
                    .col(Alias::new("id")),
            )
            .to_owned(),
    )
    .await?;
    index(m, table, &["hash"]).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Attachments::Table)
                .col(
                    ColumnDef::new(Attachments::Hash)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Attachments::Size).big_integer().not_null())
                .col(ColumnDef::new(Attachments::MediaType).string().not_null())
                .col(ColumnDef::new(Attachments::UploadedBy).uuid().not_null())
                .col(ColumnDef::new(Attachments::DeviceId).uuid().not_null())
                .col(
                    ColumnDef::new(Attachments::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Attachments::UnreferencedSince).big_integer())
                .to_owned(),
        )
        .await?;
        index(m, "attachments", &["device_id"]).await?;
        m.create_table(
            Table::create()
                .table(Uploads::Table)
                .col(ColumnDef::new(Uploads::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(Uploads::UserId).uuid().not_null())
                .col(ColumnDef::new(Uploads::DeviceId).uuid().not_null())
                .col(ColumnDef::new(Uploads::Hash).string().not_null())
                .col(ColumnDef::new(Uploads::Length).big_integer().not_null())
                .col(ColumnDef::new(Uploads::Offset).big_integer().not_null())
                .col(ColumnDef::new(Uploads::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Uploads::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        index(m, "uploads", &["device_id"]).await?;
        index(m, "uploads", &["updated_at"]).await?;
        m.create_table(
            Table::create()
                .table(UploadParts::Table)
                .col(ColumnDef::new(UploadParts::UploadId).uuid().not_null())
                .col(ColumnDef::new(UploadParts::Offset).big_integer().not_null())
                .col(ColumnDef::new(UploadParts::Length).big_integer().not_null())
                .col(ColumnDef::new(UploadParts::Key).string().not_null())
                .primary_key(
                    Index::create()
                        .col(UploadParts::UploadId)
                        .col(UploadParts::Offset),
                )
                .to_owned(),
        )
        .await?;
        attached(m, "visit_photos", "visit_id").await?;
        attached(m, "ticket_evidence", "ticket_id").await?;
        m.alter_table(
            Table::alter()
                .table(Payments::Table)
                .add_column(ColumnDef::new(Payments::Receipt).string())
                .to_owned(),
        )
        .await?;
        index(m, "payments", &["receipt"]).await?;
        // Visits and tickets stored before lack the new items; the server gives them the empty
        // objects at its next start (the task `missing_objects`), since that needs the documents.
        m.exec_stmt(
            Query::insert()
                .into_table(Alias::new("upgrade_tasks"))
                .columns([Alias::new("name")])
                .values_panic(["missing_objects".into()])
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.exec_stmt(
            Query::delete()
                .from_table(Alias::new("upgrade_tasks"))
                .and_where(Expr::col(Alias::new("name")).eq("missing_objects"))
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name("idx_payments_receipt").to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Payments::Table)
                .drop_column(Payments::Receipt)
                .to_owned(),
        )
        .await?;
        for table in [
            "ticket_evidence",
            "visit_photos",
            "upload_parts",
            "uploads",
            "attachments",
        ] {
            m.drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
