//! The render core: (site, active shows with their start instants, instant)
//! → the look (light per cell, motion per fixture) → DMX universes.
//!
//! Everything here is a pure function of its arguments: no clock, no socket,
//! no global state (a twinkle layer's memo of lit cells per slot,
//! [`crate::show::Layer::sparkles`], only saves hashing: the look is the
//! same whatever it holds). The daemon, `nightscape render`, the tests and the
//! benchmarks all call the same two functions, [`render_look`] and
//! [`dmx::look_to_frame`], so what the tests check is what goes on the wire.
//!
//! Merging: shows are applied lowest priority first (ties: earlier start
//! first). A show's opacity is its fade envelope (fade-in from its start,
//! fade-out ending at its end), so a higher show fading in crossfades over
//! whatever is below it and reveals it again when it fades out. Within a
//! show, later layers go over earlier ones (LTP) unless a layer says `htp`.
//!
//! A media or text layer may cover its cells only partly (transparent
//! pixels, letters with space around them: [`crate::media::clip::Clip::coverage`]):
//! LTP then mixes each such cell by opacity × coverage, so the layers below
//! show through, and HTP takes its light, already × coverage. Opaque
//! layers, and opaque frames of a clip, take the paths they always took.

pub mod display;
pub mod dmx;

use crate::color::Light;
use crate::show::effect::{CellSlices, Effect, SPARKLE_BATCH};
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

/// Whether a render uses the lit-cell memo its twinkle layers keep
/// ([`crate::show::Layer::sparkles`]). The memo pays off for a timeline
/// (consecutive frames share a slot) and is shared by every render of a
/// compiled show: a second render of other instants at the same time (a
/// preview, a forecast) would make both hash every cell again, so only
/// one timeline should remember. The look is the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LitCells {
    /// Use and update the layer's memo.
    Remembered,
    /// Hash each cell's lit state; the memo is neither read nor written.
    Hashed,
}

/// Sites smaller than this render on one thread: below it, starting a
/// second thread costs more than it saves.
pub const PARALLEL_MIN_CELLS: usize = 20_000;

/// Threads a render or a mapping of `site` uses when `threads` are
/// offered: one below [`PARALLEL_MIN_CELLS`], at most 16.
pub(crate) fn threads_worth(site: &Site, threads: usize) -> usize {
    if site.cells.len() < PARALLEL_MIN_CELLS {
        1
    } else {
        threads.clamp(1, 16)
    }
}

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
    begin_look(site, shows, at, look);
    render_split(
        site,
        shows,
        at,
        &mut look.lights,
        threads,
        LitCells::Remembered,
    );
}

/// Every cell of the look rendered into `lights`, split over up to
/// `threads` threads by contiguous ranges ([`begin_look`] has sized it).
pub(crate) fn render_split(
    site: &Site,
    shows: &[ActiveShow],
    at: DateTime<Utc>,
    lights: &mut [Light],
    threads: usize,
    lit: LitCells,
) {
    let threads = threads_worth(site, threads);
    if threads == 1 {
        render_range(site, shows, at, lights, 0, lit);
    } else {
        let chunk = lights.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let mut parts = lights.chunks_mut(chunk).enumerate();
            let first = parts.next();
            for (k, part) in parts {
                scope.spawn(move || render_range(site, shows, at, part, k * chunk, lit));
            }
            if let Some((_, part)) = first {
                render_range(site, shows, at, part, 0, lit);
            }
        });
    }
}

/// The part of a render that is not split by cells: `look` sized for the
/// site, and every fixture's motion at `at` (which no cell's light depends
/// on). The cells are then rendered by [`render_range`], in any split.
pub(crate) fn begin_look(site: &Site, shows: &[ActiveShow], at: DateTime<Utc>, look: &mut Look) {
    if look.lights.len() != site.cells.len() || look.motion.len() != site.fixtures.len() {
        *look = Look::dark(site);
    } else {
        look.motion.fill(FixtureMotion::UNSET);
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

/// Render the light of cells `first .. first + part.len()` into `part`,
/// whatever was in it: the same light for a cell whichever range it is
/// rendered in.
pub(crate) fn render_range(
    site: &Site,
    shows: &[ActiveShow],
    at: DateTime<Utc>,
    part: &mut [Light],
    first: usize,
    lit: LitCells,
) {
    // Each range is darkened just before it is rendered (at city scale the
    // look is megabytes: one thread clearing all of it before the split
    // was a tenth of the frame in perf at 1,000 universes), and not at all
    // when the first layer drawn replaces every cell of it.
    if !first_layer_replaces(shows, at, first, first + part.len()) {
        part.fill(Light::DARK);
    }
    render_cells(site, shows, at, part, first, lit);
}

/// Whether the first layer blended at `at` (the first layer of the first
/// show [`for_each_in_order`] draws) overwrites every cell of
/// `lo .. hi`: a crossfade at full opacity, no mask, and the layer's first
/// `hi` cells are in place ([`crate::show::Layer::in_place`], worked out
/// when the layer was built: a whole-site layer, the usual base of a city
/// show). What was in the look before does not matter then.
///
/// This asks for cells `0 .. lo` in place too, where a scan of `lo .. hi`
/// alone would not: it says no for a list whose `lo .. hi` are in place
/// behind a shuffled start (a target naming groups out of site order),
/// and the part is then darkened and blended as any other, to the same
/// look. A layer's cells come in site order for `*`, globs and groups
/// written in order, so the usual base is all in place.
fn first_layer_replaces(shows: &[ActiveShow], at: DateTime<Utc>, lo: usize, hi: usize) -> bool {
    let mut first = None;
    for_each_in_order(shows, |active| {
        if first.is_none() && active.opacity(at) > 0.0 {
            first = Some(active);
        }
    });
    let Some(active) = first else {
        return false;
    };
    let Some(layer) = active.show.layers.first() else {
        return false;
    };
    active.mask.is_none()
        && active.opacity(at) >= 1.0
        && layer.blend == Blend::Ltp
        && !matches!(&layer.effect, Effect::Media(m) if m.may_cover_partly())
        && lo <= hi
        && hi <= layer.order.in_place as usize
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

// A twinkle batch fits the sparkle index buffer (else every batch declines).
const _: () = assert!(BATCH <= SPARKLE_BATCH);

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
    memo: LitCells,
) {
    let (lo, hi) = (first as u32, (first + lights.len()) as u32);
    let mut shade = [Light::DARK; BATCH];
    let mut lit = [0u16; SPARKLE_BATCH];
    for_each_in_order(shows, |active| {
        let opacity = active.opacity(at);
        if opacity <= 0.0 {
            return;
        }
        let t = active.phase(at);
        for layer in &active.show.layers {
            let mut held = None;
            let shader = layer.effect.at_instant(t, at, &mut held);
            // How much of each cell a media frame covers (None: all of
            // every cell), by the cell's rank in the layer.
            let mut held_cover = None;
            let cover = match &layer.effect {
                Effect::Media(m) => m.coverage_at(t, at, &mut held_cover),
                _ => None,
            };
            let plain = shader.plain();
            let count = layer.count;
            let sparse = shader
                .unlit(layer.level)
                .and_then(|unlit| Sparse::new(unlit, layer.blend, opacity))
                .zip(shader.sparkles());
            // An ascending list holds the cells of `lo .. hi` in one run,
            // found by two binary searches: a range of a city's look (a
            // thread's, or a tile's) does not walk every batch of the list.
            let (mut i0, end) = if layer.order.ascending {
                let a = layer.cells.partition_point(|&c| c < lo);
                let b = layer.cells.partition_point(|&c| c < hi);
                // Batches stay where they are in the list (the lit-cell
                // memo is kept per batch).
                (a / BATCH * BATCH, b)
            } else {
                (0, layer.cells.len())
            };
            while i0 < end {
                let i1 = (i0 + BATCH).min(layer.cells.len());
                let cells = &layer.cells[i0..i1];
                // A list in no known order (runs, one per fixture, in the
                // order the target named them) is walked whole for every
                // range: batches wholly outside it are skipped. The
                // usual batch is a run of consecutive cells, its ends its
                // bounds (one fold that vectorises, no search).
                let first_cell = cells[0];
                let last = first_cell.checked_add(cells.len() as u32 - 1);
                let consecutive = last.is_some()
                    && cells.iter().enumerate().fold(0, |acc, (k, &c)| {
                        acc | (c ^ first_cell.wrapping_add(k as u32))
                    }) == 0;
                let (min, max) = match last {
                    Some(last) if consecutive => (first_cell, last),
                    _ => cells
                        .iter()
                        .fold((u32::MAX, 0), |(a, b), &c| (a.min(c), b.max(c))),
                };
                if max < lo || min >= hi {
                    i0 = i1;
                    continue;
                }
                let slices = CellSlices {
                    along: &layer.along[i0..i1],
                    u: &layer.u[i0..i1],
                    rank: &layer.rank[i0..i1],
                    ids: cells,
                    phase: layer.phase.get(i0..i1).unwrap_or(&[]),
                };
                if let (Some((sparse, sparkles)), true) = (sparse, consecutive) {
                    // A twinkle whose cells that are not sparkling leave
                    // this run of the look as it is (or, replacing it,
                    // are one colour): only its sparkling cells are
                    // shaded and blended.
                    let (a, b) = (min.max(lo) as usize, (max as usize + 1).min(hi as usize));
                    let run = &mut lights[a - lo as usize..b - lo as usize];
                    let unchanged = match sparse {
                        Sparse::Fill(_) => active.mask.is_none(),
                        Sparse::OverLit => at_or_above_zero(run),
                        Sparse::OverDark => dark(run),
                    };
                    if unchanged {
                        if let Sparse::Fill(unlit) = sparse {
                            // Harmless if the shader declines the batch:
                            // the full path below replaces all of it then.
                            fill(run, unlit);
                        }
                        let remembered = match memo {
                            LitCells::Remembered => layer.sparkles.batch(i0),
                            LitCells::Hashed => None,
                        };
                        let found = match remembered {
                            Some(memo) => sparkles.lit_cells_remembered(slices, &mut lit, memo),
                            None => sparkles.lit_cells(slices, &mut lit),
                        };
                        if let Some(n) = found {
                            for &k in &lit[..n] {
                                let cell = first_cell as usize + k as usize;
                                if cell < a || cell >= b {
                                    continue;
                                }
                                if let Some(mask) = active.mask {
                                    let f = site.cells[cell].fixture as usize;
                                    if !mask.get(f).copied().unwrap_or(false) {
                                        continue;
                                    }
                                }
                                let light = sparkles.light(slices, k as usize, layer.level);
                                // As the masked loop below blends a cell
                                // (the run blends give the same bits).
                                let slot = &mut run[cell - a];
                                *slot = match layer.blend {
                                    Blend::Ltp => slot.mix(light, opacity),
                                    Blend::Htp => slot.htp(light.scaled(opacity)),
                                };
                            }
                            i0 = i1;
                            continue;
                        }
                    }
                }
                if consecutive
                    && cover.is_none()
                    && active.mask.is_none()
                    && layer.blend == Blend::Ltp
                    && opacity >= 1.0
                    && min >= lo
                    && max < hi
                {
                    // A crossfade at full opacity replaces: the run is
                    // shaded straight into the look, not into the batch
                    // buffer and copied (a second pass over megabytes).
                    let run = &mut lights[(min - lo) as usize..=(max - lo) as usize];
                    shader.shade(slices, count, layer.level, run);
                    i0 = i1;
                    continue;
                }
                let out = &mut shade[..i1 - i0];
                shader.shade(slices, count, layer.level, out);
                // Without a mask, the batch is blended run by run: a run of
                // consecutive cells (a fixture's, usually the whole batch,
                // known from the fold above) clipped to this thread's range
                // goes slice to slice, with no index per cell.
                if active.mask.is_none() {
                    let mut s = 0;
                    while s < cells.len() {
                        let mut e = if consecutive { cells.len() } else { s + 1 };
                        while e < cells.len() && cells[e] == cells[e - 1].wrapping_add(1) {
                            e += 1;
                        }
                        let c0 = cells[s] as usize;
                        let (a, b) = (c0.max(lo as usize), (c0 + (e - s)).min(hi as usize));
                        if a < b {
                            let (slots, shaded) = (
                                &mut lights[a - lo as usize..b - lo as usize],
                                &out[s + (a - c0)..s + (b - c0)],
                            );
                            match cover {
                                None => blend_run(slots, shaded, layer.blend, opacity, plain),
                                Some(cover) => {
                                    let ranks = &slices.rank[s + (a - c0)..s + (b - c0)];
                                    for ((slot, &light), &rank) in
                                        slots.iter_mut().zip(shaded).zip(ranks)
                                    {
                                        *slot = blend_covered(
                                            *slot,
                                            light,
                                            layer.blend,
                                            opacity,
                                            covered(cover, rank),
                                        );
                                    }
                                }
                            }
                        }
                        s = e;
                    }
                    i0 = i1;
                    continue;
                }
                for ((&cell, &light), &rank) in cells.iter().zip(out.iter()).zip(slices.rank) {
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
                    *slot = match (cover, layer.blend) {
                        (Some(cover), blend) => {
                            blend_covered(*slot, light, blend, opacity, covered(cover, rank))
                        }
                        (None, Blend::Ltp) => slot.mix(light, opacity),
                        (None, Blend::Htp) => slot.htp(light.scaled(opacity)),
                    };
                }
                i0 = i1;
            }
        }
    });
}

/// How a twinkle layer's cells that are not sparkling
/// ([`crate::show::effect::Shader::unlit`]) blend, when they need no
/// shading or blending one by one (the sparse path of [`render_cells`]).
#[derive(Clone, Copy, Debug)]
enum Sparse {
    /// A crossfade at full opacity: they replace the look with this one
    /// light (a fill, then the sparkling cells), whatever its colour.
    Fill(Light),
    /// HTP of a black base (its primaries +0 at the layer's level and the
    /// show's opacity): `max(below, +0)` is `below` wherever no lane of the
    /// look is negative, −0 or NaN ([`at_or_above_zero`], checked per run),
    /// and [`Light::htp`] keeps the temperature below (+0 is not brighter).
    OverLit,
    /// A crossfade mid-fade of dark light (+0 in every lane) over a dark
    /// look ([`dark`], checked per run: a twinkle as a show's first layer
    /// fading in): +0 + (+0 − +0) × opacity is +0, no temperature.
    OverDark,
}

impl Sparse {
    /// The sparse blend for a twinkle layer whose unlit cells shade to
    /// `unlit`, if its blend at `opacity` (> 0) has one; None keeps the
    /// full path (a coloured base under HTP, a NaN level, …).
    fn new(unlit: Light, blend: Blend, opacity: f32) -> Option<Sparse> {
        let zero = |l: Light| [l.r, l.g, l.b].iter().all(|v| v.to_bits() == 0);
        match blend {
            Blend::Ltp if opacity >= 1.0 => Some(Sparse::Fill(unlit)),
            Blend::Ltp if opacity > 0.0 && zero(unlit) && unlit.kelvin.to_bits() == 0 => {
                Some(Sparse::OverDark)
            }
            Blend::Htp if zero(unlit.scaled(opacity)) => Some(Sparse::OverLit),
            _ => None,
        }
    }
}

/// Whether every lane of `lights` is +0 ..= +∞ (no negative, −0 or NaN):
/// the lanes whose maximum with +0 is themselves, to the bit. In bits that
/// is at most +∞'s (0x7f80_0000): the sign bit clear both in the bits and
/// in the bits + 0x7f_ffff.
#[inline]
fn at_or_above_zero(lights: &[Light]) -> bool {
    lanes_or(lights, |bits| bits | bits.wrapping_add(0x007f_ffff)) & 0x8000_0000 == 0
}

/// Whether every lane of `lights` is +0 (the dark look, to the bit).
#[inline]
fn dark(lights: &[Light]) -> bool {
    lanes_or(lights, |bits| bits) == 0
}

/// The OR of `f` over the bits of every lane of `lights`: one accumulator
/// per lane, which the compiler makes one vector operation per cell, four
/// cells a step.
#[inline(always)]
fn lanes_or(lights: &[Light], f: impl Fn(u32) -> u32) -> u32 {
    let mut acc = [0u32; 4];
    let mut add = |l: &Light| {
        let bits = [l.r, l.g, l.b, l.kelvin].map(f32::to_bits);
        for k in 0..4 {
            acc[k] |= f(bits[k]);
        }
    };
    let mut four = lights.chunks_exact(4);
    for c in &mut four {
        add(&c[0]);
        add(&c[1]);
        add(&c[2]);
        add(&c[3]);
    }
    four.remainder().iter().for_each(add);
    acc[0] | acc[1] | acc[2] | acc[3]
}

/// `run.fill(light)`; dark light as a constant, which is a `memset`.
#[inline]
fn fill(run: &mut [Light], light: Light) {
    if [light.r, light.g, light.b, light.kelvin].map(f32::to_bits) == [0; 4] {
        run.fill(Light::DARK);
    } else {
        run.fill(light);
    }
}

/// A cell's coverage by its rank in the layer (a cell past the frame, which
/// a layer's own cells never are, is covered: dark, as its colour is).
#[inline(always)]
fn covered(cover: &[u8], rank: u32) -> u8 {
    cover.get(rank as usize).copied().unwrap_or(255)
}

/// Blend the light of a cell the layer covers `coverage` of (0..=255):
/// LTP mixes the layer's own colour (its light, which is premultiplied
/// by the coverage, divided by it) by opacity × coverage, so what is below
/// shows through the rest; HTP takes the light as it is (light × alpha).
/// At coverage 255 both are the plain blends, to the bit.
#[inline(always)]
fn blend_covered(slot: Light, light: Light, blend: Blend, opacity: f32, coverage: u8) -> Light {
    match (blend, coverage) {
        (Blend::Htp, _) => slot.htp(light.scaled(opacity)),
        (Blend::Ltp, 255) => slot.mix(light, opacity),
        (Blend::Ltp, 0) => slot,
        (Blend::Ltp, c) => {
            let c = f32::from(c) / 255.0;
            slot.mix(light.scaled(1.0 / c), opacity * c)
        }
    }
}

/// Blend a layer's shaded light into a run of the look; `plain`: the
/// layer's light carries no temperature ([`crate::show::effect::Shader::plain`]).
#[inline(always)]
fn blend_run(slots: &mut [Light], shaded: &[Light], blend: Blend, opacity: f32, plain: bool) {
    // Light without a temperature on both sides (the usual pixel show): the
    // same RGB arithmetic as `mix`/`htp`, whose Kelvin logic gives +0 anyway.
    let plain = plain && !matches!(blend, Blend::Ltp if opacity >= 1.0) && plain_lights(slots);
    match blend {
        Blend::Ltp if opacity >= 1.0 => slots.copy_from_slice(shaded),
        // A crossfade (0 < opacity < 1): each cell one 4-wide blend, as
        // the HTP below; the Kelvin lane +0 + (+0 − +0) × opacity is +0.
        Blend::Ltp if plain && opacity > 0.0 => four_wide(slots, shaded, |below, top| Light {
            r: below.r + (top.r - below.r) * opacity,
            g: below.g + (top.g - below.g) * opacity,
            b: below.b + (top.b - below.b) * opacity,
            kelvin: below.kelvin + (top.kelvin - below.kelvin) * opacity,
        }),
        Blend::Ltp if plain => {
            for (slot, &light) in slots.iter_mut().zip(shaded) {
                *slot = mix_plain(*slot, light, opacity);
            }
        }
        Blend::Ltp => {
            for (slot, &light) in slots.iter_mut().zip(shaded) {
                *slot = slot.mix(light, opacity);
            }
        }
        Blend::Htp if plain => htp_plain_run(slots, shaded, opacity),
        Blend::Htp => {
            for (slot, &light) in slots.iter_mut().zip(shaded) {
                *slot = slot.htp(light.scaled(opacity));
            }
        }
    }
}

/// [`Light::htp`] of each slot and its light scaled by `opacity`, neither
/// with a temperature: the highest of each primary, Kelvin +0. The Kelvin
/// lane is computed like the primaries (from two +0: +0 × opacity is +0 or
/// NaN, and the maximum of +0 and either is +0), so each cell is one 4-wide
/// maximum ([`four_wide`]).
#[inline(always)]
fn htp_plain_run(slots: &mut [Light], shaded: &[Light], opacity: f32) {
    four_wide(slots, shaded, |below, top| Light {
        r: below.r.max(top.r * opacity),
        g: below.g.max(top.g * opacity),
        b: below.b.max(top.b * opacity),
        kelvin: below.kelvin.max(top.kelvin * opacity),
    });
}

/// `slot = blend(slot, top)` over a run, four whole cells per step. With a
/// `blend` that does the same to each field, the compiler packs each cell
/// into one vector load, operation and store (a cell is four consecutive
/// floats); one cell per step, it vectorises across cells instead and
/// gathers each field with scalar loads (≈ 2.5× the instructions).
#[inline(always)]
fn four_wide(slots: &mut [Light], shaded: &[Light], blend: impl Fn(Light, Light) -> Light) {
    let mut slot4 = slots.chunks_exact_mut(4);
    let mut top4 = shaded.chunks_exact(4);
    for (s, t) in (&mut slot4).zip(&mut top4) {
        s[0] = blend(s[0], t[0]);
        s[1] = blend(s[1], t[1]);
        s[2] = blend(s[2], t[2]);
        s[3] = blend(s[3], t[3]);
    }
    for (slot, &top) in slot4.into_remainder().iter_mut().zip(top4.remainder()) {
        *slot = blend(*slot, top);
    }
}

/// Whether no light of `lights` carries a temperature (Kelvin exactly +0).
#[inline(always)]
fn plain_lights(lights: &[Light]) -> bool {
    lights.iter().fold(0, |acc, l| acc | l.kelvin.to_bits()) == 0
}

/// [`Light::mix`] of two lights without a temperature, for `f` in 0..1
/// (the caller copies at 1 and skips at 0): its RGB arithmetic, Kelvin +0.
#[inline(always)]
fn mix_plain(below: Light, top: Light, f: f32) -> Light {
    Light {
        r: below.r + (top.r - below.r) * f,
        g: below.g + (top.g - below.g) * f,
        b: below.b + (top.b - below.b) * f,
        kelvin: 0.0,
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::color::Color;
    use crate::config::{self, Config};
    use crate::diag::{Diagnostics, SourceFile};
    use crate::generate::{site_files, SiteSpec, SHOW_NAME};
    use crate::show::effect::CellInput;

    /// A generated site (its `all` show) with `shows` added.
    fn site(universes: u32, shows: &[(&str, &str)]) -> Config {
        let mut sources = crate::generate::sources(site_files(&SiteSpec::new(universes)).unwrap());
        for (name, text) in shows {
            sources
                .shows
                .push(SourceFile::new(format!("{name}.toml"), *text));
        }
        config::compile(sources, Diagnostics::new()).unwrap_or_else(|d| panic!("{:?}", d.items))
    }

    /// The look cell by cell, the plain way: each layer's effect evaluated
    /// alone ([`crate::show::effect::Effect::eval`]) and blended with
    /// [`Light::mix`] / [`Light::htp`] (their Kelvin logic included).
    fn reference(site: &Site, active: &ActiveShow, at: DateTime<Utc>) -> Vec<Light> {
        reference_shows(site, std::slice::from_ref(active), at)
    }

    /// The batched render (its loops without Kelvin logic for light that
    /// has none, and the general ones) equals the cell-by-cell blend to the
    /// bit: pixel shows, shows with colour temperatures under and over
    /// plain light, mid-fade and faded in.
    #[test]
    fn the_batched_render_blends_each_cell_as_mix_and_htp_do() {
        let warm_under = "fade_in = \"4s\"\n\
            [[layers]]\ntarget = \"*\"\neffect = \"solid\"\ncolor = \"3000K\"\nlevel = 0.6\n\
            [[layers]]\ntarget = \"*\"\nblend = \"htp\"\neffect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\ndensity = 0.3\nduration = \"0.5s\"\n\
            [[layers]]\ntarget = \"avenues\"\neffect = \"wave\"\ncolors = [\"#ff4000\", \"#0040ff\"]\nspeed = \"3 m/s\"\nwavelength = \"40 m\"\n";
        let warm_over = "fade_in = \"4s\"\n\
            [[layers]]\ntarget = \"*\"\neffect = \"gradient\"\ncolors = [\"#ff0060\", \"#00c0ff\"]\nspeed = \"2 m/s\"\n\
            [[layers]]\ntarget = \"*\"\nblend = \"htp\"\neffect = \"wave\"\ncolors = [\"2700K\", \"6500K\"]\nspeed = \"3 m/s\"\nwavelength = \"40 m\"\n\
            [[layers]]\ntarget = \"facades\"\neffect = \"gradient\"\ncolors = [\"2700K\", \"#ff0000\"]\nspeed = \"1 m/s\"\n";
        let cfg = site(3, &[("warm-under", warm_under), ("warm-over", warm_over)]);
        let site = &cfg.site;
        let t0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        let mut look = Look::dark(site);
        for name in [SHOW_NAME, "warm-under", "warm-over"] {
            let show = cfg.show(name).unwrap();
            let active = ActiveShow::new(show, t0, None, 0);
            // Mid-fade (crossfades) and faded in (copies), several instants.
            for ms in [1_000, 1_517, 2_900, 30_000, 31_234, 600_025] {
                let at = t0 + chrono::Duration::milliseconds(ms);
                render_look(site, &[active], at, &mut look);
                let want = reference(site, &active, at);
                for (cell, (got, want)) in look.lights.iter().zip(&want).enumerate() {
                    let bits = |l: &Light| [l.r, l.g, l.b, l.kelvin].map(f32::to_bits);
                    assert_eq!(bits(got), bits(want), "{name} at {ms} ms, cell {cell}");
                }
            }
            assert!(look.lights.iter().any(|l| l.kelvin > 0.0) == (name != SHOW_NAME));
        }
    }

    /// A look reused from frame to frame on several threads equals a fresh
    /// one rendered on one thread, whichever show came before: a whole-site
    /// crossfade base (which skips darkening the look and shades straight
    /// into it), a base on part of the site (the `all` show's avenues), a
    /// base mid-fade, and no show at all.
    #[test]
    fn a_reused_look_forgets_the_frame_before() {
        let base = "fade_in = \"4s\"\n\
            [[layers]]\ntarget = \"*\"\neffect = \"gradient\"\ncolors = [\"#ff0060\", \"#00c0ff\"]\nspeed = \"2 m/s\"\n";
        let cfg = site(120, &[("base", base)]);
        let site = &cfg.site;
        assert!(site.cells.len() >= PARALLEL_MIN_CELLS);
        let t0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        let (base, all) = (cfg.show("base").unwrap(), cfg.show(SHOW_NAME).unwrap());
        // (shows, ms after t0): faded in, partial base, mid-fade, nothing.
        let steps: [(&[&Show], i64); 6] = [
            (&[base], 30_000),
            (&[all], 30_025),
            (&[base], 30_050),
            (&[base], 1_000),
            (&[], 2_000),
            (&[all, base], 31_000),
        ];
        for threads in [2, 3] {
            let mut reused = Look::dark(site);
            for (k, (shows, ms)) in steps.iter().enumerate() {
                let active: Vec<ActiveShow> = shows
                    .iter()
                    .enumerate()
                    .map(|(p, s)| ActiveShow::new(s, t0, None, p as i32))
                    .collect();
                let at = t0 + chrono::Duration::milliseconds(*ms);
                render_look_threads(site, &active, at, &mut reused, threads);
                let mut fresh = Look::dark(site);
                render_look(site, &active, at, &mut fresh);
                let bits = |l: &Look| -> Vec<[u32; 4]> {
                    l.lights
                        .iter()
                        .map(|l| [l.r, l.g, l.b, l.kelvin].map(f32::to_bits))
                        .collect()
                };
                assert!(bits(&reused) == bits(&fresh), "step {k}, {threads} threads");
            }
        }
    }

    /// A layer knows how many of its first cells are in place: all of a
    /// whole-site base, a prefix of a partial one, none of a list whose
    /// first two cells are swapped; and whether they ascend (not when
    /// swapped). A look reused under the swapped base (every cell still
    /// covered, but not known to be in place, and walked whole) is the
    /// look rendered fresh, on one thread and several.
    #[test]
    fn a_layer_knows_its_cells_in_place() {
        let base = "[[layers]]\ntarget = \"*\"\neffect = \"gradient\"\ncolors = [\"#ff0060\", \"#00c0ff\"]\nspeed = \"2 m/s\"\n";
        let avenues = "[[layers]]\ntarget = \"avenues\"\neffect = \"wave\"\ncolors = [\"#ff4000\", \"#0040ff\"]\nspeed = \"3 m/s\"\nwavelength = \"40 m\"\n";
        let cfg = site(120, &[("base", base), ("avenues", avenues)]);
        let site = &cfg.site;
        let naive = |cells: &[u32]| {
            (0..cells.len())
                .take_while(|&k| cells[k] as usize == k)
                .count()
        };
        let partial = &cfg.show("avenues").unwrap().layers[0];
        assert!(partial.order.in_place > 0 && (partial.order.in_place as usize) < site.cells.len());
        // The avenues, then the facades: each list ascends.
        assert!(partial.order.ascending);
        for show in [cfg.show("base").unwrap(), cfg.show(SHOW_NAME).unwrap()] {
            for layer in &show.layers {
                assert_eq!(
                    layer.order.in_place as usize,
                    naive(&layer.cells),
                    "{}",
                    layer.target
                );
            }
        }
        let whole = &cfg.show("base").unwrap().layers[0];
        assert_eq!(whole.order.in_place as usize, site.cells.len());
        assert!(whole.order.ascending);
        let mut swapped: Show = (**cfg.show("base").unwrap()).clone();
        {
            let l = &mut swapped.layers[0];
            l.cells.swap(0, 1);
            l.along.swap(0, 1);
            l.u.swap(0, 1);
            l.rank.swap(0, 1);
            l.order = crate::show::CellOrder::of(&l.cells);
            assert_eq!(l.order.in_place, 0);
            assert!(!l.order.ascending);
        }
        let t0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        let at = t0 + chrono::Duration::seconds(30);
        let bits = |l: &Look| -> Vec<[u32; 4]> {
            l.lights
                .iter()
                .map(|l| [l.r, l.g, l.b, l.kelvin].map(f32::to_bits))
                .collect()
        };
        for threads in [1, 2, 3] {
            // The frame before: the `all` show, so a stale cell would show.
            let mut reused = Look::dark(site);
            let all = [ActiveShow::new(cfg.show(SHOW_NAME).unwrap(), t0, None, 0)];
            render_look_threads(site, &all, at, &mut reused, threads);
            // Then the swapped base, and a base on the avenues alone (the
            // rest of the look must go dark).
            for show in [&swapped, &**cfg.show("avenues").unwrap()] {
                let active = [ActiveShow::new(show, t0, None, 0)];
                render_look_threads(site, &active, at, &mut reused, threads);
                let want = reference(site, &active[0], at);
                let got = bits(&reused);
                for (cell, w) in want.iter().enumerate() {
                    let w = [w.r, w.g, w.b, w.kelvin].map(f32::to_bits);
                    assert_eq!(got[cell], w, "{} cell {cell}, {threads} threads", show.name);
                }
            }
        }
    }

    /// [`reference`] over several shows (lowest priority first, distinct
    /// priorities) and their masks: a cell outside a show's mask keeps
    /// the light below.
    pub(crate) fn reference_shows(
        site: &Site,
        shows: &[ActiveShow],
        at: DateTime<Utc>,
    ) -> Vec<Light> {
        let mut order: Vec<&ActiveShow> = shows.iter().collect();
        order.sort_by_key(|a| a.priority);
        let mut lights = vec![Light::DARK; site.cells.len()];
        for active in order {
            let (opacity, t) = (active.opacity(at), active.phase(at));
            if opacity <= 0.0 {
                continue;
            }
            for layer in &active.show.layers {
                for (i, &cell) in layer.cells.iter().enumerate() {
                    let f = site.cells[cell as usize].fixture as usize;
                    if active.mask.is_some_and(|m| !m[f]) {
                        continue;
                    }
                    let (c, l) = layer.effect.eval(&CellInput {
                        t,
                        along: layer.along[i],
                        u: layer.u[i],
                        index: layer.rank[i],
                        count: layer.count,
                        id: cell,
                    });
                    let light = c.at((l * layer.level).clamp(0.0, 1.0));
                    let slot = &mut lights[cell as usize];
                    *slot = match layer.blend {
                        Blend::Ltp => slot.mix(light, opacity),
                        Blend::Htp => slot.htp(light.scaled(opacity)),
                    };
                }
            }
        }
        lights
    }

    /// The sparse twinkle (only sparkling cells shaded and blended) gives
    /// the look of the cell-by-cell blend, to the bit: twinkles under HTP
    /// and LTP, alone (over the dark look) and over a base, off colours
    /// black, not black and a temperature, several seeds, densities and
    /// levels, mid-fade and faded in, masked and not, on one thread and
    /// three; and over a look with −0, NaN and negative lanes (which a
    /// black HTP twinkle's `max(below, +0)` changes: the sparse path must
    /// leave those runs to the full blend).
    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn sparse_twinkle_is_the_full_blend_to_the_bit() {
        let mut shows = Vec::new();
        let mut names = Vec::new();
        for (k, off) in ["#000000", "#102030", "2700K"].iter().enumerate() {
            for blend in ["htp", "ltp"] {
                for (j, (seed, density, level)) in [(7, 0.05, 0.8), (123, 0.5, 1.0), (9, 1.0, 0.3)]
                    .into_iter()
                    .enumerate()
                {
                    // HTP over an off colour that is not black is never
                    // sparse (its unlit cells change the look): one seed
                    // shows the sparse path declines it, the other two
                    // would only run the full blend again.
                    if blend == "htp" && k != 0 && j != 1 {
                        continue;
                    }
                    let twinkle = format!(
                        "[[layers]]\ntarget = \"*\"\nblend = \"{blend}\"\nlevel = {level}\neffect = \"twinkle\"\ncolors = [\"{off}\", \"#ffc080\"]\ndensity = {density}\nduration = \"0.6s\"\nseed = {seed}\n"
                    );
                    let base = "[[layers]]\ntarget = \"avenues\"\neffect = \"wave\"\ncolors = [\"#ff4000\", \"#0040ff\"]\nspeed = \"3 m/s\"\nwavelength = \"40 m\"\n";
                    let alone = format!("fade_in = \"4s\"\n{twinkle}");
                    let over = format!("fade_in = \"4s\"\n{base}{twinkle}");
                    for (what, text) in [("alone", alone), ("over", over)] {
                        names.push(format!("t{k}-{blend}-{seed}-{what}"));
                        shows.push(text);
                    }
                }
            }
        }
        let files: Vec<(&str, &str)> = names
            .iter()
            .map(String::as_str)
            .zip(shows.iter().map(String::as_str))
            .collect();
        let cfg = site(120, &files);
        let site = &cfg.site;
        // Big enough that three threads split the render (mid-batch).
        assert!(
            site.cells.len() >= PARALLEL_MIN_CELLS,
            "{}",
            site.cells.len()
        );
        let t0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        // Every third fixture masked out.
        let mask: Vec<bool> = (0..site.fixtures.len()).map(|f| f % 3 != 1).collect();
        // The first cell whose light differs in any bit.
        let first_bad = |got: &[Light], want: &[Light]| -> Option<usize> {
            assert_eq!(got.len(), want.len());
            got.iter().zip(want).position(|(g, w)| !g.same_bits(w))
        };
        let mut look = Look::dark(site);
        for name in &names {
            let show = cfg.show(name).unwrap();
            // Slots of 0.6 s: a frame a slot on (the layer's memo of lit
            // cells shifted), jumps ahead and back (worked out anew).
            for ms in [1_000, 2_917, 30_000, 30_600, 31_234, 1_500] {
                let at = t0 + chrono::Duration::milliseconds(ms);
                // The reference once per instant: masked, the one show over
                // the dark look leaves a masked-out fixture's cells dark
                // and the rest as unmasked (what `reference_shows` does).
                let open = reference_shows(site, &[ActiveShow::new(show, t0, None, 0)], at);
                let mut shut = open.clone();
                for (light, cell) in shut.iter_mut().zip(&site.cells) {
                    if !mask[cell.fixture as usize] {
                        *light = Light::DARK;
                    }
                }
                for masked in [false, true] {
                    let mut active = ActiveShow::new(show, t0, None, 0);
                    if masked {
                        active.mask = Some(&mask);
                    }
                    let want = if masked { &shut } else { &open };
                    for threads in [1, 3] {
                        render_look_threads(site, &[active], at, &mut look, threads);
                        let bad = first_bad(&look.lights, want);
                        assert!(
                            bad.is_none(),
                            "{name} at {ms} ms, masked {masked}, {threads} threads, cell {bad:?}"
                        );
                    }
                }
            }
        }
        // A base whose lanes are −0, NaN and negative on some fixtures
        // (masked to them), under black HTP twinkles.
        let mut odd: Show = (**cfg.show(SHOW_NAME).unwrap()).clone();
        odd.layers.truncate(1);
        odd.layers[0].effect = crate::show::effect::Effect::Solid {
            color: Color {
                r: -0.0,
                g: f32::NAN,
                b: -0.25,
                kelvin: 0.0,
            },
        };
        let odd_mask: Vec<bool> = (0..site.fixtures.len()).map(|f| f % 5 == 2).collect();
        for name in names.iter().filter(|n| n.starts_with("t0-htp")) {
            let show = cfg.show(name).unwrap();
            let at = t0 + chrono::Duration::milliseconds(30_000);
            let mut below = ActiveShow::new(&odd, t0, None, 0);
            below.mask = Some(&odd_mask);
            let shows = [below, ActiveShow::new(show, t0, None, 1)];
            let want = reference_shows(site, &shows, at);
            for threads in [1, 3] {
                render_look_threads(site, &shows, at, &mut look, threads);
                let bad = first_bad(&look.lights, &want);
                assert!(
                    bad.is_none(),
                    "{name} over odd lanes, {threads} threads, cell {bad:?}"
                );
            }
        }
    }

    /// The plain blends are `mix` and `htp` to the bit where neither light
    /// has a temperature: the blends of runs of every length from 0 to 9
    /// (their four-cell steps and the rest), at several opacities.
    #[test]
    fn plain_blends_are_mix_and_htp() {
        let values = [
            0.0,
            -0.0,
            1.0,
            0.5,
            0.25,
            1e-30,
            0.999_999_9,
            0.3,
            2.0,
            f32::NAN,
        ];
        let bits = |l: Light| [l.r, l.g, l.b, l.kelvin].map(f32::to_bits);
        let mut below_run = Vec::new();
        let mut top_run = Vec::new();
        for &a in &values {
            for &b in &values {
                let below = Color::rgb(a, b, 0.7).at(1.0);
                let top = Color::rgb(b, 0.1, a).at(1.0);
                below_run.push(below);
                top_run.push(top);
                for f in [1e-6, 0.25, 0.5, 0.75, 0.999_999_9, f32::NAN] {
                    let (got, want) = (mix_plain(below, top, f), below.mix(top, f));
                    assert_eq!(bits(got), bits(want), "{a} {b} {f}");
                }
            }
        }
        // Each below against each top, in runs starting anywhere.
        let n = below_run.len();
        let tops: Vec<Light> = (0..n * n).map(|k| top_run[k / n]).collect();
        let belows: Vec<Light> = (0..n * n).map(|k| below_run[k % n]).collect();
        for opacity in [1.0, 0.8, 0.5, 1e-3, 0.999_999_9, f32::NAN] {
            for len in 0..=9 {
                for start in (0..n * n - len).step_by(len.max(1)) {
                    for blend in [Blend::Htp, Blend::Ltp] {
                        let mut slots = belows[start..start + len].to_vec();
                        let top = &tops[start..start + len];
                        blend_run(&mut slots, top, blend, opacity, true);
                        for (k, got) in slots.iter().enumerate() {
                            let (below, top) = (belows[start + k], tops[start + k]);
                            let want = match blend {
                                Blend::Htp => below.htp(top.scaled(opacity)),
                                Blend::Ltp => below.mix(top, opacity),
                            };
                            assert_eq!(bits(*got), bits(want), "{below:?} {top:?} {opacity}");
                        }
                    }
                }
            }
        }
    }
}
