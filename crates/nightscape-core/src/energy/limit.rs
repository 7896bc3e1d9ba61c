//! Limits from energy rules, as pure functions: when a curfew is in force
//! (resolved per noon-to-noon night with the schedule's own time rules) and
//! which uniform intensity scale brings a scope under its power budget.
//!
//! Budget scales are solved on the model, not by trial mapping: scaling a
//! fixture's intensity by `t` scales the DMX level it is sent by `t^k`
//! (`k` from its dimmer curve: 1 linear, 2 square, g for gamma), so its
//! load becomes `load × t^k` and its watts follow the power curve. A
//! bisection on `t` then finds the largest scale whose predicted watts fit.
//! The prediction is exact up to 8-bit rounding and curfew caps (a capped
//! fixture does not dim until the scale reaches its cap), which is why the
//! frame hook re-maps and checks again.

use super::config::Curfew;
use super::model::PowerModel;
use crate::schedule::plan::Schedule;
use chrono::{DateTime, NaiveDate, Utc};

/// The curfew's interval in night `date`, or None when it does not happen
/// that night (its end is not after its start, e.g. "to = sunrise" under
/// the midnight sun). The interval is clipped to the night.
pub fn curfew_window(
    schedule: &Schedule,
    date: NaiveDate,
    curfew: &Curfew,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (night_start, night_end) = schedule.window(date);
    let from = schedule.resolve(date, &curfew.from, None)?;
    let to = schedule.resolve(date, &curfew.to, Some(from))?;
    let (from, to) = (from.max(night_start), to.min(night_end));
    (from < to).then_some((from, to))
}

/// Predicted watts of `members` if their intensity is scaled by `t`, from
/// their current loads.
pub(crate) fn predicted_w(model: &PowerModel, members: &[u32], load: &[f32], t: f32) -> f64 {
    members
        .iter()
        .map(|&f| {
            let f = f as usize;
            let l = load.get(f).copied().unwrap_or(0.0);
            let scaled = if t >= 1.0 {
                l
            } else {
                l * t.max(0.0).powf(model.exponent(f))
            };
            model.watts_at(f, scaled) as f64
        })
        .sum()
}

/// The largest scale in 0..=1 whose predicted watts for `members` fit
/// `target`. Returns 1 when they already fit and 0 when even dark they do
/// not (a budget below the standby draw).
pub(crate) fn solve_scale(model: &PowerModel, members: &[u32], load: &[f32], target: f64) -> f32 {
    if predicted_w(model, members, load, 1.0) <= target {
        return 1.0;
    }
    if predicted_w(model, members, load, 0.0) > target {
        return 0.0;
    }
    // Bisection: 24 halvings put the scale within 6e-8, far below a DMX step.
    let (mut lo, mut hi) = (0.0f32, 1.0f32);
    for _ in 0..24 {
        let mid = 0.5 * (lo + hi);
        if predicted_w(model, members, load, mid) <= target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}
