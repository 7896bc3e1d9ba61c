//! The energy model: what the lighting draws, estimated from the DMX
//! actually sent, and the curfew caps and power budgets that limit
//! whatever the schedule and the operators ask for.
//!
//! - [`config`] reads `curfew` and `[energy]` from `site.toml` (located
//!   diagnostics, like every other section);
//! - [`model`] is the pure power model: a frame in, watts per fixture out,
//!   with everything that does not change per frame precomputed per site;
//! - [`limit`] resolves curfew windows per night and solves budget scales.
//!
//! Metering frames into per-night records and the forecast sit one layer
//! up, in [`crate::meter`], because they need a whole loaded site.

pub mod config;
pub mod limit;
pub mod model;

pub use config::{Curfew, EnergyConfig, GroupEnergy, Tariff};
pub use model::PowerModel;

/// Joules in a kilowatt-hour.
pub const J_PER_KWH: f64 = 3.6e6;
