//! Why a command was not put in force, said once for every way of asking.
//!
//! The service and [`super::validate`] (through [`Refusal`]) answer with a [`ControlError`]; each
//! caller says it in its own medium: the API maps it to its status code and
//! `{"error", "field"}` body (`api/error.rs`), OSC answers the message on
//! `/nightscape/error`, a trigger logs it and keeps it as its last refusal,
//! and the fleet refuses the command with it. The kinds are what an
//! operator can do about it, not HTTP: the API is only one of the callers.

use super::{FieldError, Refusal};
use crate::store::StoreError;

/// A command refused, or a change the store could not make.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A value of the command is wrong: out of range, an unknown target,
    /// colour or show it names (the API's 422, naming the field).
    #[error("{}", .0.message)]
    Invalid(FieldError),
    /// What the command is about does not exist: the show a scene starts,
    /// the item it stops (the API's 404).
    #[error("{message}")]
    NotFound { field: String, message: String },
    /// It cannot be done as things are: the override cap is full, the slot
    /// is already taken (the API's 409).
    #[error("{message}")]
    Conflict {
        field: Option<String>,
        message: String,
    },
    /// An `Idempotency-Key` already used for another request (the API's
    /// 422 naming the header).
    #[error("{0}")]
    KeyReused(String),
    /// What carries the command out is not running (the API's 503).
    #[error("{0}")]
    Unavailable(String),
    /// The store refused or failed: nothing was changed (a unique index
    /// refusing the row is the API's 409, anything else its 503).
    #[error("{}", store_message(.0))]
    Store(#[from] StoreError),
}

/// A store error as an operator reads it: a refused duplicate says what it
/// repeats; a failure says that nothing changed.
fn store_message(e: &StoreError) -> String {
    match e {
        StoreError::Duplicate(m) => m.clone(),
        e => format!("the state store failed, nothing was changed: {e}"),
    }
}

impl ControlError {
    /// A wrong value of `field`.
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> ControlError {
        ControlError::Invalid(FieldError::new(field, message))
    }

    /// `field` names nothing there is.
    pub(crate) fn not_found(field: &str, message: impl Into<String>) -> ControlError {
        ControlError::NotFound {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl From<Refusal> for ControlError {
    fn from(r: Refusal) -> ControlError {
        match r {
            Refusal::Invalid(e) => ControlError::Invalid(e),
            Refusal::NotFound(e) => ControlError::NotFound {
                field: e.field,
                message: e.message,
            },
        }
    }
}

impl From<FieldError> for ControlError {
    fn from(e: FieldError) -> ControlError {
        ControlError::Invalid(e)
    }
}
