//! The server key: a secret kept in a key file, outside the database, under which the server
//! authenticates what it hands to devices and later takes back from them: device secrets (a device's
//! proof that it owns its id, also after a restore lost its row) and pull cursors. A restore of the
//! database cannot change the key, and a device cannot forge what it authenticates.
//!
//! The file holds one key or more, newest first: the newest authenticates everything new, and every
//! key in the file is accepted, so `fieldsync-server key rotate` adds a key without logging devices
//! out or refusing their cursors. Every server process of a database needs the same file.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

use crate::error::Error;

type HmacSha256 = Hmac<Sha256>;

const KEY_BYTES: usize = 32;

/// The length of a tag made by [`KeyRing::tag`].
pub const TAG_BYTES: usize = 32;

const HEADER: &str =
    "# fieldsync server keys, newest first: the first authenticates, every one is accepted.\n\
# Keep this file secret, and give every server process of the database the same file.\n";

/// What a tag is for. Each purpose is part of what its tags cover, so a tag made for one is
/// never accepted for another.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    DeviceSecret,
    Cursor,
    Csrf,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::DeviceSecret => b"fieldsync device secret v1",
            Purpose::Cursor => b"fieldsync pull cursor v1",
            Purpose::Csrf => b"fieldsync dashboard csrf v1",
        }
    }
}

/// The server's keys, newest first; never empty. `Debug` shows no key.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<[u8; KEY_BYTES]>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRing({} keys)", self.keys.len())
    }
}

impl KeyRing {
    /// Reads the key file, or creates it with one new key if there is none.
    pub fn open(path: &Path) -> Result<KeyRing, Error> {
        match fs::read_to_string(path) {
            Ok(text) => {
                warn_if_readable_by_others(path);
                parse(path, &text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
            Err(e) => Err(key_error(path, e)),
        }
    }

    /// Adds a new key in front of the file's keys (creating the file if there is none) and returns
    /// the new ring. Servers read the file when they start.
    pub fn rotate(path: &Path) -> Result<KeyRing, Error> {
        let mut ring = match fs::read_to_string(path) {
            Ok(text) => parse(path, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeyRing { keys: vec![] },
            Err(e) => return Err(key_error(path, e)),
        };
        ring.keys.insert(0, new_key());
        let temp = write_temp(path, &ring)?;
        // A rename replaces the file at once: a server starting meanwhile reads the old or the new
        // file, never a part of one.
        fs::rename(&temp, path).map_err(|e| key_error(path, e))?;
        sync_dir(path);
        Ok(ring)
    }

    /// The keys that seal data at rest, derived from the ring's (see `seal`).
    pub fn vault(&self) -> crate::seal::Vault {
        crate::seal::Vault::new(&self.keys)
    }

    /// How many keys the ring holds.
    pub fn count(&self) -> usize {
        self.keys.len()
    }

    /// The tag of `parts` for `purpose` under the newest key. Each part is length-prefixed, so no
    /// two different lists of parts are covered by the same bytes.
    pub fn tag(&self, purpose: Purpose, parts: &[&[u8]]) -> [u8; TAG_BYTES] {
        mac(&self.keys[0], purpose, parts)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Whether `tag` is the tag of `parts` for `purpose` under any key of the ring, compared in
    /// constant time.
    pub fn verify(&self, purpose: Purpose, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.keys
            .iter()
            .any(|key| mac(key, purpose, parts).verify_slice(tag).is_ok())
    }
}

fn mac(key: &[u8; KEY_BYTES], purpose: Purpose, parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in std::iter::once(purpose.label()).chain(parts.iter().copied()) {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac
}

fn new_key() -> [u8; KEY_BYTES] {
    let mut key = [0u8; KEY_BYTES];
    OsRng.fill_bytes(&mut key);
    key
}

fn key_error(path: &Path, e: impl fmt::Display) -> Error {
    Error::KeyFile(format!("{}: {e}", path.display()))
}

/// One key per line in hex, newest first; blank lines and lines starting with `#` are comments.
fn parse(path: &Path, text: &str) -> Result<KeyRing, Error> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = hex::decode(line)
            .ok()
            .and_then(|bytes| <[u8; KEY_BYTES]>::try_from(bytes).ok())
            .ok_or_else(|| {
                key_error(
                    path,
                    format!(
                        "line {} is not a key ({} hexadecimal digits)",
                        n + 1,
                        2 * KEY_BYTES
                    ),
                )
            })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(key_error(path, "the file holds no key"));
    }
    Ok(KeyRing { keys })
}

/// Creates the key file with one new key. The file appears whole or not at all (a hard link of a
/// written temporary file), so servers starting at once on one database all end with the one
/// file the first of them made.
fn create(path: &Path) -> Result<KeyRing, Error> {
    let ring = KeyRing {
        keys: vec![new_key()],
    };
    let temp = write_temp(path, &ring)?;
    let linked = fs::hard_link(&temp, path);
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            sync_dir(path);
            tracing::warn!(key_file = %path.display(), "created a new server key file; back it up apart from the database, and give every server process of this database the same file");
            Ok(ring)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = fs::read_to_string(path).map_err(|e| key_error(path, e))?;
            parse(path, &text)
        }
        Err(e) => Err(key_error(path, e)),
    }
}

/// Writes the ring to a new file beside `path`, readable by its owner only, and flushes it to disk.
fn write_temp(path: &Path, ring: &KeyRing) -> Result<PathBuf, Error> {
    let name = path
        .file_name()
        .ok_or_else(|| key_error(path, "not a file name"))?
        .to_string_lossy();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", hex::encode(new_key())));
    let mut text = HEADER.to_string();
    for key in &ring.keys {
        text.push_str(&hex::encode(key));
        text.push('\n');
    }
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(key_error(path, e));
    }
    Ok(temp)
}

/// Makes the file's new name durable. Best effort: a file system that cannot sync a directory
/// still has the file.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(key_file = %path.display(), "the server key file can be read by other users of this machine; `chmod 600` it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_file_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.key");
        let ring = KeyRing::open(&path).unwrap();
        assert_eq!(ring.count(), 1);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = KeyRing::open(&path).unwrap();
        let tag = ring.tag(Purpose::Cursor, &[b"a", b"b"]);
        assert!(again.verify(Purpose::Cursor, &[b"a", b"b"], &tag));
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn tags_cover_purpose_and_parts() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::open(&dir.path().join("k")).unwrap();
        let tag = ring.tag(Purpose::Cursor, &[b"ab", b"c"]);
        assert!(ring.verify(Purpose::Cursor, &[b"ab", b"c"], &tag));
        assert!(!ring.verify(Purpose::Cursor, &[b"a", b"bc"], &tag));
        assert!(!ring.verify(Purpose::DeviceSecret, &[b"ab", b"c"], &tag));
        assert!(!ring.verify(Purpose::Cursor, &[b"ab", b"c"], &tag[1..]));
        let other = KeyRing::open(&dir.path().join("other")).unwrap();
        assert!(!other.verify(Purpose::Cursor, &[b"ab", b"c"], &tag));
    }

    #[test]
    fn a_rotated_ring_tags_with_the_new_key_and_accepts_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.key");
        let old = KeyRing::open(&path).unwrap();
        let old_tag = old.tag(Purpose::DeviceSecret, &[b"device"]);
        let rotated = KeyRing::rotate(&path).unwrap();
        assert_eq!(rotated.count(), 2);
        let read = KeyRing::open(&path).unwrap();
        assert!(read.verify(Purpose::DeviceSecret, &[b"device"], &old_tag));
        let new_tag = read.tag(Purpose::DeviceSecret, &[b"device"]);
        assert_ne!(new_tag, old_tag);
        assert!(
            !old.verify(Purpose::DeviceSecret, &[b"device"], &new_tag),
            "the newest key tags"
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.key");
        fs::write(&path, "# only a comment\n").unwrap();
        assert!(KeyRing::open(&path).is_err());
        fs::write(&path, "abcd\n").unwrap();
        let err = KeyRing::open(&path).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
