//! Feed positions reserved by PostgreSQL write transactions still running (see the server's
//! `positions`): readers read only below the oldest. SQLite raises the feed counter inside its one
//! write transaction at a time and has no such table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000060_feed_reservations"
    }
}

#[derive(DeriveIden)]
enum FeedReservations {
    Table,
    FirstSeq,
    LastSeq,
    /// The reserving transaction's id (`txid_current()`, epoch included).
    Xid,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        m.create_table(
            Table::create()
                .table(FeedReservations::Table)
                // A restore of a backup taken before this migration keeps the table it had.
                .if_not_exists()
                .col(
                    ColumnDef::new(FeedReservations::FirstSeq)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(FeedReservations::LastSeq)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(FeedReservations::Xid)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(FeedReservations::Table)
                .if_exists()
                .to_owned(),
        )
        .await
    }
}
