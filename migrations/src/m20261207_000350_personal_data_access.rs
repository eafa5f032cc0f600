//! The audit trail of personal data: who read, exported or erased a person's personal fields,
//! when, through which device or session, without the values.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000350_personal_data_access"
    }
}

#[derive(DeriveIden)]
enum PersonalDataAccess {
    Table,
    Id,
    At,
    UserId,
    DeviceId,
    Action,
    RecordId,
    Kind,
    Fields,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use PersonalDataAccess as A;
        m.create_table(
            Table::create()
                .table(A::Table)
                .col(ColumnDef::new(A::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(A::At).big_integer().not_null())
                .col(ColumnDef::new(A::UserId).uuid().not_null())
                .col(ColumnDef::new(A::DeviceId).uuid())
                .col(ColumnDef::new(A::Action).string().not_null())
                // None for a bulk export, which names its kind and count in `detail`.
                .col(ColumnDef::new(A::RecordId).uuid())
                .col(ColumnDef::new(A::Kind).string().not_null())
                .col(ColumnDef::new(A::Fields).string().not_null())
                .col(ColumnDef::new(A::Detail).string())
                .to_owned(),
        )
        .await?;
        // Who read this person; what this user read.
        m.create_index(
            Index::create()
                .name("idx_personal_data_access_record")
                .table(A::Table)
                .col(A::RecordId)
                .col(A::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_personal_data_access_user")
                .table(A::Table)
                .col(A::UserId)
                .col(A::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PersonalDataAccess::Table).to_owned())
            .await
    }
}
