//! [`Shader`]: an effect at one instant, the time-only part done, ready
//! to shade cells one at a time ([`Shader::cell`]) or a batch at a time
//! ([`Shader::shade`]: one `match` per batch, loops without a branch on
//! the effect, so the compiler vectorises them; the same bits as the cell
//! path, tested in `batch_edges.rs`). Light without a colour temperature
//! (Kelvin +0, the usual pixel show) takes loops without the Kelvin logic.

use super::gradient::{gradient_cell, gradient_lanes};
use super::math::{cos_reduced, round_small, wrap_unit};
use super::travel::{chase_cell, rainbow_cell, wave, wave_cell, wave_in_range};
use super::twinkle::{twinkle_at, twinkle_cell, twinkle_kept};
use super::CellSlices;
use crate::color::{Color, Light};

/// An effect at one instant, ready to shade cells: the time-only part done.
/// [`Shader::cell`] is the per-cell part; the engine runs it over layers in
/// batches (one `match` per batch, none per cell).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shader<'a> {
    /// The same for every cell (solid, fade, pulse, sequence).
    Steady(Color, f32),
    Chase {
        on: Color,
        off: Color,
        off_level: f32,
        head: i64,
        width: i64,
        every: u32,
    },
    Wave {
        per_metre: f64,
        travel: f64,
        from: Color,
        to: Option<Color>,
        depth: f32,
    },
    Gradient {
        colors: &'a [Color],
        scroll: Option<f64>,
    },
    Rainbow {
        per_metre: f64,
        offset: f64,
        saturation: f32,
    },
    Twinkle {
        base: Color,
        sparkle: Color,
        density: f32,
        slots: f64,
        seed: u64,
    },
    /// A media frame: each cell's colour, found by its rank (a media
    /// layer's rank is its cell's place in the layer).
    Media { frame: &'a [[u8; 3]] },
}

impl Shader<'_> {
    /// Colour and level of one cell (its place along the layer, its 0..1
    /// extent position, rank, the layer's cell count and its site index).
    #[inline]
    pub(crate) fn cell(&self, along: f32, u: f32, index: u32, count: u32, id: u32) -> (Color, f32) {
        match *self {
            Shader::Steady(c, l) => (c, l),
            Shader::Chase {
                on,
                off,
                off_level,
                head,
                width,
                every,
            } => chase_cell(on, off, off_level, head, width, every, index, count),
            Shader::Wave {
                per_metre,
                travel,
                from,
                to,
                depth,
            } => wave_cell(from, to, depth, per_metre, travel, along),
            Shader::Gradient { colors, scroll } => gradient_cell(colors, scroll, u),
            Shader::Rainbow {
                per_metre,
                offset,
                saturation,
            } => rainbow_cell(per_metre, offset, saturation, along),
            Shader::Twinkle {
                base,
                sparkle,
                density,
                slots,
                seed,
            } => twinkle_cell(base, sparkle, density, slots, seed, id),
            Shader::Media { frame } => (media_cell(frame, index), 1.0),
        }
    }

    /// Whether every light this shades carries no temperature (Kelvin
    /// exactly +0): blending such light into a look without one needs no
    /// Kelvin logic either.
    pub(crate) fn plain(&self) -> bool {
        match *self {
            Shader::Steady(c, _) => plain(c),
            Shader::Chase { on, off, .. } => plain(on) && plain(off),
            Shader::Wave { from, to, .. } => plain(from) && to.is_none_or(plain),
            Shader::Gradient { colors, .. } => colors.iter().all(|&c| plain(c)),
            Shader::Rainbow { .. } => true,
            Shader::Twinkle { base, sparkle, .. } => plain(base) && plain(sparkle),
            Shader::Media { .. } => true,
        }
    }

    /// The light of a batch of a layer's cells at the layer's `level`:
    /// `out[k]` is cell k's colour at (its level × `level`, clamped), the
    /// cells given as slices of the layer's per-cell data. One `match` per
    /// batch and the same per-cell arithmetic as [`Shader::cell`], in loops
    /// without a branch on the effect, so the compiler can vectorise them.
    pub(crate) fn shade(&self, cells: CellSlices<'_>, count: u32, level: f32, out: &mut [Light]) {
        let n = out.len();
        let (along, u, rank, ids) = (
            &cells.along[..n],
            &cells.u[..n],
            &cells.rank[..n],
            &cells.ids[..n],
        );
        let light = |(c, l): (Color, f32)| c.at((l * level).clamp(0.0, 1.0));
        match *self {
            Shader::Steady(c, l) => out.fill(light((c, l))),
            Shader::Chase {
                on,
                off,
                off_level,
                head,
                width,
                every,
            } => {
                for (o, &index) in out.iter_mut().zip(rank) {
                    *o = light(chase_cell(
                        on, off, off_level, head, width, every, index, count,
                    ));
                }
            }
            Shader::Wave {
                per_metre,
                travel,
                from,
                to,
                depth,
            } => match to {
                // Two colours without a temperature: the blend has none
                // either, so the loop skips the Kelvin logic.
                Some(to) if plain(from) && plain(to) => {
                    if wave_in_range(along, per_metre, travel) {
                        // Every argument below 2^52 in size: the rounding
                        // to the nearest turn without its range select.
                        for (o, &a) in out.iter_mut().zip(along) {
                            let x = a as f64 * per_metre - travel;
                            let w = 0.5 + 0.5 * cos_reduced((x - round_small(x)) as f32);
                            *o = light((lerp_plain(from, to, w), 1.0));
                        }
                    } else {
                        for (o, &a) in out.iter_mut().zip(along) {
                            let w = wave(a, per_metre, travel);
                            *o = light((lerp_plain(from, to, w), 1.0));
                        }
                    }
                }
                _ => {
                    for (o, &a) in out.iter_mut().zip(along) {
                        *o = light(wave_cell(from, to, depth, per_metre, travel, a));
                    }
                }
            },
            Shader::Gradient { colors, scroll } => {
                if gradient_lanes(colors, scroll, u, level, out) {
                    // The usual pixel gradient: done in branch-free lanes.
                } else if colors.len() >= 2 && colors.iter().all(|&c| plain(c)) {
                    // `sample` inlined: its segment arithmetic without the
                    // call, the match on the colour count or the Kelvin logic.
                    let (top, last) = ((colors.len() - 1) as f32, colors.len() - 2);
                    let at = |u: f32| {
                        let x = u.clamp(0.0, 1.0) * top;
                        let i = (x as usize).min(last);
                        lerp_plain(colors[i], colors[i + 1], x - i as f32)
                    };
                    match scroll {
                        Some(off) => {
                            for (o, &x) in out.iter_mut().zip(u) {
                                *o = light((at(wrap_unit(x as f64 - off)), 1.0));
                            }
                        }
                        None => {
                            for (o, &x) in out.iter_mut().zip(u) {
                                *o = light((at(x), 1.0));
                            }
                        }
                    }
                } else {
                    for (o, &x) in out.iter_mut().zip(u) {
                        *o = light(gradient_cell(colors, scroll, x));
                    }
                }
            }
            Shader::Rainbow {
                per_metre,
                offset,
                saturation,
            } => {
                for (o, &a) in out.iter_mut().zip(along) {
                    *o = light(rainbow_cell(per_metre, offset, saturation, a));
                }
            }
            Shader::Media { frame } => {
                let lv = level.clamp(0.0, 1.0);
                for (o, &index) in out.iter_mut().zip(rank) {
                    let c = media_cell(frame, index);
                    *o = Light {
                        r: c.r * lv,
                        g: c.g * lv,
                        b: c.b * lv,
                        kelvin: 0.0,
                    };
                }
            }
            Shader::Twinkle {
                base,
                sparkle,
                density,
                slots,
                seed,
            } => {
                // The usual batch: the layer's kept phases, in 0..1.
                let params = (base, sparkle, density, slots, seed);
                let done = match cells.phase.get(..n) {
                    Some(phase) if plain(base) && plain(sparkle) => {
                        twinkle_kept(params, (ids, phase), level, lerp_plain, out)
                    }
                    Some(phase) => twinkle_kept(params, (ids, phase), level, Color::lerp, out),
                    None => false,
                };
                if done {
                    // Shaded.
                } else if cells.phase.len() >= n && plain(base) && plain(sparkle) {
                    // Kept phases `twinkle_kept` declined (outside 0..1, or
                    // slots beyond 2^50), two colours without a temperature.
                    for ((o, &id), &phase) in out.iter_mut().zip(ids).zip(&cells.phase[..n]) {
                        let x = slots + phase as f64;
                        *o = light(twinkle_at(base, sparkle, density, x, seed, id, lerp_plain));
                    }
                } else if cells.phase.len() >= n {
                    for ((o, &id), &phase) in out.iter_mut().zip(ids).zip(&cells.phase[..n]) {
                        let x = slots + phase as f64;
                        *o = light(twinkle_at(base, sparkle, density, x, seed, id, Color::lerp));
                    }
                } else {
                    for (o, &id) in out.iter_mut().zip(ids) {
                        *o = light(twinkle_cell(base, sparkle, density, slots, seed, id));
                    }
                }
            }
        }
    }
}

/// A media cell's colour: its sampled 8-bit value read as a colour
/// written `#rrggbb` is (the same light `color` gives for that hex), dark
/// for a cell the frame does not cover (a layer's own cells never are).
#[inline(always)]
pub(super) fn media_cell(frame: &[[u8; 3]], index: u32) -> Color {
    const K: f32 = 1.0 / 255.0;
    match frame.get(index as usize) {
        Some(&[r, g, b]) => Color::rgb(f32::from(r) * K, f32::from(g) * K, f32::from(b) * K),
        None => Color::BLACK,
    }
}

/// Whether a colour carries no temperature (Kelvin exactly +0): a blend of
/// two such colours has none either ([`Color::lerp`] picks one of the two
/// zeros), so [`lerp_plain`] gives the same bits.
#[inline(always)]
pub(super) fn plain(c: Color) -> bool {
    c.kelvin.to_bits() == 0
}

/// [`Color::lerp`] of two [`plain`] colours: the same RGB arithmetic,
/// without the Kelvin branches.
#[inline(always)]
pub(super) fn lerp_plain(a: Color, b: Color, f: f32) -> Color {
    Color {
        r: a.r + (b.r - a.r) * f,
        g: a.g + (b.g - a.g) * f,
        b: a.b + (b.b - a.b) * f,
        kelvin: 0.0,
    }
}
