//! The one error type of the SDK.

use sync_core::protocol::ErrorDetail;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error; `detail.code` is stable.
    #[error("the server refused the request ({status}): {} ({})", .detail.message, .detail.code)]
    Server { status: u16, detail: ErrorDetail },
    #[error("cannot reach the server: {0}")]
    Network(#[from] reqwest::Error),
    /// Retries of a transient failure ran out.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: Box<Error> },
    #[error("not logged in; run `fieldsync login` first")]
    NotLoggedIn,
    /// The server revoked this device and told it to delete its data; it did.
    #[error("this device was revoked by the server; its local data was deleted")]
    Wiped,
    #[error("no record {0} on this device")]
    UnknownRecord(uuid::Uuid),
    /// A field action the record's state does not allow (checking out of a visit not checked in);
    /// `code` is stable.
    #[error("{message}")]
    NotAllowed { code: &'static str, message: String },
    #[error("local store: {0}")]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Core(#[from] sync_core::Error),
}

impl Error {
    /// The server's error code, if the server answered (also behind retries).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Server { detail, .. } => Some(&detail.code),
            Error::GaveUp { last, .. } => last.code(),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: the network, a timeout, an overloaded or failing server.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Network(_) => true,
            Error::Server { status, .. } => Error::transient_status(*status),
            Error::GaveUp { .. } => true,
            _ => false,
        }
    }

    /// Whether an answer with this status may succeed when tried again: a body that arrived too
    /// slowly (the link may be better now; the server changed nothing), rate limited, or the
    /// server's trouble.
    pub fn transient_status(status: u16) -> bool {
        status == 408 || status == 429 || status >= 500
    }

    /// Whether the server told this device to wipe itself.
    pub fn is_wipe(&self) -> bool {
        matches!(self, Error::Server { detail, .. } if detail.wipe)
    }
}

impl From<automerge::AutomergeError> for Error {
    fn from(e: automerge::AutomergeError) -> Error {
        Error::Core(e.into())
    }
}
