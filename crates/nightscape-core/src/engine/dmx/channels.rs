//! One fixture by the general rules, channel by channel: the light of a
//! scope (the whole head, or one pixel cell) becomes emitter levels (a
//! dimmer or colour × intensity through the profile's curve, white and
//! amber taken from the common part of the mix, warm/cool split by colour
//! temperature), then each channel of the mode gets its value (`_fine` the
//! low byte of 16 bits, pan/tilt degrees onto the profile's travel).

use super::FixtureMotion;
use crate::color::{estimate_kelvin, Light};
use crate::fixture::{Channel, DimmerCurve, Mode, Profile, Role};
use crate::site::{Site, UNIVERSE_SIZE};

/// Emitter levels of one scope (a cell, or the head of a fixture), 0..=1.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Emitters {
    pub(super) dimmer: f32,
    pub(super) red: f32,
    pub(super) green: f32,
    pub(super) blue: f32,
    pub(super) white: f32,
    pub(super) amber: f32,
    pub(super) warm: f32,
    pub(super) cool: f32,
    pub(super) cct: f32,
}

/// Which emitters a scope has, so extraction only happens where it helps.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Caps {
    pub(super) rgb: bool,
    pub(super) white: bool,
    pub(super) amber: bool,
    pub(super) warm_cool: bool,
    pub(super) cct: bool,
    pub(super) dimmer: bool,
}

pub(super) fn caps(mode: &Mode, cell: Option<u16>) -> Caps {
    let mut c = Caps::default();
    // All cells of a pixel mode share a layout: look at cell 0's channels.
    let scope = cell.map(|_| 0);
    for ch in mode.channels.iter().filter(|ch| ch.cell == scope) {
        match ch.role {
            Role::Red | Role::Green | Role::Blue => c.rgb = true,
            Role::White => c.white = true,
            Role::Amber => c.amber = true,
            Role::Warm | Role::Cool => c.warm_cool = true,
            Role::Cct => c.cct = true,
            Role::Dimmer => c.dimmer = true,
            _ => {}
        }
    }
    c
}

/// Colour (premultiplied, or normalised when a dimmer carries intensity)
/// into emitter levels.
pub(super) fn emitters(
    light: Light,
    scale: f32,
    caps: Caps,
    profile: &Profile,
    curve: Option<DimmerCurve>,
) -> Emitters {
    let (mut r, mut g, mut b) = (light.r * scale, light.g * scale, light.b * scale);
    let mut e = Emitters::default();
    let value = r.max(g).max(b);
    // Only tunable whites need the temperature; estimating it is the one
    // expensive step of the mapping, so RGB fixtures never pay for it.
    let m = if caps.warm_cool || caps.cct {
        let kelvin = if light.kelvin > 0.0 {
            light.kelvin
        } else {
            estimate_kelvin(r, g, b)
        };
        ((kelvin - profile.warm_k) / (profile.cool_k - profile.warm_k)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    e.cct = m;
    if caps.warm_cool {
        // Both emitters full at the middle of the range, the way tunable
        // whites are specified (constant maximum, not constant sum).
        e.warm = value * (2.0 * (1.0 - m)).min(1.0);
        e.cool = value * (2.0 * m).min(1.0);
    }
    if caps.rgb {
        if caps.white {
            let w = r.min(g).min(b);
            e.white = w;
            r -= w;
            g -= w;
            b -= w;
        }
        if caps.amber {
            // Amber ≈ (1, 0.75, 0): take what red and green share in that ratio.
            let a = r.min(g / 0.75);
            e.amber = a;
            r -= a;
            g -= 0.75 * a;
        }
        e.red = r;
        e.green = g;
        e.blue = b;
    } else if caps.white {
        e.white = value;
    }
    if let Some(curve) = curve {
        for v in [
            &mut e.red,
            &mut e.green,
            &mut e.blue,
            &mut e.white,
            &mut e.amber,
            &mut e.warm,
            &mut e.cool,
        ] {
            *v = curve.apply(*v);
        }
    }
    e
}

// `f32::round` is a library call on baseline x86-64 (no SSE4.1), and these
// run three times per pixel. For a non-negative f32, adding 0.5 in f64 is
// exact and truncation is floor, so this is round-half-away-from-zero to
// the bit (tested against `round` below), at a fraction of the cost.
#[inline]
pub(super) fn to16(x: f32) -> u16 {
    (f64::from(x.clamp(0.0, 1.0) * 65535.0) + 0.5) as u16
}

#[inline(always)]
pub(super) fn to8(x: f32) -> u8 {
    // 0..=255.5 (or NaN → 0): through i32, which packs in SIMD registers
    // (a saturating cast straight to u8 does not).
    (f64::from(x.clamp(0.0, 1.0) * 255.0) + 0.5) as i32 as u8
}

pub(super) fn value_of(
    ch: &Channel,
    e: &Emitters,
    motion: &FixtureMotion,
    profile: &Profile,
) -> Option<f32> {
    let or = |v: f32, d: f32| if v.is_nan() { d } else { v };
    Some(match ch.role {
        Role::Dimmer => e.dimmer,
        Role::Red => e.red,
        Role::Green => e.green,
        Role::Blue => e.blue,
        Role::White => e.white,
        Role::Amber => e.amber,
        Role::Warm => e.warm,
        Role::Cool => e.cool,
        Role::Cct => e.cct,
        Role::Uv => 0.0,
        Role::Strobe => or(motion.strobe, 0.0),
        Role::Pan => 0.5 + or(motion.pan, 0.0) / profile.pan_range,
        Role::Tilt => 0.5 + or(motion.tilt, 0.0) / profile.tilt_range,
        Role::Zoom => or(motion.zoom, 0.5),
        Role::Fixed(_) | Role::Unused => return None,
    })
}

/// Emitters of a scope that either has its own dimmer or not.
pub(super) fn scope_emitters(
    light: Light,
    has_dimmer: bool,
    caps: Caps,
    profile: &Profile,
    curve: DimmerCurve,
) -> Emitters {
    if has_dimmer {
        let i = light.intensity();
        let scale = if i > 0.0 { 1.0 / i } else { 0.0 };
        let mut e = emitters(light, scale, caps, profile, None);
        e.dimmer = curve.apply(i);
        e
    } else {
        emitters(light, 1.0, caps, profile, Some(curve))
    }
}

/// One fixture by the general rules (heads, dimmers, whites, motion).
#[allow(clippy::too_many_arguments)]
pub(super) fn map_fixture(
    site: &Site,
    cells: &[Light],
    motion: &FixtureMotion,
    fi: usize,
    head_caps: Caps,
    cell_caps: Caps,
    universe: &mut [u8; UNIVERSE_SIZE],
    scratch: &mut Vec<Emitters>,
) {
    let f = &site.fixtures[fi];
    let profile = &site.profiles[f.profile];
    let mode = &profile.modes[f.mode];
    let curve = profile.dimmer_curve;
    // Head scope: the whole fixture.
    let fixture_intensity = cells.iter().map(Light::intensity).fold(0.0, f32::max);
    let head_dimmer = head_caps.dimmer;
    let head = if mode.pixel {
        // Head colour channels on a pixel fixture (rare) get the average.
        let n = cells.len().max(1) as f32;
        let avg = cells.iter().fold(Light::DARK, |a, c| Light {
            r: a.r + c.r / n,
            g: a.g + c.g / n,
            b: a.b + c.b / n,
            kelvin: a.kelvin.max(c.kelvin),
        });
        scope_emitters(avg, head_dimmer, head_caps, profile, curve)
    } else {
        scope_emitters(
            cells.first().copied().unwrap_or_default(),
            head_dimmer,
            head_caps,
            profile,
            curve,
        )
    };
    let mut head = head;
    if head_dimmer && mode.pixel {
        head.dimmer = curve.apply(fixture_intensity);
    }

    scratch.clear();
    if mode.pixel {
        for c in cells {
            // Under a head dimmer, cells carry their mix relative to the
            // brightest cell; otherwise their own light.
            let e = if head_dimmer {
                let scale = if fixture_intensity > 0.0 {
                    1.0 / fixture_intensity
                } else {
                    0.0
                };
                emitters(*c, scale, cell_caps, profile, None)
            } else {
                scope_emitters(*c, cell_caps.dimmer, cell_caps, profile, curve)
            };
            scratch.push(e);
        }
    }

    let base = f.address as usize - 1;
    for ch in &mode.channels {
        let slot = base + ch.offset as usize;
        if slot >= UNIVERSE_SIZE {
            continue;
        }
        let e = match ch.cell {
            Some(i) if mode.pixel => scratch.get(i as usize).unwrap_or(&head),
            _ => &head,
        };
        universe[slot] = match ch.role {
            Role::Fixed(v) => v,
            Role::Unused => 0,
            _ => {
                let v = value_of(ch, e, motion, profile).unwrap_or(0.0);
                if ch.fine {
                    (to16(v) & 0xff) as u8
                } else if ch.wide {
                    (to16(v) >> 8) as u8
                } else {
                    to8(v)
                }
            }
        };
    }
}
