//! Gradients: colours spread over the layer's 0..1 extent, optionally
//! scrolling. The usual pixel gradient (2 to 8 colours without a
//! temperature, positions in 0..=1) is shaded in branch-free lanes
//! ([`gradient_lanes`]) with the same bits as the cell arithmetic.

use super::math::wrap_unit;
use super::shader::plain;
use crate::color::{Color, Light};

/// The most stops [`gradient_lanes`] takes: its segment choice is a chain
/// of one compare per stop, cheaper than a gather up to a handful of stops.
pub(super) const LANE_STOPS: usize = 8;

/// A gradient of 2..=[`LANE_STOPS`] colours without a temperature over a
/// batch whose positions are all in 0..=1 (and a scroll offset in 0..=1),
/// shaded in loops without a call, a gather or an early exit, which the
/// compiler vectorises: false (nothing written) when the batch is not such.
///
/// The same bits as the general loop, step by step:
/// - the scroll's `floor` of `u − off` (in −1..=1 here) is −1, 0 or 1 by
///   two compares, +0 in the middle as [`floor`] gives (so −0 − 0 stays −0);
/// - a wrapped position is in −0..1 and an unscrolled one in 0..=1, so the
///   clamp to 0..=1 changes nothing and is left out;
/// - the segment index `min(trunc(y), stops − 2)` of y in 0..=stops−1 is the
///   number of k in 1..=stops−2 with y ≥ k, and the segment's start and its
///   step to the next colour (`b − a`, the subtraction [`lerp_plain`] does
///   per cell) are picked by the same compares.
pub(super) fn gradient_lanes(
    colors: &[Color],
    scroll: Option<f64>,
    u: &[f32],
    level: f32,
    out: &mut [Light],
) -> bool {
    if !(2..=LANE_STOPS).contains(&colors.len())
        || !colors.iter().all(|&c| plain(c))
        || scroll.is_some_and(|off| !(0.0..=1.0).contains(&off))
        || !u
            .iter()
            .fold(true, |all, &x| all & (0.0..=1.0).contains(&x))
    {
        return false;
    }
    match colors.len() {
        2 => gradient_segments::<1>(colors, scroll, u, level, out),
        3 => gradient_segments::<2>(colors, scroll, u, level, out),
        4 => gradient_segments::<3>(colors, scroll, u, level, out),
        5 => gradient_segments::<4>(colors, scroll, u, level, out),
        6 => gradient_segments::<5>(colors, scroll, u, level, out),
        7 => gradient_segments::<6>(colors, scroll, u, level, out),
        _ => gradient_segments::<7>(colors, scroll, u, level, out),
    }
    true
}

/// [`gradient_lanes`] for `S` segments (S + 1 colours).
#[inline(always)]
pub(super) fn gradient_segments<const S: usize>(
    colors: &[Color],
    scroll: Option<f64>,
    u: &[f32],
    level: f32,
    out: &mut [Light],
) {
    // Each segment's start and step, per primary.
    let mut start = [[0.0f32; 3]; S];
    let mut step = [[0.0f32; 3]; S];
    for k in 0..S {
        let (a, b) = (colors[k], colors[k + 1]);
        start[k] = [a.r, a.g, a.b];
        step[k] = [b.r - a.r, b.g - a.g, b.b - a.b];
    }
    let top = S as f32;
    // The light closure's level for a gradient's level 1.
    let lv = (1.0 * level).clamp(0.0, 1.0);
    let shade = |s: f32| {
        let y = s * top;
        let (mut a, mut d, mut i) = (start[0], step[0], 0.0f32);
        for k in 1..S {
            let above = y >= k as f32;
            a = if above { start[k] } else { a };
            d = if above { step[k] } else { d };
            i = if above { k as f32 } else { i };
        }
        let f = y - i;
        Light {
            r: (a[0] + d[0] * f) * lv,
            g: (a[1] + d[1] * f) * lv,
            b: (a[2] + d[2] * f) * lv,
            kelvin: 0.0,
        }
    };
    match scroll {
        Some(off) => {
            for (o, &x) in out.iter_mut().zip(u) {
                let x = x as f64 - off;
                let whole = if x < 0.0 {
                    -1.0
                } else if x >= 1.0 {
                    1.0
                } else {
                    0.0
                };
                let s = (x - whole) as f32;
                // As in `wrap_unit`: just below 1 in f64 can round to 1.
                *o = shade(if s >= 1.0 { 0.0 } else { s });
            }
        }
        None => {
            for (o, &x) in out.iter_mut().zip(u) {
                *o = shade(x);
            }
        }
    }
}

#[inline(always)]
pub(super) fn gradient_cell(colors: &[Color], scroll: Option<f64>, u: f32) -> (Color, f32) {
    let u = match scroll {
        Some(off) => wrap_unit(u as f64 - off),
        None => u,
    };
    (sample(colors, u), 1.0)
}

/// Piecewise-linear sample of a colour list at u in 0..=1.
pub(super) fn sample(colors: &[Color], u: f32) -> Color {
    match colors.len() {
        0 => Color::BLACK,
        1 => colors[0],
        n => {
            let x = u.clamp(0.0, 1.0) * (n - 1) as f32;
            // x ≥ 0 (or NaN): truncation is floor, without a libm call.
            let i = (x as usize).min(n - 2);
            colors[i].lerp(colors[i + 1], x - i as f32)
        }
    }
}
