//! A document's listing in three columns (its fields' JSON, its conflicts' JSON, whether it is
//! deleted) instead of one JSON object that held the first two as escaped strings. The feed sends a
//! listing as these three values, so it reads them as they are stored, without parsing a JSON object
//! per record (BENCHMARKS.md, "Bootstrap").

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000050_listing_columns"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Documents {
    Table,
    Listing,
    ListingFields,
    ListingConflicts,
    ListingDeleted,
}

/// One column per statement: SQLite alters a table one column at a time.
async fn alter(m: &SchemaManager<'_>, alter: &mut TableAlterStatement) -> Result<(), DbErr> {
    m.alter_table(alter.table(Documents::Table).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Nullable, as the listing was: a document without one is loaded by devices as before.
        alter(
            m,
            Table::alter().add_column(ColumnDef::new(Documents::ListingFields).text()),
        )
        .await?;
        alter(
            m,
            Table::alter().add_column(ColumnDef::new(Documents::ListingConflicts).text()),
        )
        .await?;
        alter(
            m,
            Table::alter().add_column(ColumnDef::new(Documents::ListingDeleted).boolean()),
        )
        .await?;
        let copy = match m.get_database_backend() {
            DbBackend::Postgres => {
                "UPDATE documents SET listing_fields = listing::jsonb ->> 'fields', \
                 listing_conflicts = listing::jsonb ->> 'conflicts', \
                 listing_deleted = (listing::jsonb ->> 'deleted')::boolean \
                 WHERE listing IS NOT NULL"
            }
            _ => {
                "UPDATE documents SET listing_fields = json_extract(listing, '$.fields'), \
                 listing_conflicts = json_extract(listing, '$.conflicts'), \
                 listing_deleted = json_extract(listing, '$.deleted') \
                 WHERE listing IS NOT NULL"
            }
        };
        m.get_connection().execute_unprepared(copy).await?;
        alter(m, Table::alter().drop_column(Documents::Listing)).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        alter(
            m,
            Table::alter().add_column(ColumnDef::new(Documents::Listing).text()),
        )
        .await?;
        let copy = match m.get_database_backend() {
            DbBackend::Postgres => {
                "UPDATE documents SET listing = json_build_object('fields', listing_fields, \
                 'conflicts', listing_conflicts, 'deleted', listing_deleted)::text \
                 WHERE listing_fields IS NOT NULL"
            }
            _ => {
                "UPDATE documents SET listing = json_object('fields', listing_fields, \
                 'conflicts', listing_conflicts, \
                 'deleted', json(CASE WHEN listing_deleted THEN 'true' ELSE 'false' END)) \
                 WHERE listing_fields IS NOT NULL"
            }
        };
        m.get_connection().execute_unprepared(copy).await?;
        for column in [
            Documents::ListingFields,
            Documents::ListingConflicts,
            Documents::ListingDeleted,
        ] {
            alter(m, Table::alter().drop_column(column)).await?;
        }
        Ok(())
    }
}
