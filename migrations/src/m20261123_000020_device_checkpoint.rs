//! Each device row keeps the highest feed position the server has told that device about. A device
//! keeps the same number; when its own is higher, the database went back in time (a restore of an older
//! backup) and the device re-pushes what was lost. Both sides must hold it: a marker kept only in the
//! database is restored with the database and cannot tell.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000020_device_checkpoint"
    }
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Checkpoint,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // 0 for existing devices: nothing they hold can be ahead of it, so none is mistaken for a restore.
        m.alter_table(
            Table::alter()
                .table(Devices::Table)
                .add_column(
                    ColumnDef::new(Devices::Checkpoint)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Devices::Table)
                .drop_column(Devices::Checkpoint)
                .to_owned(),
        )
        .await
    }
}
