use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// SHA-256 of the bearer token. Tokens are 256 random bits, so a fast hash is enough and lets a
    /// token be found by an index lookup.
    pub token_hash: Vec<u8>,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The highest feed position the server has told this device about (see `checkpoint.rs`).
    pub checkpoint: i64,
    /// The device id this device's store named as its own at login and could not prove (see
    /// `checkpoint::login_device`): changes it hands in under that id wait for a manager.
    pub claimed_device_id: Option<Uuid>,
    /// The changes waiting in the device's outbox, as it last reported them.
    pub outbox: Option<i64>,
    /// The device's app and version, as it last reported them.
    pub app_version: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
