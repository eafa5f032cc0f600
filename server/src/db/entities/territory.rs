use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "territories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::user_territory::Entity")]
    UserTerritory,
}

impl Related<super::user_territory::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserTerritory.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
