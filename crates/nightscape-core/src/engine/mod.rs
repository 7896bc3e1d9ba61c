//! The render core: (site, active shows with their start instants, instant)
//! → the look (light per cell, motion per fixture) → DMX universes.
//!
//! Everything here is a pure function of its arguments: no clock, no socket,
//! no global state. The daemon, `nightscape render`, the tests and the
//! benchmarks all call the same two functions, [`render_look`] and
//! [`dmx::look_to_frame`], so what the tests check is what goes on the wire.
//!
//! Merging: shows are applied lowest priority first (ties: earlier start
//! first). A show's opacity is its fade envelope (fade-in from its start,
//! fade-out ending at its end), so a higher show fading in crossfades over
//! whatever is below it and reveals it again when it fades out. Within a
//! show, later layers go over earlier ones (LTP) unless a layer says `htp`.

pub mod display;
pub mod dmx;

use crate::color::Light;
use crate::show::effect::CellSlices;
use crate::show::{Blend, Show};
use crate::site::Site;
use chrono::{DateTime, Utc};

pub use dmx::{look_to_frame, Frame};

/// A show playing over some interval.
#[derive(Debug, Clone, Copy)]
pub struct ActiveShow<'a> {
    pub show: &'a Show,
    /// The instant its phase counts from (the entry's or trigger's start).
    pub started: DateTime<Utc>,
    /// When it ends (its fade-out finishes here); None = open-ended.
    pub ends: Option<DateTime<Utc>>,
    pub priority: i32,
    /// Restrict the show to these fixtures (indexed by fixture; true =
    /// included). None = wherever its layers point.
    pub mask: Option<&'a [bool]>,
    /// It continues a run that ended at its start (a 24-hour entry across
    /// the noon between two nights): no fade-in.
    pub continued: bool,
    /// A run of the same entry starts at its end: no fade-out.
    pub continues: bool,
}

impl<'a> ActiveShow<'a> {
    pub fn new(
        show: &'a Show,
        started: DateTime<Utc>,
        ends: Option<DateTime<Utc>>,
        priority: i32,
    ) -> Self {
        ActiveShow {
            show,
            started,
            ends,
            priority,
            mask: None,
            continued: false,
            continues: false,
        }
    }

    /// Seconds since the show started (negative before it).
    pub fn phase(&self, at: DateTime<Utc>) -> f64 {
        seconds_between(self.started, at)
    }

    /// Opacity of the show at `at`: its fade envelope, 0 outside its interval.
    pub fn opacity(&self, at: DateTime<Utc>) -> f32 {
        let t = self.phase(at);
        if t < 0.0 {
            return 0.0;
        }
        let fade_in = if self.show.fade_in > 0.0 && !self.continued {
            (t / self.show.fade_in).min(1.0)
        } else {
            1.0
        };
        let fade_out = match self.ends {
            None => 1.0,
            Some(end) => {
                let left = seconds_between(at, end);
                if left <= 0.0 {
                    0.0
                } else if self.show.fade_out > 0.0 && !self.continues {
                    (left / self.show.fade_out).min(1.0)
                } else {
                    1.0
                }
            }
        };
        fade_in.min(fade_out) as f32
    }
}

/// Seconds from a to b with sub-microsecond care (no float drift over years).
pub fn seconds_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    let d = b.signed_duration_since(a);
    d.num_seconds() as f64 + d.subsec_nanos() as f64 * 1e-9
}

/// Motion attributes of a fixture; NaN means "no layer set it" and maps to
/// the profile's centre / default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixtureMotion {
    pub pan: f32,
    pub tilt: f32,
    pub zoom: f32,
    pub strobe: f32,
}

impl FixtureMotion {
    pub const UNSET: FixtureMotion = FixtureMotion {
        pan: f32::NAN,
        tilt: f32::NAN,
        zoom: f32::NAN,
        strobe: f32::NAN,
    };
}

/// What every cell emits and every moving fixture does at one instant.
#[derive(Debug, PartialEq)]
pub struct Look {
    pub lights: Vec<Light>,
    pub motion: Vec<FixtureMotion>,
}

// By hand: a derived `clone_from` is `*self = source.clone()`, which
// allocates; the frame pipeline copies a look into a reused one every frame.
impl Clone for Look {
    fn clone(&self) -> Look {
        Look {
            lights: self.lights.clone(),
            motion: self.motion.clone(),
        }
    }

    fn clone_from(&mut self, source: &Look) {
        self.lights.clone_from(&source.lights);
        self.motion.clone_from(&source.motion);
    }
}

impl Look {
    pub fn dark(site: &Site) -> Look {
        Look {
            lights: vec![Light::DARK; site.cells.len()],
            motion: vec![FixtureMotion::UNSET; site.fixtures.len()],
        }
    }

    fn clear(&mut self) {
        self.lights.fill(Light::DARK);
        self.motion.fill(FixtureMotion::UNSET);
    }

    /// Light of one fixture's cells.
    pub fn fixture_cells(&self, site: &Site, fixture: u32) -> &[Light] {
        let f = &site.fixtures[fixture as usize];
        &self.lights[f.first_cell as usize..f.first_cell as usize + f.cell_count as usize]
    }
}

/// Render the look at `at` into `look` (reused across frames: no allocation
/// on the hot path).
pub fn render_look(site: &Site, shows: &[ActiveShow], at: DateTime<Utc>, look: &mut Look) {
    render_look_threads(site, shows, at, look, 1);
}

/// Sites smaller than this render on one thread: below it, starting a
/// second thread costs more than it saves.
pub const PARALLEL_MIN_CELLS: usize = 20_000;

/// [`render_look`] split over up to `threads` threads by contiguous cell
/// ranges. Every cell is computed by the same code whichever thread runs
/// it, so the look is identical to the one-thread render.
pub fn render_look_threads(
    site: &Site,
    shows: &[ActiveShow],
    at: DateTime<Utc>,
    look: &mut Look,
    threads: usize,
) {
    if look.lights.len() != site.cells.len() || look.motion.len() != site.fixtures.len() {
        *look = Look::dark(site);
    } else {
        look.clear();
    }
    let threads = if site.cells.len() < PARALLEL_MIN_CELLS {
        1
    } else {
        threads.clamp(1, 16)
    };
    if threads == 1 {
        render_cells(site, shows, at, &mut look.lights, 0);
    } else {
        let chunk = look.lights.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let mut parts = look.lights.chunks_mut(chunk).enumerate();
            let first = parts.next();
            for (k, part) in parts {
                scope.spawn(move || render_cells(site, shows, at, part, k * chunk));
            }
            if let Some((_, part)) = first {
                render_cells(site, shows, at, part, 0);
            }
        });
    }
    for_each_in_order(shows, |active| {
        let opacity = active.opacity(at);
        if opacity <= 0.0 {
            return;
        }
        let t = active.phase(at);
        for layer in &active.show.layers {
            if let Some(m) = &layer.motion {
                let (pan, tilt) = m.at(t);
                for &f in &layer.fixtures {
                    if active
                        .mask
                        .is_some_and(|mask| !mask.get(f as usize).copied().unwrap_or(false))
                    {
                        continue;
                    }
                    let cur = &mut look.motion[f as usize];
                    let mix = |below: f32, top: f32| {
                        if below.is_nan() || opacity >= 1.0 {
                            top
                        } else {
                            below + (top - below) * opacity
                        }
                    };
                    cur.pan = mix(cur.pan, pan);
                    cur.tilt = mix(cur.tilt, tilt);
                    cur.zoom = mix(cur.zoom, m.zoom);
                    cur.strobe = mix(cur.strobe, m.strobe);
                }
            }
        }
    });
}

/// Visit the shows lowest priority first, ties by start then by position
/// (what a stable sort gives), without allocating an order.
fn for_each_in_order<'a>(shows: &'a [ActiveShow<'a>], mut f: impl FnMut(&'a ActiveShow<'a>)) {
    let key = |i: usize| (shows[i].priority, shows[i].started, i);
    let mut last = None;
    for _ in 0..shows.len() {
        let next = (0..shows.len())
            .filter(|&i| last.is_none_or(|l| key(i) > l))
            .min_by_key(|&i| key(i));
        let Some(i) = next else { break };
        last = Some(key(i));
        f(&shows[i]);
    }
}

/// Cells a layer is shaded in at a time: the batch's light fits in L1.
const BATCH: usize = 256;

/// Render the light of cells `first .. first + lights.len()` into `lights`.
///
/// Each layer is shaded in batches ([`crate::show::effect::Shader::shade`]:
/// one loop per effect, no branch on the effect per cell), then blended
/// cell by cell into the look.
pub(crate) fn render_cells(
    site: &Site,
    shows: &[ActiveShow],
    at: DateTime<Utc>,
    lights: &mut [Light],
    first: usize,
) {
    let (lo, hi) = (first as u32, (first + lights.len()) as u32);
    let mut shade = [Light::DARK; BATCH];
    for_each_in_order(shows, |active| {
        let opacity = active.opacity(at);
        if opacity <= 0.0 {
            return;
        }
        let t = active.phase(at);
        for layer in &active.show.layers {
            let shader = layer.effect.at(t);
            let count = layer.count;
            let mut i0 = 0;
            while i0 < layer.cells.len() {
                let i1 = (i0 + BATCH).min(layer.cells.len());
                let cells = &layer.cells[i0..i1];
                // Each thread walks the whole list and takes its own range
                // (a layer's cells come in runs, one per fixture, in no
                // assumed order): batches wholly outside are skipped.
                let (min, max) = cells
                    .iter()
                    .fold((u32::MAX, 0), |(a, b), &c| (a.min(c), b.max(c)));
                if max < lo || min >= hi {
                    i0 = i1;
                    continue;
                }
                let out = &mut shade[..i1 - i0];
                let slices = CellSlices {
                    along: &layer.along[i0..i1],
                    u: &layer.u[i0..i1],
                    rank: &layer.rank[i0..i1],
                    ids: cells,
                    phase: layer.phase.get(i0..i1).unwrap_or(&[]),
                };
                shader.shade(slices, count, layer.level, out);
                // Without a mask, the batch is blended run by run: a run of
                // consecutive cells (a fixture's, usually the whole batch)
                // clipped to this thread's range goes slice to slice, with
                // no index per cell.
                if active.mask.is_none() {
                    let mut s = 0;
                    while s < cells.len() {
                        let mut e = s + 1;
                        while e < cells.len() && cells[e] == cells[e - 1].wrapping_add(1) {
                            e += 1;
                        }
                        let c0 = cells[s] as usize;
                        let (a, b) = (c0.max(lo as usize), (c0 + (e - s)).min(hi as usize));
                        if a < b {
                            blend_run(
                                &mut lights[a - lo as usize..b - lo as usize],
                                &out[s + (a - c0)..s + (b - c0)],
                                layer.blend,
                                opacity,
                            );
                        }
                        s = e;
                    }
                    i0 = i1;
                    continue;
                }
                for (&cell, &light) in cells.iter().zip(out.iter()) {
                    if cell < lo || cell >= hi {
                        continue;
                    }
                    if let Some(mask) = active.mask {
                        let f = site.cells[cell as usize].fixture as usize;
                        if !mask.get(f).copied().unwrap_or(false) {
                            continue;
                        }
                    }
                    let slot = &mut lights[(cell - lo) as usize];
                    *slot = match layer.blend {
                        Blend::Ltp => slot.mix(light, opacity),
                        Blend::Htp => slot.htp(light.scaled(opacity)),
                    };
                }
                i0 = i1;
            }
        }
    });
}

/// Blend a layer's shaded light into a run of the look.
#[inline(always)]
fn blend_run(slots: &mut [Light], shaded: &[Light], blend: Blend, opacity: f32) {
    match blend {
        Blend::Ltp if opacity >= 1.0 => slots.copy_from_slice(shaded),
        Blend::Ltp => {
            for (slot, &light) in slots.iter_mut().zip(shaded) {
                *slot = slot.mix(light, opacity);
            }
        }
        Blend::Htp => {
            for (slot, &light) in slots.iter_mut().zip(shaded) {
                *slot = slot.htp(light.scaled(opacity));
            }
        }
    }
}

/// Intensity limits applied after the shows are merged: per-fixture scale
/// (grand and group masters, level overrides) and per-fixture cap (curfew,
/// power budgets). Scale multiplies; the cap lowers a fixture's brightest
/// cell to at most the cap, keeping its colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub scale: Vec<f32>,
    pub cap: Vec<f32>,
}

impl Limits {
    pub fn none(site: &Site) -> Limits {
        Limits {
            scale: vec![1.0; site.fixtures.len()],
            cap: vec![1.0; site.fixtures.len()],
        }
    }

    pub fn is_none(&self) -> bool {
        self.scale.iter().all(|&s| s == 1.0) && self.cap.iter().all(|&c| c >= 1.0)
    }
}

/// A fixture's (scale, cap), clamped to 0..=1; None when neither limits it.
#[inline]
pub(crate) fn fixture_limit(limits: &Limits, fixture: usize) -> Option<(f32, f32)> {
    let scale = limits
        .scale
        .get(fixture)
        .copied()
        .unwrap_or(1.0)
        .clamp(0.0, 1.0);
    let cap = limits
        .cap
        .get(fixture)
        .copied()
        .unwrap_or(1.0)
        .clamp(0.0, 1.0);
    (scale < 1.0 || cap < 1.0).then_some((scale, cap))
}

/// One cell under its fixture's scale and cap.
#[inline(always)]
pub(crate) fn limit_light(c: Light, scale: f32, cap: f32) -> Light {
    let l = c.scaled(scale);
    let i = l.intensity();
    if i > cap {
        l.scaled(cap / i)
    } else {
        l
    }
}

/// Apply limits to a rendered look.
pub fn apply_limits(site: &Site, look: &mut Look, limits: &Limits) {
    for (fi, f) in site.fixtures.iter().enumerate() {
        let Some((scale, cap)) = fixture_limit(limits, fi) else {
            continue;
        };
        let cells =
            &mut look.lights[f.first_cell as usize..f.first_cell as usize + f.cell_count as usize];
        for c in cells {
            *c = limit_light(*c, scale, cap);
        }
    }
}

/// Render straight to DMX: the convenience the CLI and tests use.
pub fn render_frame(site: &Site, shows: &[ActiveShow], at: DateTime<Utc>) -> Frame {
    let mut look = Look::dark(site);
    render_look(site, shows, at, &mut look);
    let mut frame = Frame::new(site);
    look_to_frame(site, &look, &mut frame);
    frame
}
