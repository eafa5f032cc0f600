//! The dashboard's sign-ins: a browser holds a random session token in a cookie; the server keeps
//! only its hash, with when the session began and when it was last used, so idle sessions expire and
//! a sign-out (or an admin) ends one at once.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000300_web_sessions"
    }
}

#[derive(DeriveIden)]
enum WebSessions {
    Table,
    /// SHA-256 of the cookie's token.
    TokenHash,
    /// A stable id for the session, so logs and the CSRF token can name it without its token.
    Id,
    UserId,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(WebSessions::Table)
                .col(
                    ColumnDef::new(WebSessions::TokenHash)
                        .binary()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(WebSessions::Id)
                        .uuid()
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(WebSessions::UserId).uuid().not_null())
                .col(
                    ColumnDef::new(WebSessions::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebSessions::LastSeenAt)
                        .big_integer()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(WebSessions::Table, WebSessions::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_web_sessions_user")
                .table(WebSessions::Table)
                .col(WebSessions::UserId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(WebSessions::Table).to_owned())
            .await
    }
}
