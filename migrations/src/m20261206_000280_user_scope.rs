//! Records kept to one person of the team (a task assigned to an agent, an agent's visit plan or
//! target) name that user in `documents.user_id`, which the visibility condition reads beside the
//! territory and the owner; a move between users is a scope move like one between territories.
//! Records written before are given their user by an upgrade task at start (`user_scope`).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000280_user_scope"
    }
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    UserId,
}

#[derive(DeriveIden)]
enum ScopeMoves {
    Table,
    FromUser,
    ToUser,
}

#[derive(DeriveIden)]
enum UpgradeTasks {
    Table,
    Name,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .add_column(ColumnDef::new(Documents::UserId).uuid())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_documents_user")
                .table(Documents::Table)
                .col(Documents::UserId)
                .to_owned(),
        )
        .await?;
        for column in [ScopeMoves::FromUser, ScopeMoves::ToUser] {
            m.alter_table(
                Table::alter()
                    .table(ScopeMoves::Table)
                    .add_column(ColumnDef::new(column).uuid())
                    .to_owned(),
            )
            .await?;
        }
        let task = Query::insert()
            .into_table(UpgradeTasks::Table)
            .columns([UpgradeTasks::Name])
            .values_panic(["user_scope".into()])
            .to_owned();
        m.exec_stmt(task).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let task = Query::delete()
            .from_table(UpgradeTasks::Table)
            .and_where(Expr::col(UpgradeTasks::Name).eq("user_scope"))
            .to_owned();
        m.exec_stmt(task).await?;
        for column in [ScopeMoves::FromUser, ScopeMoves::ToUser] {
            m.alter_table(
                Table::alter()
                    .table(ScopeMoves::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.drop_index(
            Index::drop()
                .name("idx_documents_user")
                .table(Documents::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .drop_column(Documents::UserId)
                .to_owned(),
        )
        .await
    }
}
