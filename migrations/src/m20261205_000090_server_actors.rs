//! The automerge actors of the server's own writes (the demo seed, and to come: imports and
//! managers' actions), each with the person it acted for, so that a record's history shows a person.
//! A device's actors start with the device's id and need no such table.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000090_server_actors"
    }
}

#[derive(DeriveIden)]
enum ServerActors {
    Table,
    Actor,
    UserId,
    /// Why the server wrote (`demo`, `import`, ...).
    Purpose,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ServerActors::Table)
                .col(
                    ColumnDef::new(ServerActors::Actor)
                        .binary()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(ServerActors::UserId).uuid().not_null())
                .col(ColumnDef::new(ServerActors::Purpose).string().not_null())
                .col(
                    ColumnDef::new(ServerActors::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ServerActors::Table).to_owned())
            .await
    }
}
