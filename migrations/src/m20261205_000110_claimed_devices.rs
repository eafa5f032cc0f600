//! The device id a device's store named at login as its own and could not prove (a restore lost that
//! device's row, and the store had no device secret for it). The device gets a new id; what it hands
//! in under the id it named waits in the quarantine for a manager, since nothing shows it made it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000110_claimed_devices"
    }
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    ClaimedDeviceId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // NULL for every existing device: none claimed an id it could not prove.
        m.alter_table(
            Table::alter()
                .table(Devices::Table)
                .add_column(ColumnDef::new(Devices::ClaimedDeviceId).uuid())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Devices::Table)
                .drop_column(Devices::ClaimedDeviceId)
                .to_owned(),
        )
        .await
    }
}
