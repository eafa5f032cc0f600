//! The one error type of the SDK.

use sync_core::protocol::ErrorDetail;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error; `detail.code` is stable.
    #[error("server refused the request ({status}): {} ({})", .detail.message, .detail.code)]
    Server { status: u16, detail: ErrorDetail },
    #[error("cannot reach the server: {0}")]
    Network(#[from] reqwest::Error),
    #[error("not logged in")]
    NotLoggedIn,
    #[error("no record {0} on this device")]
    UnknownRecord(uuid::Uuid),
    #[error(transparent)]
    Core(#[from] sync_core::Error),
}

impl Error {
    /// The server's error code, if the server answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Server { detail, .. } => Some(&detail.code),
            _ => None,
        }
    }
}
