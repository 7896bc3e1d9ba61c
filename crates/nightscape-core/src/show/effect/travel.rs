//! The effects that travel along the layer's axis: a chase stepping cell
//! by cell, a wave moving at its speed, and a rainbow's hues spread along
//! the axis and cycling in time.

use super::math::{cos_turns, wrap_unit};
use crate::color::Color;

#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn chase_cell(
    on: Color,
    off: Color,
    off_level: f32,
    head: i64,
    width: i64,
    every: u32,
    index: u32,
    count: u32,
) -> (Color, f32) {
    // A chase repeats every `every` cells, and at the latest after the last
    // cell, so it wraps around instead of running off the end.
    let every = every.min(count).max(1) as i64;
    let d = (index as i64 - head).rem_euclid(every);
    if d < width {
        (on, 1.0)
    } else {
        (off, off_level)
    }
}

#[inline(always)]
pub(super) fn wave_cell(
    from: Color,
    to: Option<Color>,
    depth: f32,
    per_metre: f64,
    travel: f64,
    along: f32,
) -> (Color, f32) {
    let w = wave(along, per_metre, travel);
    match to {
        Some(to) => (from.lerp(to, w), 1.0),
        None => (from, 1.0 - depth + depth * w),
    }
}

#[inline(always)]
pub(super) fn rainbow_cell(
    per_metre: f64,
    offset: f64,
    saturation: f32,
    along: f32,
) -> (Color, f32) {
    let hue = wrap_unit(along as f64 * per_metre + offset);
    (hsv(hue, saturation), 1.0)
}

/// 0.5 + 0.5 cos(2π (along / wavelength − travel)): a travelling wave.
#[inline(always)]
pub(crate) fn wave(along: f32, per_metre: f64, travel: f64) -> f32 {
    0.5 + 0.5 * cos_turns(along as f64 * per_metre - travel)
}

/// Whether every wave argument `along × per_metre − travel` of a batch is
/// below 2^51 in size (so [`round_small`] is [`round_even`]): each
/// position under 2^49 / per_metre (NaN fails), `travel` under 2^49. One
/// compare per cell, in lanes.
#[inline(always)]
pub(super) fn wave_in_range(along: &[f32], per_metre: f64, travel: f64) -> bool {
    const LIMIT: f64 = 562_949_953_421_312.0; // 2^49
    let lim = (LIMIT / per_metre.abs()) as f32;
    travel.abs() < LIMIT && along.iter().fold(true, |ok, &a| ok & (a.abs() < lim))
}

/// HSV with full value to RGB.
pub(crate) fn hsv(h: f32, s: f32) -> Color {
    let h6 = wrap_unit(h as f64) * 6.0;
    // h6 ≥ 0: truncation is floor, without a libm call.
    let i = h6 as i32;
    let f = h6 - i as f32;
    let (p, q, t) = (1.0 - s, 1.0 - s * f, 1.0 - s * (1.0 - f));
    let (r, g, b) = match i {
        0 => (1.0, t, p),
        1 => (q, 1.0, p),
        2 => (p, 1.0, t),
        3 => (p, q, 1.0),
        4 => (t, p, 1.0),
        _ => (1.0, p, q),
    };
    Color::rgb(r, g, b)
}
