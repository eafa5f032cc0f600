use sea_orm::entity::prelude::*;

/// One record document: who may see it, where its data is in the feed, and its heads.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    /// The territory that scopes the record (None only for records no territory holds).
    pub territory_id: Option<Uuid>,
    /// The one user the record is kept to, for kinds kept to one person of the team (a task's
    /// assignee): the territory's agents other than that user do not see it.
    pub user_id: Option<Uuid>,
    /// The user who created the record; they keep seeing it wherever it moves.
    pub owner_id: Uuid,
    /// The parent record, for kinds scoped by a parent (a contact's customer).
    pub parent_id: Option<Uuid>,
    /// The document's heads, 32-byte hashes concatenated in sorted order.
    pub heads: Vec<u8>,
    /// The feed position of the last change to this document.
    pub seq: i64,
    /// How many chunks (a snapshot plus incremental change chunks) hold the document.
    pub chunk_count: i32,
    pub chunk_bytes: i64,
    /// The record's [`sync_core::record::Listing`], one column per field; None for documents
    /// written before listings existed.
    pub listing_fields: Option<String>,
    pub listing_conflicts: Option<String>,
    pub listing_deleted: Option<bool>,
    pub created_at: i64,
    pub updated_at: i64,
    /// When a person in the record was last erased (its history rewritten without their values),
    /// in milliseconds; None if never.
    pub erased_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
