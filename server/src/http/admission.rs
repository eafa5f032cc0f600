//! Who may start a sync call, and how long its body may take to arrive.
//!
//! A sync call holds one of the process's sync slots only while the server works on it: its body is
//! read first, under a deadline, and a device and a user each run only a few calls at once. So a
//! device that sends its bodies a byte at a time (or many devices of one user doing so) holds
//! connections and its own few places, never the slots honest devices need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;

use crate::error::Error;

/// Sync calls one device may have in progress at once: a push and a pull side by side.
pub const DEVICE_CALLS: usize = 2;
/// Sync calls one user may have in progress at once, across their devices.
pub const USER_CALLS: usize = 4;

/// The slowest a body may arrive, after [`BODY_GRACE`]: a phone on a poor 2G link sends several
/// times this.
pub const BODY_MIN_RATE: u64 = 8 * 1024;
/// The time any body may take before [`BODY_MIN_RATE`] counts: connection hiccups, small bodies.
pub const BODY_GRACE: Duration = Duration::from_secs(10);

/// The bytes of sync bodies read and not yet answered (the raw bodies, then the requests parsed
/// from them), across the process. Bodies are read before a call waits for its sync slot, so without
/// this bound a fleet pushing at once would hold every device's body in memory while it waits.
pub const BODY_BUDGET: usize = 64 << 20;

/// How long a body of `len` bytes may take to arrive.
pub fn body_deadline(len: u64) -> Duration {
    BODY_GRACE + Duration::from_secs(len / BODY_MIN_RATE)
}

/// Sync calls in progress per device and per user.
#[derive(Default)]
pub struct InFlight {
    counts: Mutex<HashMap<Uuid, usize>>,
}

/// A place taken in [`InFlight`]; given back when dropped.
pub struct Place {
    of: Arc<InFlight>,
    key: Uuid,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut counts = self.of.counts.lock().expect("in-flight counts poisoned");
        if let Some(n) = counts.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

impl InFlight {
    /// Takes one of `most` places of `key`, or says no.
    fn enter(self: &Arc<Self>, key: Uuid, most: usize) -> Option<Place> {
        let mut counts = self.counts.lock().expect("in-flight counts poisoned");
        let n = counts.entry(key).or_default();
        if *n >= most {
            return None;
        }
        *n += 1;
        Some(Place {
            of: self.clone(),
            key,
        })
    }

    /// Admits a sync call of `device` of `user`, each within its bound.
    pub fn admit(self: &Arc<Self>, device: Uuid, user: Uuid) -> Result<[Place; 2], Error> {
        let too_many = |whose: &str, most: usize| Error::RateLimited {
            code: "too_many_syncs",
            message: format!(
                "this {whose} already has {most} sync calls in progress; wait for one to finish"
            ),
            retry_after: Duration::from_secs(1),
        };
        let device = self
            .enter(device, DEVICE_CALLS)
            .ok_or_else(|| too_many("device", DEVICE_CALLS))?;
        let user = self
            .enter(user, USER_CALLS)
            .ok_or_else(|| too_many("user", USER_CALLS))?;
        Ok([device, user])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_per_device_and_per_user_and_given_back() {
        let in_flight = Arc::new(InFlight::default());
        let user = Uuid::now_v7();
        let phone = Uuid::now_v7();
        let first = in_flight.admit(phone, user).unwrap();
        let _second = in_flight.admit(phone, user).unwrap();
        let refused = in_flight.admit(phone, user).err().unwrap();
        assert_eq!(refused.code(), "too_many_syncs");
        // The user's other devices share the user's bound.
        let _tablet = in_flight.admit(Uuid::now_v7(), user).unwrap();
        let _laptop = in_flight.admit(Uuid::now_v7(), user).unwrap();
        assert!(in_flight.admit(Uuid::now_v7(), user).is_err());
        drop(first);
        assert!(in_flight.admit(phone, user).is_ok());
        assert!(in_flight.admit(Uuid::now_v7(), Uuid::now_v7()).is_ok());
    }

    #[test]
    fn a_body_may_arrive_at_the_minimum_rate_after_the_grace() {
        assert_eq!(body_deadline(0), BODY_GRACE);
        assert_eq!(
            body_deadline(16 << 20),
            BODY_GRACE + Duration::from_secs(2048)
        );
    }
}
