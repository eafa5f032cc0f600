//! Read-ahead of first-sync pages.
//!
//! A device's first sync is a chain of pages, each asked for with the cursor of the one before, so
//! without read-ahead the server would sit idle while a page travelled, was decoded, and the next
//! request came back, and the device would wait while the server read the next page. When a
//! first-sync page has a page after it, the server starts reading that one at once, and the device's
//! next request takes it, waiting for the rest if the read is still running.
//!
//! A page read ahead is the answer the request would have got had it come when the read began: the
//! device had received nothing in between, and a record changed since then comes again later, at
//! its new position, exactly as it would for a request answered at that moment. It is used only by
//! the same device asking for the same position and limit with the same role and territories;
//! anything else reads afresh. Reads ahead are bounded by a few slots for the whole process, and one
//! that nobody takes is dropped after a while, so memory stays bounded whatever the fleet does. With
//! several server processes the next request may reach another one, which reads the page itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use sync_core::Role;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::Db;
use crate::error::Error;
use crate::sync::feed::pages::{fresh_page, FreshPage};

/// How long a page read ahead waits for its request: far longer than a device takes to ask for
/// the next page, far shorter than memory should be held for a device that went away.
const UNCLAIMED: Duration = Duration::from_secs(10);

pub struct ReadAhead {
    pending: Mutex<HashMap<Uuid, Pending>>,
    slots: Arc<Semaphore>,
    served: Counter,
    unloadable: Counter,
}

/// Who asked, and for what: a page read ahead answers only exactly this.
#[derive(PartialEq)]
struct Key {
    after: i64,
    limit: u64,
    user_id: Uuid,
    role: Role,
    territories: Vec<Uuid>,
}

impl Key {
    fn of(who: &Principal, after: i64, limit: u64) -> Key {
        Key {
            after,
            limit,
            user_id: who.user_id,
            role: who.role,
            territories: who.territories.clone(),
        }
    }
}

struct Pending {
    key: Key,
    started: Instant,
    read: JoinHandle<Result<FreshPage, Error>>,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Unclaimed or replaced: its database work is no longer wanted (a no-op once it finished).
        self.read.abort();
    }
}

impl ReadAhead {
    /// At most `slots` pages read ahead at once in this process; `served` counts the pages taken,
    /// `unloadable` the records a page left out because they do not open.
    pub fn new(slots: usize, served: Counter, unloadable: Counter) -> ReadAhead {
        ReadAhead {
            pending: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(slots)),
            served,
            unloadable,
        }
    }

    /// Starts reading, for this device, the first-sync page after position `after`, if a slot is
    /// free. Replaces the device's earlier read ahead.
    pub fn start(&self, db: &Db, who: &Principal, after: i64, limit: u64) {
        let mut pending = self.pending.lock().expect("read-ahead lock");
        pending.remove(&who.device_id);
        pending.retain(|_, p| p.started.elapsed() < UNCLAIMED);
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return;
        };
        let (db, reader, unloadable) = (db.clone(), who.clone(), self.unloadable.clone());
        let read = tokio::spawn(async move {
            fresh_page(&db.conn, db.vault(), &unloadable, &reader, after, limit).await
        });
        pending.insert(
            who.device_id,
            Pending {
                key: Key::of(who, after, limit),
                started: Instant::now(),
                read,
                _slot: slot,
            },
        );
    }

    /// The page read ahead for exactly this request, if there is one; None means read it now.
    pub async fn take(&self, who: &Principal, after: i64, limit: u64) -> Option<FreshPage> {
        let mut pending = {
            let mut all = self.pending.lock().expect("read-ahead lock");
            all.remove(&who.device_id)?
        };
        if pending.key != Key::of(who, after, limit) {
            return None;
        }
        match (&mut pending.read).await {
            Ok(Ok(page)) => {
                self.served.inc();
                Some(page)
            }
            // The request reads the page itself, and meets the error again if it persists.
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "a first-sync page read ahead failed");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "a first-sync read ahead did not finish");
                None
            }
        }
    }

    /// How many requests were answered with a page read ahead.
    pub fn served(&self) -> u64 {
        self.served.get()
    }
}
