//! Who is asking: passwords, device tokens, dashboard sessions, the principal a request acts as, and
//! the throttles on logins and sync calls.

pub mod credentials;
pub mod login_throttle;
pub mod principal;
pub mod ratelimit;
pub mod sessions;
pub mod users;
