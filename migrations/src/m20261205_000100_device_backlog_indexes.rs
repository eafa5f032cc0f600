//! Indexes by device on the changes and edits a device has waiting (`orphan_changes`, pending
//! `quarantine` entries): a push that adds to them first counts what the device already has there,
//! against the bounds of what one device may keep waiting.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000100_device_backlog_indexes"
    }
}

#[derive(DeriveIden)]
enum OrphanChanges {
    Table,
    DeviceId,
}

#[derive(DeriveIden)]
enum Quarantine {
    Table,
    DeviceId,
    Status,
}

const ORPHANS: &str = "idx_orphan_changes_device";
const QUARANTINE: &str = "idx_quarantine_device_status";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(ORPHANS)
                .table(OrphanChanges::Table)
                .col(OrphanChanges::DeviceId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(QUARANTINE)
                .table(Quarantine::Table)
                .col(Quarantine::DeviceId)
                .col(Quarantine::Status)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(QUARANTINE)
                .table(Quarantine::Table)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name(ORPHANS)
                .table(OrphanChanges::Table)
                .to_owned(),
        )
        .await
    }
}
