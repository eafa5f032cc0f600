//! Users and territories: creating them from the command line and the demo seed, and changing
//! their roles and territories.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set,
};
use sync_core::Role;
use uuid::Uuid;

use crate::db::entities::{territory, user, user_territory};
use crate::db::{now_ms, Db};
use crate::error::Error;

/// The most territories one user holds. Every feed statement names the user's territories, and a
/// pull cursor names those a device holds (`feed::cursor`), so the bound keeps both within what
/// SQLite and PostgreSQL take; no sales organisation gives one person more.
pub const MAX_TERRITORIES_PER_USER: usize = 2_500;

fn too_many_territories() -> Error {
    Error::bad_request(
        "too_many_territories",
        format!("a user holds at most {MAX_TERRITORIES_PER_USER} territories"),
    )
}

/// The id of the territory with this name, created if it does not exist.
pub async fn ensure_territory(conn: &impl ConnectionTrait, name: &str) -> Result<Uuid, Error> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::bad_request(
            "invalid_territory",
            "a territory needs a name",
        ));
    }
    if let Some(t) = territory::Entity::find()
        .filter(territory::Column::Name.eq(name))
        .one(conn)
        .await?
    {
        return Ok(t.id);
    }
    let id = Uuid::now_v7();
    territory::ActiveModel {
        id: Set(id),
        name: Set(name.to_string()),
        created_at: Set(now_ms()),
    }
    .insert(conn)
    .await?;
    Ok(id)
}

/// Creates a user with an argon2 password hash and the given territories (created as needed).
pub async fn add_user(
    db: &Db,
    email: &str,
    role: Role,
    password: &str,
    territories: &[String],
) -> Result<Uuid, Error> {
    let email = email.trim().to_lowercase();
    if !email.contains('@') {
        return Err(Error::bad_request(
            "invalid_email",
            format!("`{email}` is not an e-mail address"),
        ));
    }
    let distinct: std::collections::HashSet<&str> = territories.iter().map(|t| t.trim()).collect();
    if distinct.len() > MAX_TERRITORIES_PER_USER {
        return Err(too_many_territories());
    }
    if password.len() < 8 {
        return Err(Error::bad_request(
            "weak_password",
            "a password needs at least 8 characters",
        ));
    }
    if user::Entity::find()
        .filter(user::Column::Email.eq(&email))
        .one(&db.conn)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!(
            "a user with e-mail {email} already exists"
        )));
    }
    let password = password.to_string();
    let hash = crate::auth::credentials::hashing(move || {
        crate::auth::credentials::hash_password(&password)
    })
    .await??;
    let id = Uuid::now_v7();
    user::ActiveModel {
        id: Set(id),
        email: Set(email),
        password_hash: Set(hash),
        role: Set(role.as_str().to_string()),
        created_at: Set(now_ms()),
    }
    .insert(&db.conn)
    .await?;
    for name in territories {
        let territory_id = ensure_territory(&db.conn, name).await?;
        user_territory::ActiveModel {
            user_id: Set(id),
            territory_id: Set(territory_id),
        }
        .insert(&db.conn)
        .await?;
    }
    Ok(id)
}

/// Gives a user a territory (created as needed). Their devices receive its records on their next pull.
pub async fn grant_territory(db: &Db, user_id: Uuid, name: &str) -> Result<(), Error> {
    let territory_id = ensure_territory(&db.conn, name).await?;
    let held: Vec<Uuid> = user_territory::Entity::find()
        .select_only()
        .column(user_territory::Column::TerritoryId)
        .filter(user_territory::Column::UserId.eq(user_id))
        .into_tuple()
        .all(&db.conn)
        .await?;
    if held.contains(&territory_id) {
        return Ok(());
    }
    if held.len() >= MAX_TERRITORIES_PER_USER {
        return Err(too_many_territories());
    }
    user_territory::Entity::insert(user_territory::ActiveModel {
        user_id: Set(user_id),
        territory_id: Set(territory_id),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::columns([
            user_territory::Column::UserId,
            user_territory::Column::TerritoryId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .do_nothing()
    .exec(&db.conn)
    .await?;
    Ok(())
}

/// Takes a territory from a user. Their devices are told to evict its records on their next pull.
pub async fn revoke_territory(db: &Db, user_id: Uuid, name: &str) -> Result<(), Error> {
    let Some(t) = territory::Entity::find()
        .filter(territory::Column::Name.eq(name))
        .one(&db.conn)
        .await?
    else {
        return Err(Error::NotFound(format!("no territory named {name}")));
    };
    user_territory::Entity::delete_many()
        .filter(user_territory::Column::UserId.eq(user_id))
        .filter(user_territory::Column::TerritoryId.eq(t.id))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Gives user `user_id` the role `role`; false if there is no such user. The company's last admin
/// keeps the role (`409`), so that someone can always administer it. The new role holds from the
/// user's next request: devices follow on their next sync (one that stops being an admin's evicts
/// what its user may no longer see).
pub async fn set_role(db: &Db, user_id: Uuid, role: Role) -> Result<bool, Error> {
    let txn = db.begin_write().await?;
    let Some(target) = user::Entity::find_by_id(user_id).one(&*txn).await? else {
        return Ok(false);
    };
    if target.role == Role::Admin.as_str() && role != Role::Admin {
        let admins = user::Entity::find()
            .filter(user::Column::Role.eq(Role::Admin.as_str()))
            .count(&*txn)
            .await?;
        if admins <= 1 {
            return Err(Error::Conflict(format!(
                "{} is the last admin: make another user an admin first",
                target.email
            )));
        }
    }
    user::Entity::update_many()
        .col_expr(user::Column::Role, role.as_str().into())
        .filter(user::Column::Id.eq(user_id))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(true)
}

pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<user::Model>, Error> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .one(&db.conn)
        .await?)
}
