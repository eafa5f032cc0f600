//! Failed-login buckets kept in the database rather than in each server process, so that several
//! processes on one database share them: behind a load balancer an attacker gets the configured number
//! of guesses, not that number times the processes.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000040_login_throttle"
    }
}

#[derive(DeriveIden)]
enum LoginThrottle {
    Table,
    /// Which limit: `account` or `addr`.
    Scope,
    /// SHA-256 of the e-mail address or client address, so that what attackers type is not stored.
    Key,
    /// Tokens left at `at_ms`.
    Tokens,
    AtMs,
    /// Whether the last attempt got a token (1) or was refused (0).
    Taken,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(LoginThrottle::Table)
                .col(ColumnDef::new(LoginThrottle::Scope).string().not_null())
                .col(ColumnDef::new(LoginThrottle::Key).string().not_null())
                .col(ColumnDef::new(LoginThrottle::Tokens).double().not_null())
                .col(ColumnDef::new(LoginThrottle::AtMs).big_integer().not_null())
                .col(ColumnDef::new(LoginThrottle::Taken).integer().not_null())
                .primary_key(
                    Index::create()
                        .col(LoginThrottle::Scope)
                        .col(LoginThrottle::Key),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LoginThrottle::Table).to_owned())
            .await
    }
}
