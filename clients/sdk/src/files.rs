//! Files on the device (photos of a visit, a payment's receipt): captured offline into the store in
//! the same transaction as the record that references them, uploaded by `sync` after the documents
//! (resumably, over tus 1.0.0, from wherever the server's copy stopped), and downloaded with
//! ranges. A file the server refuses (too large, not an allowed type) stays on the device with the
//! reason.

use std::ops::Range;

use reqwest::header::{CONTENT_TYPE, RANGE};
use reqwest::StatusCode;
use serde::Serialize;
use sync_core::attachments::{self, SHA256_METADATA, TUS_VERSION};
use sync_core::{kinds, FieldType, Item, Value};
use uuid::Uuid;

use crate::client::check;
use crate::store::{self, now_ms};
use crate::{Client, Error, Replica};

/// The bytes of one `PATCH`: progress is reported per piece the server acknowledged, and a broken
/// connection costs at most what had not arrived of one piece.
const PIECE_BYTES: usize = 4 << 20;
/// Requests in a row that may fail without any byte arriving before an upload gives up until the
/// next sync.
const ATTEMPTS_WITHOUT_PROGRESS: u32 = 8;

/// An upload to go on with: its location as the server gave it, and the offset the server holds
/// if the caller knows it (0 for an upload just created); None has the server asked first.
#[derive(Debug, Clone)]
pub struct UploadAt {
    pub location: String,
    pub offset: Option<u64>,
}

/// How far the upload of one file has come.
#[derive(Debug, Clone, Serialize)]
pub struct FileProgress {
    pub hash: String,
    pub sent: u64,
    pub size: u64,
}

/// A file captured on the device and not yet held by the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingFile {
    pub hash: String,
    pub size: u64,
    pub record_id: Uuid,
    /// Why the server refused the file; None while it waits for its upload.
    pub refused: Option<String>,
}

impl Client {
    /// Uploads `bytes` (whose SHA-256 is `hash`), going on with the upload `at` if given and still
    /// open. `started` learns each new upload's location, for a later call to resume from;
    /// `progress` each piece the server acknowledged. Returns once the server holds the file and
    /// checked its hash.
    pub async fn upload(
        &self,
        hash: &str,
        bytes: &[u8],
        at: Option<UploadAt>,
        started: &mut (dyn FnMut(&str) + Send),
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<(), Error> {
        let size = bytes.len() as u64;
        let (mut location, mut offset) = match at {
            Some(at) => (Some(at.location), at.offset),
            None => (None, None),
        };
        let mut failures = 0;
        loop {
            let step = async {
                let url = match &location {
                    Some(at) => self.resolve(at),
                    None => {
                        let at = self.create_upload(hash, size).await?;
                        started(&at);
                        location = Some(at.clone());
                        offset = Some(0);
                        self.resolve(&at)
                    }
                };
                let at = match offset {
                    Some(at) => at,
                    None => match self.upload_offset(&url).await? {
                        Some(at) => at,
                        // Gone: finished (its answer lost), refused, or abandoned. A file this
                        // user uploaded is theirs to read: if the server has it, it is done.
                        None if self.holds(hash).await? => return Ok(Some(size)),
                        None => {
                            location = None;
                            return Ok(None);
                        }
                    },
                };
                progress(at, size);
                let end = (at as usize + PIECE_BYTES).min(bytes.len());
                let request = self
                    .http
                    .patch(&url)
                    .header("tus-resumable", TUS_VERSION)
                    .header("upload-offset", at.to_string())
                    .header(CONTENT_TYPE, "application/offset+octet-stream")
                    .body(bytes[at as usize..end].to_vec());
                let response = check(self.authed(request)?.send().await?).await?;
                let now = offset_header(&response)?;
                offset = Some(now);
                Ok::<_, Error>(Some(now))
            }
            .await;
            match step {
                Ok(Some(at)) if at >= size => {
                    progress(size, size);
                    return Ok(());
                }
                Ok(Some(_)) => failures = 0,
                Ok(None) => {}
                Err(e) if e.code() == Some("offset_mismatch") => offset = None,
                Err(e) if e.is_transient() => {
                    failures += 1;
                    if failures >= ATTEMPTS_WITHOUT_PROGRESS {
                        return Err(e);
                    }
                    // What arrived is kept; ask where it stops before sending more.
                    offset = None;
                    tokio::time::sleep(self.retry.delay(failures, None)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts an upload of a file of `size` bytes whose SHA-256 is `hash`; returns its location
    /// as the server gave it (a path), which stays right if the server's address changes.
    pub async fn create_upload(&self, hash: &str, size: u64) -> Result<String, Error> {
        use base64::Engine;
        let metadata = format!(
            "{SHA256_METADATA} {}",
            base64::engine::general_purpose::STANDARD.encode(hash)
        );
        let request = self
            .http
            .post(self.url("/v1/uploads"))
            .header("tus-resumable", TUS_VERSION)
            .header("upload-length", size.to_string())
            .header("upload-metadata", metadata);
        let response = check(self.authed(request)?.send().await?).await?;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::Core(sync_core::Error::Malformed(
                    "an upload created without a Location".into(),
                ))
            })?;
        Ok(location.to_string())
    }

    /// The address of an upload at `location` (as the server gave it: a path on this server).
    fn resolve(&self, location: &str) -> String {
        if location.starts_with('/') {
            self.url(location)
        } else {
            location.to_string()
        }
    }

    /// The offset the server holds of an upload; None if the upload is gone.
    async fn upload_offset(&self, url: &str) -> Result<Option<u64>, Error> {
        let request = self.http.head(url).header("tus-resumable", TUS_VERSION);
        let response = self.authed(request)?.send().await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        offset_header(&check(response).await?).map(Some)
    }

    /// Whether the server holds the file and this user may read it.
    async fn holds(&self, hash: &str) -> Result<bool, Error> {
        match self.download(hash, Some(0..1)).await {
            Ok(_) => Ok(true),
            Err(Error::Server { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A file's bytes, or a range of them.
    pub async fn download(&self, hash: &str, range: Option<Range<u64>>) -> Result<Vec<u8>, Error> {
        let mut request = self.http.get(self.url(&format!("/v1/attachments/{hash}")));
        if let Some(r) = &range {
            request = request.header(RANGE, format!("bytes={}-{}", r.start, r.end - 1));
        }
        let response = check(self.authed(request)?.send().await?).await?;
        Ok(response.bytes().await?.to_vec())
    }
}

fn offset_header(response: &reqwest::Response) -> Result<u64, Error> {
    response
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Error::Core(sync_core::Error::Malformed(
                "an upload answer without Upload-Offset".into(),
            ))
        })
}

impl Replica {
    /// Attaches a file to record `id` as a new item of its items field `field` (a visit's
    /// `photos`, a ticket's `evidence`), and keeps the bytes on the device until `sync` uploads
    /// them: one transaction, so the record never references a file the device lost. Returns the
    /// file's hash.
    pub async fn attach(
        &self,
        id: Uuid,
        field: &str,
        bytes: Vec<u8>,
        caption: Option<&str>,
    ) -> Result<String, Error> {
        let actor = self.actor()?;
        let kind = kinds::get(&self.info(id).await?.kind)?;
        let attachable = kind.field(field).is_some_and(|spec| match spec.ty {
            FieldType::Items(items) => {
                items.field("hash").map(|f| f.ty) == Some(FieldType::Attachment)
            }
            _ => false,
        });
        if !attachable {
            return Err(Error::NotAllowed {
                code: "not_attachable",
                message: format!("{} has no field `{field}` that holds files", kind.name),
            });
        }
        let hash = attachments::hash(&bytes);
        let mut item = vec![
            ("hash", Value::Str(hash.clone())),
            ("taken_at", Value::Int(now_ms())),
        ];
        if let Some(caption) = caption {
            item.push(("caption", Value::Str(caption.to_string())));
        }
        let mut tx = self.pool.begin().await?;
        let mut rec = store::load(&mut tx, id, &actor)
            .await?
            .ok_or(Error::UnknownRecord(id))?;
        let current = sync_core::record::project(&rec.doc, kind)?;
        let mut items: Vec<Item> = current.get(field).items().to_vec();
        items.push(Item::new(item));
        sync_core::record::update(&mut rec.doc, kind, &[(field, Value::Items(items))])?;
        store::save(&mut tx, &mut rec).await?;
        sqlx::query(
            "INSERT INTO captures (hash, bytes, record_id, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(&hash)
        .bind(bytes)
        .bind(id.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(hash)
    }

    /// The files captured here that the server does not hold yet.
    pub async fn pending_files(&self) -> Result<Vec<PendingFile>, Error> {
        let rows: Vec<(String, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT hash, length(bytes), record_id, refused FROM captures ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(hash, size, record, refused)| PendingFile {
                hash,
                size: size as u64,
                record_id: Uuid::parse_str(&record).unwrap_or_default(),
                refused,
            })
            .collect())
    }

    /// A file's bytes: from the device if it was captured here and not yet uploaded, else from the
    /// server.
    pub async fn file(&self, client: &Client, hash: &str) -> Result<Vec<u8>, Error> {
        let local: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT bytes FROM captures WHERE hash = ?")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
        match local {
            Some(bytes) => Ok(bytes),
            None => client.download(hash, None).await,
        }
    }

    /// Uploads every captured file the server has not refused, oldest first; each leaves the
    /// device once the server holds it. Returns how many were uploaded. A file the server refuses
    /// stays, with the reason; a network failure leaves the rest for the next sync.
    pub async fn upload_files(
        &self,
        client: &Client,
        progress: &mut (dyn FnMut(FileProgress) + Send),
    ) -> Result<usize, Error> {
        let queued: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT hash, upload_url FROM captures WHERE refused IS NULL ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut uploaded = 0;
        for (hash, resume) in queued {
            let bytes: Vec<u8> = sqlx::query_scalar("SELECT bytes FROM captures WHERE hash = ?")
                .bind(&hash)
                .fetch_one(&self.pool)
                .await?;
            match self
                .upload_one(client, &hash, &bytes, resume, progress)
                .await
            {
                Ok(()) => {
                    sqlx::query("DELETE FROM captures WHERE hash = ?")
                        .bind(&hash)
                        .execute(&self.pool)
                        .await?;
                    uploaded += 1;
                }
                // The server refused the file: it stays on the device with the reason, and the
                // next file goes.
                Err(Error::Server { detail, status }) if !Error::transient_status(status) => {
                    sqlx::query(
                        "UPDATE captures SET refused = ?, upload_url = NULL WHERE hash = ?",
                    )
                    .bind(format!("{}: {}", detail.code, detail.message))
                    .bind(&hash)
                    .execute(&self.pool)
                    .await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(uploaded)
    }

    /// Uploads one captured file, keeping its upload's address in the store before any byte goes,
    /// so that a device whose app is killed half-way resumes from what the server kept instead of
    /// starting over.
    async fn upload_one(
        &self,
        client: &Client,
        hash: &str,
        bytes: &[u8],
        resume: Option<String>,
        progress: &mut (dyn FnMut(FileProgress) + Send),
    ) -> Result<(), Error> {
        let size = bytes.len() as u64;
        let at = match resume {
            Some(location) => UploadAt {
                location,
                offset: None,
            },
            None => {
                let location = client.create_upload(hash, size).await?;
                self.keep_upload_url(hash, &location).await?;
                UploadAt {
                    location,
                    offset: Some(0),
                }
            }
        };
        let mut location = None;
        let result = client
            .upload(
                hash,
                bytes,
                Some(at),
                &mut |url| location = Some(url.to_string()),
                &mut |sent, _| {
                    progress(FileProgress {
                        hash: hash.to_string(),
                        sent,
                        size,
                    })
                },
            )
            .await;
        // An upload made again (the server had dropped the first) is resumed from next time.
        if let Some(url) = &location {
            self.keep_upload_url(hash, url).await?;
        }
        result
    }

    async fn keep_upload_url(&self, hash: &str, url: &str) -> Result<(), Error> {
        sqlx::query("UPDATE captures SET upload_url = ? WHERE hash = ?")
            .bind(url)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
