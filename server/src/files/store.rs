//! Where files' bytes live: a directory on disk (the default, beside the SQLite file) or an object
//! store (S3 and compatible) that several server processes share, behind `object_store`'s one
//! interface. Finished files are objects named by their hash; uploads in progress keep the pieces
//! they received as objects of their own until the file is complete.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::error::Error;

/// Where the files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory on this machine.
    Dir(PathBuf),
    /// A bucket of S3 or a compatible store, and a prefix inside it (may be empty). Credentials,
    /// region and endpoint come from the usual `AWS_*` variables (`AWS_ENDPOINT` and
    /// `AWS_ALLOW_HTTP=true` for a store of one's own).
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// `s3://BUCKET[/PREFIX]`, or a directory.
    pub fn parse(s: &str) -> Result<Location, String> {
        match s.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err("an S3 location names a bucket: s3://BUCKET[/PREFIX]".into());
                }
                Ok(Location::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.trim_matches('/').to_string(),
                })
            }
            None if s.contains("://") => Err(format!(
                "`{s}` is neither a directory nor s3://BUCKET[/PREFIX]"
            )),
            None if s.is_empty() => Err("the files' location is empty".into()),
            None => Ok(Location::Dir(PathBuf::from(s))),
        }
    }

    /// The default for an SQLite database: a directory beside its file, with `.files` added to its
    /// name, so that the database, its key and its files go together. None for PostgreSQL (its
    /// server processes may run on different machines) and in-memory databases.
    pub fn beside(database_url: &str) -> Option<Location> {
        crate::db::sqlite_file(database_url).map(|file| {
            let mut name = file.into_os_string();
            name.push(".files");
            Location::Dir(PathBuf::from(name))
        })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(dir) => write!(f, "{}", dir.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// The file store. Cloning is cheap.
#[derive(Clone)]
pub struct FileStore {
    objects: Arc<dyn ObjectStore>,
    pub location: Location,
}

/// Where finished files are, under the store's root.
const FILES: &str = "files";

/// The bytes S3 takes in each part of a multipart upload (at least 5 MiB, but for the last).
const WRITE_CAPACITY: usize = 8 << 20;

fn storage(e: object_store::Error) -> Error {
    Error::Storage(format!("file store: {e}"))
}

impl FileStore {
    pub fn open(location: &Location) -> Result<FileStore, Error> {
        let objects: Arc<dyn ObjectStore> = match location {
            Location::Dir(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::Storage(format!(
                        "cannot create the files' directory {}: {e}",
                        dir.display()
                    ))
                })?;
                Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(storage)?)
            }
            Location::S3 { bucket, prefix } => {
                let s3 = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(storage)?;
                if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                }
            }
        };
        Ok(FileStore {
            objects,
            location: location.clone(),
        })
    }

    /// The object of a finished file. Two hex digits of fan-out keep a directory's entries few.
    pub fn file_key(hash: &str) -> Key {
        Key::from(format!("{FILES}/{}/{hash}", &hash[..2]))
    }

    /// A new object for a piece of an upload: random, so that two requests writing the same piece
    /// at once never overwrite each other's (the database keeps the one that counts).
    pub fn part_key(upload: Uuid, offset: u64) -> Key {
        Key::from(format!(
            "uploads/{upload}/{offset:020}-{}",
            Uuid::new_v4().simple()
        ))
    }

    pub async fn put(&self, key: &Key, bytes: Bytes) -> Result<(), Error> {
        self.objects
            .put(key, PutPayload::from_bytes(bytes))
            .await
            .map_err(storage)?;
        self.durable(key).await
    }

    /// On a directory, flushes an object just written, and its directory, to the disk: the local
    /// store writes a temporary file and renames it into place, so a crash never leaves half an
    /// object, but without a flush a power cut could lose one the server acknowledged. S3 answers a
    /// write once the object is durable.
    async fn durable(&self, key: &Key) -> Result<(), Error> {
        let Location::Dir(dir) = &self.location else {
            return Ok(());
        };
        let path = key
            .parts()
            .fold(dir.clone(), |path, part| path.join(part.as_ref()));
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::File::open(&path)?.sync_all()?;
            if let Some(parent) = path.parent() {
                std::fs::File::open(parent)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| Error::Storage(format!("file store: flushing {key}: {e}")))
    }

    /// The bytes of `range` of an object, as they arrive.
    pub async fn read(
        &self,
        key: &Key,
        range: Range<u64>,
    ) -> Result<BoxStream<'static, Result<Bytes, Error>>, Error> {
        if range.is_empty() {
            return Ok(futures_util::stream::empty().boxed());
        }
        let got = self
            .objects
            .get_opts(
                key,
                GetOptions {
                    range: Some(GetRange::Bounded(range)),
                    ..GetOptions::default()
                },
            )
            .await
            .map_err(storage)?;
        Ok(got.into_stream().map(|r| r.map_err(storage)).boxed())
    }

    pub async fn exists(&self, key: &Key) -> Result<bool, Error> {
        match self.objects.head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(storage(e)),
        }
    }

    /// Deletes an object; one already gone is no error.
    pub async fn delete(&self, key: &Key) -> Result<(), Error> {
        match self.objects.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage(e)),
        }
    }

    /// Writes an object from pieces read one after another (multipart on S3), so that a file is
    /// never held whole in memory.
    pub async fn write_from(
        &self,
        key: &Key,
        mut pieces: BoxStream<'_, Result<Bytes, Error>>,
    ) -> Result<(), Error> {
        let mut writer =
            BufWriter::with_capacity(self.objects.clone(), key.clone(), WRITE_CAPACITY);
        while let Some(piece) = pieces.next().await {
            match piece {
                Ok(bytes) => writer.put(bytes).await.map_err(storage)?,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(e);
                }
            }
        }
        writer
            .shutdown()
            .await
            .map_err(|e| Error::Storage(format!("file store: {e}")))?;
        self.durable(key).await
    }

    /// The objects under `prefix`: each with its size and when it was last modified
    /// (milliseconds since the epoch).
    pub async fn list(&self, prefix: &str) -> Result<Vec<(Key, u64, i64)>, Error> {
        let mut listed = self.objects.list(Some(&Key::from(prefix)));
        let mut out = Vec::new();
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(storage)?;
            out.push((
                meta.location,
                meta.size,
                meta.last_modified.timestamp_millis(),
            ));
        }
        Ok(out)
    }

    /// Copies every finished file this store holds and `to` lacks into `to` (a backup, or its
    /// restore); returns how many files and bytes it copied. Files never change, so one present
    /// on both sides is the same file.
    pub async fn copy_files(&self, to: &FileStore) -> Result<(u64, u64), Error> {
        let (mut files, mut bytes) = (0, 0);
        for (key, size, _) in self.list(FILES).await? {
            if to.exists(&key).await? {
                continue;
            }
            to.write_from(&key, self.read(&key, 0..size).await?).await?;
            files += 1;
            bytes += size;
        }
        Ok((files, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_a_directory_or_an_s3_bucket() {
        assert_eq!(
            Location::parse("s3://photos/acme/").unwrap(),
            Location::S3 {
                bucket: "photos".into(),
                prefix: "acme".into()
            }
        );
        assert_eq!(
            Location::parse("s3://photos").unwrap(),
            Location::S3 {
                bucket: "photos".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            Location::parse("/var/lib/fieldsync/files").unwrap(),
            Location::Dir("/var/lib/fieldsync/files".into())
        );
        assert!(Location::parse("s3://").is_err());
        assert!(Location::parse("gs://bucket").is_err());
        assert_eq!(
            Location::beside("fieldsync.db"),
            Some(Location::Dir("fieldsync.db.files".into()))
        );
        assert_eq!(Location::beside("postgres://db/fieldsync"), None);
    }
}
