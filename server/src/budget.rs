//! Budgets of bytes shared by every call in the process: a call takes room before it holds the
//! memory and gives it back by dropping the room, so what all calls hold together stays bounded
//! whatever each asks for. Used for the sync bodies read and not yet answered
//! (`http::admission::BODY_BUDGET`) and for the documents pushes merge (`sync::engine`).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;

/// Room taken in a [`ByteBudget`]; given back when dropped. Rooms merge (`merge`) and split.
pub type Room = OwnedSemaphorePermit;

/// A number of bytes, counted in KiB permits of a fair semaphore: a large request waits its turn
/// rather than being overtaken by small ones for ever.
pub struct ByteBudget {
    permits: Arc<Semaphore>,
    kib: u32,
    wait: Duration,
}

impl ByteBudget {
    /// A budget of `bytes`; a call waits up to `wait` for room before it is told the server is busy.
    pub fn new(bytes: usize, wait: Duration) -> ByteBudget {
        let kib = kib(bytes).max(1);
        ByteBudget {
            permits: Arc::new(Semaphore::new(kib as usize)),
            kib,
            wait,
        }
    }

    /// Takes room for `bytes`, or for the whole budget if `bytes` is more, waiting for it; tells the
    /// call the server is busy if none comes within the wait.
    pub async fn take(&self, bytes: usize) -> Result<Room, Error> {
        let kib = kib(bytes).min(self.kib);
        tokio::time::timeout(self.wait, self.permits.clone().acquire_many_owned(kib))
            .await
            .map_err(|_| Error::Busy {
                retry_after: busy_retry_after(self.wait),
            })?
            .map_err(|_| Error::Internal("a byte budget was closed".into()))
    }

    /// Takes room for `bytes` (or the whole budget) if there is some now.
    pub fn try_take(&self, bytes: usize) -> Option<Room> {
        let kib = kib(bytes).min(self.kib);
        self.permits.clone().try_acquire_many_owned(kib).ok()
    }
}

fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// When a device refused for want of a slot or of room should come back: at a random point between
/// one second and the queue wait, so that the devices refused together do not all return together.
pub fn busy_retry_after(queue_wait: Duration) -> Duration {
    let most = queue_wait.as_secs().max(1);
    Duration::from_secs(rand::thread_rng().gen_range(1..=most))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn room_beyond_the_budget_waits_and_is_then_refused_as_busy() {
        let budget = ByteBudget::new(1 << 20, Duration::from_millis(200));
        let most = budget.take(1 << 20).await.unwrap();
        assert_eq!(budget.take(1).await.unwrap_err().code(), "server_busy");
        assert!(budget.try_take(1).is_none());
        drop(most);
        let mut some = budget.take(1_000).await.unwrap();
        some.merge(budget.take((1 << 20) - 1024).await.unwrap());
        assert!(budget.take(1).await.is_err(), "merged room is held as one");
        drop(some);
        assert!(budget.take(1 << 20).await.is_ok());
    }

    #[tokio::test]
    async fn a_call_asking_for_more_than_the_budget_gets_all_of_it_once_it_is_free() {
        let budget = ByteBudget::new(1 << 20, Duration::from_millis(200));
        let all = budget.take(10 << 20).await.unwrap();
        assert_eq!(all.num_permits(), 1024);
        assert!(budget.try_take(1).is_none());
        drop(all);
        assert_eq!(budget.try_take(10 << 20).unwrap().num_permits(), 1024);
    }
}
