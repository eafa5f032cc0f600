//! Uploads in progress, as tus 1.0.0 has them: created with the file's length and hash, fed with
//! `PATCH` from the offset the server holds, each piece stored as it arrives so that a broken
//! connection loses only what had not arrived, and checked whole (hash, media type) before the file
//! is kept. A file that exists already is answered the same way, and only once the client has sent
//! every byte: nobody learns from the server whether some file exists without having it.

use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use sea_orm::sea_query::{Alias, Expr, LockType, OnConflict, Order, Query, SimpleExpr};
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::{now_ms, BuildWith, Db};
use crate::error::Error;
use crate::files::store::FileStore;
use crate::files::{media, FileLimits};

/// The bytes of an upload held in memory before they are stored as a part: what a connection that
/// breaks loses at most, and what each upload in progress holds.
pub const PIECE_BYTES: usize = 1 << 20;
/// Uploads one device may have in progress at once.
pub const MAX_OPEN_UPLOADS: i64 = 32;

/// An upload in progress.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: Uuid,
    pub hash: String,
    pub length: u64,
    pub offset: u64,
}

/// A file stored whole and checked.
#[derive(Debug, Clone)]
pub struct Stored {
    pub hash: String,
    pub size: u64,
    pub media_type: &'static str,
}

/// What a `PATCH` left: more to send, or the file stored.
#[derive(Debug)]
pub enum Appended {
    Partial(u64),
    Complete(Stored),
}

fn refused(code: &'static str, message: impl Into<String>) -> Error {
    Error::FileRefused {
        code,
        message: message.into(),
    }
}

/// A sum of a big-integer column that both databases give back as one (PostgreSQL's SUM of
/// BIGINT is NUMERIC).
fn sum(column: &str) -> SimpleExpr {
    Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"))
}

/// Starts an upload of a file of `length` bytes whose SHA-256 is `hash`, within the device's quota.
pub async fn create(
    db: &Db,
    limits: &FileLimits,
    who: &Principal,
    hash: &str,
    length: u64,
) -> Result<Upload, Error> {
    if !sync_core::attachments::is_hash(hash) {
        return Err(Error::bad_request(
            "invalid_hash",
            "`sha256` in Upload-Metadata must be the file's SHA-256 as 64 lowercase hex digits",
        ));
    }
    if length == 0 {
        return Err(Error::bad_request(
            "empty_file",
            "a file has at least one byte",
        ));
    }
    if length > limits.max_file_bytes {
        return Err(refused(
            "file_too_large",
            format!("a file may have at most {} bytes", limits.max_file_bytes),
        ));
    }
    // The quota is checked and the upload recorded in one write transaction, and on PostgreSQL
    // with the device's row locked: two uploads a device starts at once cannot both pass it.
    let txn = db.begin_write().await?;
    let conn = &*txn;
    if db.is_postgres() {
        let lock = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("devices"))
            .and_where(Expr::col(Alias::new("id")).eq(who.device_id))
            .lock(LockType::Update)
            .to_owned();
        conn.query_one(lock.build_with(conn)).await?;
    }
    let device = Expr::col(Alias::new("device_id")).eq(who.device_id);
    let stored = Query::select()
        .expr_as(sum("size"), Alias::new("n"))
        .from(Alias::new("attachments"))
        .and_where(device.clone())
        .to_owned();
    let open = Query::select()
        .expr_as(sum("length"), Alias::new("n"))
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("count"))
        .from(Alias::new("uploads"))
        .and_where(device)
        .to_owned();
    let stored: i64 = match conn.query_one(stored.build_with(conn)).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    let (pending, count): (i64, i64) = match conn.query_one(open.build_with(conn)).await? {
        Some(row) => (row.try_get("", "n")?, row.try_get("", "count")?),
        None => (0, 0),
    };
    if count >= MAX_OPEN_UPLOADS {
        return Err(refused(
            "too_many_uploads",
            format!(
                "a device may have {MAX_OPEN_UPLOADS} uploads in progress; finish or delete one"
            ),
        ));
    }
    let used = u64::try_from(stored.saturating_add(pending)).unwrap_or(0);
    if used.saturating_add(length) > limits.device_quota_bytes {
        return Err(refused(
            "quota_exceeded",
            format!(
                "this device has used {used} of its {} bytes of files",
                limits.device_quota_bytes
            ),
        ));
    }
    let upload = Upload {
        id: Uuid::now_v7(),
        hash: hash.to_string(),
        length,
        offset: 0,
    };
    let now = now_ms();
    let insert = Query::insert()
        .into_table(Alias::new("uploads"))
        .columns(
            [
                "id",
                "user_id",
                "device_id",
                "hash",
                "length",
                "offset",
                "created_at",
                "updated_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            upload.id.into(),
            who.user_id.into(),
            who.device_id.into(),
            upload.hash.clone().into(),
            (length as i64).into(),
            0i64.into(),
            now.into(),
            now.into(),
        ])
        .to_owned();
    conn.execute(insert.build_with(conn)).await?;
    txn.commit().await?;
    Ok(upload)
}

/// The device's upload `id`; another device's is not found.
pub async fn find(conn: &impl ConnectionTrait, who: &Principal, id: Uuid) -> Result<Upload, Error> {
    let stmt = Query::select()
        .columns(["id", "hash", "length", "offset"].map(Alias::new))
        .from(Alias::new("uploads"))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .and_where(Expr::col(Alias::new("device_id")).eq(who.device_id))
        .to_owned();
    let row = conn
        .query_one(stmt.build_with(conn))
        .await?
        .ok_or_else(|| Error::NotFound("no such upload".into()))?;
    Ok(Upload {
        id: row.try_get("", "id")?,
        hash: row.try_get("", "hash")?,
        length: row.try_get::<i64>("", "length")? as u64,
        offset: row.try_get::<i64>("", "offset")? as u64,
    })
}

/// Appends the bytes of `body`, sent from `offset`, to upload `id`, storing them piece by piece as
/// they arrive; once the upload holds every byte, checks and stores the file. A body that breaks
/// off (or stalls for `idle`) keeps what arrived, for the client to resume from.
pub async fn append<E: std::fmt::Display>(
    db: &Db,
    store: &FileStore,
    who: &Principal,
    id: Uuid,
    offset: u64,
    mut body: BoxStream<'_, Result<Bytes, E>>,
    idle: std::time::Duration,
) -> Result<Appended, Error> {
    let upload = find(&db.conn, who, id).await?;
    if offset != upload.offset {
        return Err(refused(
            "offset_mismatch",
            format!(
                "the upload holds {} bytes; send from there (HEAD gives the offset)",
                upload.offset
            ),
        ));
    }
    let mut at = upload.offset;
    let mut buf = BytesMut::new();
    let mut failure = None;
    loop {
        match tokio::time::timeout(idle, body.next()).await {
            Err(_) => {
                failure = Some(Error::SlowBody);
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                failure = Some(Error::bad_request(
                    "body_interrupted",
                    format!("the body broke off ({e}); resume from the offset HEAD gives"),
                ));
                break;
            }
            Ok(Some(Ok(chunk))) => {
                let room = (upload.length - at) as usize - buf.len();
                if chunk.len() > room {
                    buf.extend_from_slice(&chunk[..room]);
                    failure = Some(refused(
                        "beyond_length",
                        format!("the file has {} bytes (Upload-Length)", upload.length),
                    ));
                    break;
                }
                buf.extend_from_slice(&chunk);
                while buf.len() >= PIECE_BYTES {
                    let piece = buf.split_to(PIECE_BYTES).freeze();
                    at = save_piece(db, store, &upload, at, piece).await?;
                }
            }
        }
    }
    if !buf.is_empty() {
        at = save_piece(db, store, &upload, at, buf.freeze()).await?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if at < upload.length {
        return Ok(Appended::Partial(at));
    }
    finish(db, store, who, &upload)
        .await
        .map(Appended::Complete)
}

/// Stores one piece of an upload as an object of its own, then moves the upload's offset past it;
/// a request that wrote the same piece at the same time (a client's retry racing the first try)
/// finds the offset moved and takes its object back.
async fn save_piece(
    db: &Db,
    store: &FileStore,
    upload: &Upload,
    at: u64,
    piece: Bytes,
) -> Result<u64, Error> {
    let key = FileStore::part_key(upload.id, at);
    let end = at + piece.len() as u64;
    store.put(&key, piece).await?;
    let txn = db.begin_write().await?;
    let moved = Query::update()
        .table(Alias::new("uploads"))
        .value(Alias::new("offset"), end as i64)
        .value(Alias::new("updated_at"), now_ms())
        .and_where(Expr::col(Alias::new("id")).eq(upload.id))
        .and_where(Expr::col(Alias::new("offset")).eq(at as i64))
        .to_owned();
    if txn.execute(moved.build_with(&*txn)).await?.rows_affected() == 0 {
        drop(txn);
        store.delete(&key).await?;
        return Err(refused(
            "offset_mismatch",
            "another request sent these bytes at the same time; HEAD gives the offset",
        ));
    }
    let part = Query::insert()
        .into_table(Alias::new("upload_parts"))
        .columns(["upload_id", "offset", "length", "key"].map(Alias::new))
        .values_panic([
            upload.id.into(),
            (at as i64).into(),
            ((end - at) as i64).into(),
            key.to_string().into(),
        ])
        .to_owned();
    txn.execute(part.build_with(&*txn)).await?;
    txn.commit().await?;
    Ok(end)
}

/// The objects holding an upload's parts, in order.
async fn parts(conn: &impl ConnectionTrait, id: Uuid) -> Result<Vec<(u64, u64, String)>, Error> {
    let stmt = Query::select()
        .columns(["offset", "length", "key"].map(Alias::new))
        .from(Alias::new("upload_parts"))
        .and_where(Expr::col(Alias::new("upload_id")).eq(id))
        .order_by(Alias::new("offset"), Order::Asc)
        .to_owned();
    conn.query_all(stmt.build_with(conn))
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get::<i64>("", "offset")? as u64,
                row.try_get::<i64>("", "length")? as u64,
                row.try_get::<String>("", "key")?,
            ))
        })
        .collect()
}

/// The bytes of an upload's parts, in order.
fn read_parts<'a>(
    store: &'a FileStore,
    parts: &'a [(u64, u64, String)],
) -> BoxStream<'a, Result<Bytes, Error>> {
    futures_util::stream::iter(parts)
        .then(move |(_, length, key)| async move {
            store
                .read(&object_store::path::Path::from(key.as_str()), 0..*length)
                .await
        })
        .map(|r| match r {
            Ok(s) => s,
            Err(e) => futures_util::stream::once(async { Err(e) }).boxed(),
        })
        .flatten()
        .boxed()
}

/// Checks an upload that holds every byte and keeps its file: the bytes must have the hash the
/// upload was created with, and be of an allowed media type. A file the server holds already is
/// not written again.
async fn finish(
    db: &Db,
    store: &FileStore,
    who: &Principal,
    upload: &Upload,
) -> Result<Stored, Error> {
    let parts = parts(&db.conn, upload.id).await?;
    let contiguous = parts.iter().try_fold(0, |at, (offset, length, _)| {
        (*offset == at).then_some(at + length)
    });
    if contiguous != Some(upload.length) {
        return Err(Error::Internal(format!(
            "upload {} has parts that do not add up to its length",
            upload.id
        )));
    }
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(media::SNIFF_BYTES);
    let mut bytes = read_parts(store, &parts);
    while let Some(chunk) = bytes.next().await {
        let chunk = chunk?;
        if head.len() < media::SNIFF_BYTES {
            let take = (media::SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
    }
    drop(bytes);
    let hash = sync_core::attachments::hex(&hasher.finalize());
    if hash != upload.hash {
        discard(db, store, upload.id).await?;
        return Err(refused(
            "hash_mismatch",
            "the bytes received do not have the SHA-256 the upload was created with; nothing was kept",
        ));
    }
    let Some(media_type) = media::recognise(&head) else {
        discard(db, store, upload.id).await?;
        return Err(refused(
            "media_type_not_allowed",
            format!(
                "the file is not one of {} (recognised from its bytes); nothing was kept",
                media::ALLOWED.join(", ")
            ),
        ));
    };
    let txn = db.begin_write().await?;
    let exists = Query::select()
        .expr(Expr::val(1))
        .from(Alias::new("attachments"))
        .and_where(Expr::col(Alias::new("hash")).eq(hash.clone()))
        .to_owned();
    let existed = txn.query_one(exists.build_with(&*txn)).await?.is_some();
    // A file the collector was about to take is referenced again by this upload: its grace starts
    // over. The collector deletes a file only in a transaction that finds it still unreferenced,
    // so this write and the collection of the file are ordered one way or the other.
    let keep = Query::insert()
        .into_table(Alias::new("attachments"))
        .columns(
            [
                "hash",
                "size",
                "media_type",
                "uploaded_by",
                "device_id",
                "created_at",
                "unreferenced_since",
            ]
            .map(Alias::new),
        )
        .values_panic([
            hash.clone().into(),
            (upload.length as i64).into(),
            media_type.into(),
            who.user_id.into(),
            who.device_id.into(),
            now_ms().into(),
            Option::<i64>::None.into(),
        ])
        .on_conflict(
            OnConflict::column(Alias::new("hash"))
                .update_column(Alias::new("unreferenced_since"))
                .to_owned(),
        )
        .to_owned();
    txn.execute(keep.build_with(&*txn)).await?;
    forget(&*txn, upload.id).await?;
    txn.commit().await?;
    let file = FileStore::file_key(&hash);
    if !existed || !store.exists(&file).await? {
        store.write_from(&file, read_parts(store, &parts)).await?;
    }
    delete_objects(store, &parts).await;
    Ok(Stored {
        hash,
        size: upload.length,
        media_type,
    })
}

/// Deletes the rows of an upload and its parts.
async fn forget(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), Error> {
    let parts = Query::delete()
        .from_table(Alias::new("upload_parts"))
        .and_where(Expr::col(Alias::new("upload_id")).eq(id))
        .to_owned();
    conn.execute(parts.build_with(conn)).await?;
    let upload = Query::delete()
        .from_table(Alias::new("uploads"))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    conn.execute(upload.build_with(conn)).await?;
    Ok(())
}

/// Objects of parts no row names any more; one left behind is swept by the collector.
async fn delete_objects(store: &FileStore, parts: &[(u64, u64, String)]) {
    for (_, _, key) in parts {
        if let Err(e) = store
            .delete(&object_store::path::Path::from(key.as_str()))
            .await
        {
            tracing::warn!(error = %e, key, "deleting an upload's part failed; the collector will");
        }
    }
}

/// Drops upload `id` and what it received.
pub async fn discard(db: &Db, store: &FileStore, id: Uuid) -> Result<(), Error> {
    let parts = parts(&db.conn, id).await?;
    let txn = db.begin_write().await?;
    forget(&*txn, id).await?;
    txn.commit().await?;
    delete_objects(store, &parts).await;
    Ok(())
}

/// The uploads nothing was sent to since `before` (milliseconds since the epoch).
pub async fn idle_since(conn: &impl ConnectionTrait, before: i64) -> Result<Vec<Uuid>, Error> {
    let stmt = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("uploads"))
        .and_where(Expr::col(Alias::new("updated_at")).lt(before))
        .to_owned();
    conn.query_all(stmt.build_with(conn))
        .await?
        .iter()
        .map(|row| Ok(row.try_get("", "id")?))
        .collect()
}
