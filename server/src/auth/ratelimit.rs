//! Rates, and the in-memory token buckets of sync calls per device.
//!
//! Each key has a bucket of `burst` tokens that refills evenly over `window`. These buckets live in this
//! process only: behind several server processes a device's effective limit is the rate times the
//! processes it reaches. They protect a process's capacity, not a secret, and a shared bucket would
//! cost a database write per sync call. Failed logins, which guard passwords, are counted in the
//! database instead ([`crate::auth::login_throttle`]).

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `burst` requests, refilled evenly over `window`; written `N/DURATION` (e.g. `10/15m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub window: Duration,
}

impl Rate {
    pub const fn new(burst: u32, window: Duration) -> Rate {
        Rate { burst, window }
    }

    pub fn refill_interval(&self) -> Duration {
        self.window / self.burst.max(1)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let (n, window) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not N/DURATION (e.g. 10/15m)"))?;
        let burst: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{n}` is not a count"))?;
        let window = humantime::parse_duration(window.trim())
            .map_err(|e| format!("`{window}` is not a duration: {e}"))?;
        if burst == 0 || window.is_zero() {
            return Err("a rate needs a count and a duration above zero".into());
        }
        Ok(Rate { burst, window })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            self.burst,
            humantime::format_duration(self.window)
        )
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets by key, with one [`Rate`] for all of them.
#[derive(Debug)]
pub struct Limiter<K> {
    rate: Rate,
    buckets: Mutex<HashMap<K, Bucket>>,
}

/// Above this many keys, full buckets (keys that have been quiet for a whole window) are dropped, so
/// a flood of distinct keys cannot grow memory without bound.
const PRUNE_AT: usize = 10_000;

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(rate: Rate) -> Limiter<K> {
        Limiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let per_token = self.rate.refill_interval().as_secs_f64();
        let gained = now.duration_since(bucket.at).as_secs_f64() / per_token;
        (bucket.tokens + gained).min(f64::from(self.rate.burst))
    }

    /// Takes one token for `key`; when none is left, says how long until the next one.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= PRUNE_AT {
            let full = f64::from(self.rate.burst);
            buckets.retain(|_, b| self.refilled(*b, now) < full);
        }
        let tokens = match buckets.get(key) {
            Some(b) => self.refilled(*b, now),
            None => f64::from(self.rate.burst),
        };
        if tokens >= 1.0 {
            buckets.insert(
                key.clone(),
                Bucket {
                    tokens: tokens - 1.0,
                    at: now,
                },
            );
            Ok(())
        } else {
            let per_token = self.rate.refill_interval().as_secs_f64();
            Err(Duration::from_secs_f64((1.0 - tokens) * per_token))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_says_when_to_retry() {
        let limiter = Limiter::new(Rate::new(3, Duration::from_secs(60)));
        for _ in 0..3 {
            assert_eq!(limiter.take(&"a"), Ok(()));
        }
        let wait = limiter.take(&"a").unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20));
        // Other keys have their own buckets.
        assert_eq!(limiter.take(&"b"), Ok(()));
    }

    #[test]
    fn rates_parse_and_print() {
        let rate: Rate = "10/15m".parse().unwrap();
        assert_eq!(rate, Rate::new(10, Duration::from_secs(900)));
        assert_eq!(rate.to_string(), "10/15m");
        assert!("10".parse::<Rate>().is_err());
        assert!("0/1m".parse::<Rate>().is_err());
        assert!("x/1m".parse::<Rate>().is_err());
        assert!("5/soon".parse::<Rate>().is_err());
    }
}
