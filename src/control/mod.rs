//! Operator control in the daemon: the one owner of what operators asked
//! for, below every way of asking.
//!
//! What an override, a scene or a master *means* is pure and lives in the
//! core (`nightscape_core::control`, re-exported here so the daemon reads
//! one path). What it takes to put one *in force* — the store, the lock
//! that orders changes, the compiled snapshot the frame loop reads, the
//! fleet's outbox — is the daemon's, and lives here in [`ControlService`].
//! The API, the fleet, show-control triggers and OSC all sit above this
//! module and go through the same service, so a command is checked, stored
//! and applied the same way wherever it comes from.

pub use nightscape_core::control::*;

mod error;
pub mod service;
mod state;

pub use error::ControlError;
pub use state::ItemState;

/// Longest TTL, scene duration or fade a command may ask for: a year.
/// Anything longer is a typo, and it keeps instant arithmetic far from
/// overflow. The API's document says the same; the fleet holds commands
/// from other nodes to it too.
pub(crate) const MAX_SECONDS: f64 = 366.0 * 86_400.0;
/// Fade for overrides that do not say (a blackout defaults to a cut).
pub(crate) const DEFAULT_FADE_S: f64 = 2.0;
/// Longest target, show name or note a command may carry.
pub(crate) const MAX_TEXT: usize = 500;
pub(crate) use service::{add_seconds, no_reply, Change, Written, MAX_OVERRIDES};
pub use service::{Book, ControlService};
pub(crate) use service::{Controlled, Numbered};
