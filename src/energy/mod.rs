//! Energy: what the lighting draws, estimated from the DMX actually sent;
//! power budgets and curfew dimming that cap whatever the schedule and the
//! operators ask for; a per-night record of kWh, peak W, burn hours, cost
//! and CO₂ in SQLite; the forecast of a schedule before it runs; and the
//! reports (table, JSON, CSV, SVG) the CLI and the API serve.
//!
//! The pieces, in the order a frame meets them:
//! - [`config`] reads `curfew` and `[energy]` from `site.toml` (located
//!   diagnostics, like every other section);
//! - [`model`] is the pure power model: a frame in, watts per fixture out,
//!   with everything that does not change per frame precomputed per site;
//! - [`limit`] resolves curfew windows per night and solves budget scales;
//! - [`meter`] turns frames into per-night records ([`meter::Core`] drives
//!   limits and sampling; [`meter::NightRecord`] integrates samples);
//! - [`hook`] is the daemon's [`nightscape_core::pipeline::FrameHook`], feeding a writer
//!   thread; [`store`] is the SQLite file (`<state>/energy.sqlite`; a run on
//!   a simulated clock records into `<state>/simulated/energy.sqlite`
//!   instead, see [`record_dir`]);
//! - the core's `meter::forecast` renders sampled instants of planned nights without a
//!   daemon; [`report`] builds and formats the report from either.
//!
//! `config`, `model`, `limit`, `meter` and `forecast` are pure and live in
//! nightscape-core; the energy configuration types are re-exported here
//! because they are this module's API (no aliases).

pub(crate) mod hook;
pub(crate) mod report;
pub mod store;

// The pure parts live in nightscape-core: the power model, curfews and
// budgets (`energy`), metering and the forecast (`meter`).
pub use hook::{EnergyHook, LivePower};
pub use nightscape_core::energy::{config, limit, model, J_PER_KWH};
pub use nightscape_core::energy::{Curfew, EnergyConfig, GroupEnergy, PowerModel, Tariff};
use nightscape_core::meter::forecast;
pub use nightscape_core::meter::{self, Limiter};
pub use report::{Format, Query, Report};

use std::path::{Path, PathBuf};

/// The sub-folder of the state folder that holds the energy record of runs
/// on a simulated clock (`run --clock`): a designer's 2027 night at 600×
/// is not a night the site drew, so it never enters the real record.
pub(crate) const SIMULATED_DIR: &str = "simulated";

/// The folder whose `energy.sqlite` a run records into: the state folder
/// itself on the system clock, its [`SIMULATED_DIR`] on a simulated one.
pub(crate) fn record_dir(state: &Path, simulated: bool) -> PathBuf {
    if simulated {
        state.join(SIMULATED_DIR)
    } else {
        state.to_path_buf()
    }
}

/// Why an energy operation failed. `BadQuery` names the request field at
/// fault so the API can answer 400 with it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnergyError {
    #[error("{field}: {message}")]
    BadQuery {
        field: &'static str,
        message: String,
    },
    #[error("cannot create the state folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("energy record {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("energy record {path} has schema version {found}, newer than this build knows ({known}): run the newer nightscape or restore a backup")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: usize,
    },
    #[error("energy record: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("energy record holds a value it cannot read: {0}")]
    Corrupt(String),
}

impl From<forecast::BadQuery> for EnergyError {
    fn from(e: forecast::BadQuery) -> Self {
        EnergyError::BadQuery {
            field: e.field,
            message: e.message,
        }
    }
}

impl EnergyError {
    /// Whether the caller asked for something wrong (4xx) rather than the
    /// record failing (5xx).
    pub(crate) fn is_bad_request(&self) -> bool {
        matches!(self, EnergyError::BadQuery { .. })
    }

    /// The request field at fault, for a 4xx body.
    pub(crate) fn field(&self) -> Option<&'static str> {
        match self {
            EnergyError::BadQuery { field, .. } => Some(field),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
