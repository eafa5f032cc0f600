//! The one error type of sync-core.

use crate::validate::FieldError;

/// Everything that can go wrong in pure sync logic. Each variant has a stable [`Error::code`] that the
/// server sends to devices, so clients can react to it without parsing messages.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown record kind `{0}`")]
    UnknownKind(String),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("message too large: {what} is {actual}, the limit is {limit}")]
    TooLarge {
        what: &'static str,
        actual: usize,
        limit: usize,
    },
    #[error("{what} carries {actual} operations, the limit is {limit}")]
    TooManyOperations {
        what: &'static str,
        actual: usize,
        limit: usize,
    },
    #[error("malformed automerge change: {0}")]
    MalformedChange(String),
    #[error("{0}")]
    InvalidChange(String),
    #[error("invalid record: {}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("field `{field}` may not be written by {role}")]
    FieldNotWritable { field: String, role: &'static str },
    #[error(
        "field `{0}` holds a nested object that may only be created in the record's first change"
    )]
    NestedObjectAfterCreation(String),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

impl Error {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownKind(_) => "unknown_kind",
            Error::Malformed(_) => "malformed",
            Error::TooLarge { .. } => "too_large",
            Error::TooManyOperations { .. } => "too_many_operations",
            Error::MalformedChange(_) => "malformed_change",
            Error::InvalidChange(_) => "invalid_change",
            Error::Invalid(_) => "validation_failed",
            Error::FieldNotWritable { .. } => "field_not_writable",
            Error::NestedObjectAfterCreation(_) => "nested_object_after_creation",
            Error::Automerge(_) => "automerge",
        }
    }

    /// The field this error is about, when there is exactly one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::FieldNotWritable { field, .. } | Error::NestedObjectAfterCreation(field) => {
                Some(field)
            }
            Error::Invalid(errors) if errors.len() == 1 => Some(&errors[0].field),
            _ => None,
        }
    }
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}
