//! The forecast: what planned nights will draw, without a daemon.
//!
//! Each night (noon to noon) is cut into steps of `step` seconds; the
//! instant in the middle of each step is rendered with the same pieces the
//! daemon uses — [`crate::pipeline::Scheduled`] for what plays, the pure
//! engine for the look and the DMX, the energy [`Core`] for curfew caps and
//! budgets and the power sample — and the sample is booked for the whole
//! step. Operator overrides, scenes and masters are not forecast: they are
//! not planned.
//!
//! Error: midpoint sampling is exact for constant power and for power that
//! changes linearly within a step; what it misses are fades and effects
//! faster than the step, which average out over a site. A show that starts
//! or stops inside a step is booked as if it had held the step's middle
//! state, so each edge is off by at most half a step of its power: with the
//! default 10 s step a night with ten edges errs by under a minute of show
//! power (well under 0.1 % of a 5-hour night).

use super::{book_split, Core, NightRecord};
use crate::config::Config;
use crate::control::CompiledControl;
use crate::engine;
use crate::pipeline::{FrameBuilder, Program, Scheduled};
use chrono::{Duration, NaiveDate};
use std::collections::BTreeMap;

/// A forecast asked for something it cannot do; `field` names the
/// request field at fault so the API can answer 400 with it.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BadQuery {
    pub field: &'static str,
    pub message: String,
}

/// The default sampling step, seconds of show time.
pub const DEFAULT_STEP_S: f64 = 10.0;
/// The longest forecast, in nights.
pub const MAX_DAYS: u32 = 366;

/// Forecast `days` nights from `from`, sampling every `step_s` seconds.
pub fn nights(
    config: &Config,
    from: NaiveDate,
    days: u32,
    step_s: f64,
) -> Result<Vec<NightRecord>, BadQuery> {
    if days == 0 || days > MAX_DAYS {
        return Err(BadQuery {
            field: "days",
            message: format!("forecast 1 to {MAX_DAYS} nights, not {days}"),
        });
    }
    if !(step_s.is_finite() && (0.05..=3600.0).contains(&step_s)) {
        return Err(BadQuery {
            field: "step",
            message: format!("the sampling step must be 0.05 s to 1 h, not {step_s} s"),
        });
    }
    let site = &config.site;
    let program = Scheduled::default();
    let mut core = Core::new();
    // Every sample probes the uncapped output (samples are ≥ 50 ms apart).
    core.probe_every = 0.0;
    let mut builder = FrameBuilder::new(site);
    let control = CompiledControl::default();
    let mut records: BTreeMap<NaiveDate, NightRecord> = BTreeMap::new();
    let step = Duration::nanoseconds((step_s * 1e9) as i64);
    for d in 0..days {
        let Some(night) = from.checked_add_days(chrono::Days::new(d as u64)) else {
            break;
        };
        records.insert(night, NightRecord::new(night));
        let (start, end) = config.schedule.window(night);
        let mut t0 = start;
        while t0 < end {
            let t1 = (t0 + step).min(end);
            let dt = engine::seconds_between(t0, t1);
            let at = t0 + (t1 - t0) / 2;
            let active = program.active(config, at);
            builder.build(config, &active, &control, &mut [&mut core], at);
            let sample = core.sample(config, at, &active, &builder.frame);
            book_split(&mut records, config, sample, t0, dt);
            t0 = t1;
        }
    }
    Ok(records.into_values().collect())
}
