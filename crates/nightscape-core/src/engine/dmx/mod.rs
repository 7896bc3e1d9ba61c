//! DMX mapping: a look (light per cell, motion per fixture) becomes channel
//! values per the fixture's profile mode.
//!
//! The rules, in the order a lighting tech would check them:
//! - a mode with a dimmer carries intensity on the dimmer (through the
//!   profile's dimmer curve) and the colour mix at full on the colour
//!   channels; without one, colour channels carry colour × intensity through
//!   the curve. A head dimmer on a pixel fixture carries the brightest cell.
//! - RGBW/RGBA extract white (and amber) from the common part of the RGB mix.
//! - warm/cool whites split by colour temperature (the Kelvin the designer
//!   wrote, or one estimated from the RGB); a `cct` channel carries it
//!   directly.
//! - `_fine` channels carry the low byte of a 16-bit value.
//! - pan/tilt map degrees from centre onto the profile's travel.
//!
//! `channels.rs` holds those rules for one fixture, `pixels.rs` the fast
//! path for plain RGB pixels (SSE2 lanes), `tiles.rs` the patch cut into
//! cache-sized tiles; this file plans a site's mapping once ([`DmxMap`])
//! and runs it over universes.

mod channels;
mod pixels;
mod tiles;

pub(crate) use tiles::TILE_CELLS;

use crate::color::Light;
use crate::engine::{FixtureMotion, Limits, Look};
use crate::fixture::{DimmerCurve, Role};
use crate::site::{Site, UNIVERSE_SIZE};
use channels::{caps, map_fixture, Caps, Emitters};
use pixels::{curved, rgb_pixels};
use std::sync::Mutex;
use tiles::{next_tile, TileCursor, Tiles};

/// One frame of DMX: every universe the site sends, in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub universes: Vec<u16>,
    pub data: Vec<[u8; UNIVERSE_SIZE]>,
}

impl Frame {
    pub fn new(site: &Site) -> Frame {
        Frame {
            universes: site.universes.clone(),
            data: vec![[0; UNIVERSE_SIZE]; site.universes.len()],
        }
    }

    pub fn universe(&self, u: u16) -> Option<&[u8; UNIVERSE_SIZE]> {
        self.universes.binary_search(&u).ok().map(|i| &self.data[i])
    }

    /// JSON shape of `nightscape render`: {"universes": {"0": [..512]}}.
    pub fn to_json(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .universes
            .iter()
            .zip(&self.data)
            .map(|(u, d)| (u.to_string(), serde_json::Value::from(d.to_vec())))
            .collect();
        serde_json::json!({ "universes": map })
    }
}

/// Map a look onto DMX universes (the frame's buffers are overwritten).
/// Builds the per-fixture plan each call: a frame loop keeps a [`DmxMap`].
pub fn look_to_frame(site: &Site, look: &Look, frame: &mut Frame) {
    DmxMap::new(site).map(site, look, frame, 1);
}

/// The straightforward mapping, recomputing every fixture's capabilities
/// each call: kept as the reference [`DmxMap`] is tested against.
#[doc(hidden)]
pub fn look_to_frame_reference(site: &Site, look: &Look, frame: &mut Frame) {
    if frame.universes != site.universes {
        *frame = Frame::new(site);
    }
    for d in &mut frame.data {
        d.fill(0);
    }
    let mut scratch: Vec<Emitters> = Vec::new();
    for (fi, f) in site.fixtures.iter().enumerate() {
        let mode = site.mode_of(f);
        let head_caps = caps(mode, None);
        let cell_caps = if mode.pixel {
            caps(mode, Some(0))
        } else {
            head_caps
        };
        let universe = &mut frame.data[f.universe_index as usize];
        let cells = look.fixture_cells(site, fi as u32);
        map_fixture(
            site,
            cells,
            &look.motion[fi],
            fi,
            head_caps,
            cell_caps,
            universe,
            &mut scratch,
        );
    }
}

/// What a fixture's plan and its place in the patch depend on.
fn fixture_signature(f: &crate::site::Fixture) -> [u32; 5] {
    [
        f.universe_index,
        f.first_cell,
        u32::from(f.address) << 16 | u32::from(f.cell_count),
        f.profile as u32,
        f.mode as u32,
    ]
}

/// How one fixture maps, worked out once per site instead of per frame.
#[derive(Debug, Clone, Copy)]
struct FixturePlan {
    head_caps: Caps,
    cell_caps: Caps,
    /// Pixel cells that are exactly red, green, blue at 3 × cell, with no
    /// head channels: the bulk of a city's pixels, mapped in a tight loop.
    rgb_pixels: bool,
}

/// The DMX mapping of a site, with every fixture's capabilities and
/// channel layout precomputed, and its scratch kept between frames (the
/// mapping allocates nothing per frame).
#[derive(Debug, Clone)]
pub struct DmxMap {
    plans: Vec<FixturePlan>,
    patch: Patch,
    /// Per fixture, what the plans and the patch were worked out from
    /// ([`fixture_signature`]): a reload that re-patches fixtures without
    /// changing their number must not reuse them.
    signature: Vec<[u32; 5]>,
    /// The site's cell count: the tiles cover exactly these.
    cells: usize,
    /// Per thread: a fixture's limited cells and their emitters.
    scratch: Vec<Scratch>,
    /// The patch cut into tiles for [`DmxMap::render_and_map`]; None when
    /// the universes do not take their cells in ascending order.
    tiles: Option<Tiles>,
}

impl DmxMap {
    pub fn new(site: &Site) -> DmxMap {
        let plans = site
            .fixtures
            .iter()
            .map(|f| {
                let profile = &site.profiles[f.profile];
                let mode = &profile.modes[f.mode];
                let head_caps = caps(mode, None);
                let cell_caps = if mode.pixel {
                    caps(mode, Some(0))
                } else {
                    head_caps
                };
                let rgb_pixels = mode.pixel
                    && f.cell_count == mode.cells
                    && mode.channels.len() == 3 * mode.cells as usize
                    && mode.channels.iter().enumerate().all(|(k, ch)| {
                        let role = [Role::Red, Role::Green, Role::Blue][k % 3];
                        ch.role == role
                            && ch.cell == Some((k / 3) as u16)
                            && ch.offset as usize == k
                            && !ch.fine
                            && !ch.wide
                    });
                FixturePlan {
                    head_caps,
                    cell_caps,
                    rgb_pixels,
                }
            })
            .collect();
        let patch = Patch::new(site);
        DmxMap {
            plans,
            tiles: Tiles::new(site, &patch, TILE_CELLS),
            patch,
            signature: site.fixtures.iter().map(fixture_signature).collect(),
            cells: site.cells.len(),
            scratch: Vec::new(),
        }
    }

    #[cfg(test)]
    /// Tiles of about `cells` cells instead of [`TILE_CELLS`] (the bytes do
    /// not depend on it): for tests of many tiles on small sites, and for
    /// measuring what the size costs.
    pub(crate) fn with_tile_cells(mut self, site: &Site, cells: usize) -> DmxMap {
        self.tiles = Tiles::new(site, &self.patch, cells.max(1));
        self
    }

    #[cfg(test)]
    /// How many tiles the patch is cut into; 0 when it is not tiled.
    pub(crate) fn tile_count(&self) -> usize {
        self.tiles.as_ref().map_or(0, Tiles::len)
    }

    /// Whether this map was built for `site`'s patch: the same universes
    /// and cells, and every fixture at the same universe, address and
    /// first cell with the same profile, mode and cell count. (A profile whose mode's channels
    /// change under the same index is not seen here: the daemon builds a
    /// new map on every configuration switch.)
    pub(crate) fn fits(&self, site: &Site) -> bool {
        self.plans.len() == site.fixtures.len()
            && self.cells == site.cells.len()
            && self.patch.fixture_starts.len() == site.universes.len() + 1
            && self
                .signature
                .iter()
                .zip(&site.fixtures)
                .all(|(s, f)| *s == fixture_signature(f))
    }

    /// Map a look onto DMX universes (the frame's buffers are overwritten),
    /// over up to `threads` threads by contiguous universe ranges; the
    /// bytes do not depend on the thread count.
    pub fn map(&mut self, site: &Site, look: &Look, frame: &mut Frame, threads: usize) {
        self.map_limited(site, look, None, frame, threads);
    }

    /// [`DmxMap::map`] of the look with `limits` applied, without a copy
    /// of the look: each cell is limited as it is mapped, by the same
    /// arithmetic as [`super::apply_limits`] (so the bytes equal mapping a
    /// limited copy; tested).
    pub fn map_limited(
        &mut self,
        site: &Site,
        look: &Look,
        limits: Option<&Limits>,
        frame: &mut Frame,
        threads: usize,
    ) {
        let threads = self.ready(site, frame, threads);
        let (plans, patch) = (&self.plans[..], &self.patch);
        if threads == 1 || frame.data.len() < 2 {
            map_range(
                site,
                LookPart::whole(look),
                limits,
                plans,
                patch,
                &mut frame.data,
                0,
                &mut self.scratch[0],
            );
            return;
        }
        let look = LookPart::whole(look);
        let chunk = frame.data.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let mut parts = frame
                .data
                .chunks_mut(chunk)
                .zip(self.scratch.iter_mut())
                .enumerate();
            let first = parts.next();
            for (k, (part, scratch)) in parts {
                scope.spawn(move || {
                    map_range(site, look, limits, plans, patch, part, k * chunk, scratch)
                });
            }
            if let Some((_, (part, scratch))) = first {
                map_range(site, look, limits, plans, patch, part, 0, scratch);
            }
        });
    }
}

impl DmxMap {
    /// Made for `site`'s patch, `frame` shaped for it and a scratch for
    /// each thread; the threads a mapping of `site` is worth.
    fn ready(&mut self, site: &Site, frame: &mut Frame, threads: usize) -> usize {
        if !self.fits(site) {
            *self = DmxMap::new(site);
        }
        if frame.universes != site.universes {
            *frame = Frame::new(site);
        }
        let threads = super::threads_worth(site, threads);
        if self.scratch.len() < threads {
            self.scratch.resize_with(threads, Scratch::default);
        }
        threads
    }

    /// Render the look's cells with `render` and map them, tile by tile
    /// ([`Tiles`]): each tile's universes are mapped right after its cells
    /// are rendered, while they are still in the core's cache, instead of
    /// the whole look being written out to memory and read back (at 10,000
    /// universes the look is 27 MB; mapped apart, a frame took 58 % more
    /// time per cell than at 1,000). Threads take the next tile as they
    /// finish one, so a thread that was preempted holds back no other.
    ///
    /// `render(part, first)` must fill `part` with the light of cells
    /// `first .. first + part.len()`, and the look's motion must be set.
    /// The look and the bytes are those of rendering the whole look and
    /// then [`DmxMap::map_limited`]. Returns false, having done nothing,
    /// when the patch has no tiles (the caller renders and maps apart).
    pub(crate) fn render_and_map(
        &mut self,
        site: &Site,
        look: &mut Look,
        render: impl Fn(&mut [Light], usize) + Sync,
        limits: Option<&Limits>,
        frame: &mut Frame,
        threads: usize,
    ) -> bool {
        let threads = self.ready(site, frame, threads);
        let Some(tiles) = &self.tiles else {
            return false;
        };
        if look.lights.len() != site.cells.len() {
            return false;
        }
        let (plans, patch) = (&self.plans[..], &self.patch);
        let Look { lights, motion } = look;
        let motion = &motion[..];
        let work = Mutex::new(TileCursor {
            next: 0,
            lights: &mut lights[..],
            data: &mut frame.data[..],
        });
        let run = |scratch: &mut Scratch| {
            while let Some((k, part, data)) = next_tile(&work, tiles) {
                let (first, u) = (tiles.cells[k] as usize, tiles.universes[k] as usize);
                render(part, first);
                let look = LookPart {
                    lights: part,
                    first,
                    motion,
                };
                map_range(site, look, limits, plans, patch, data, u, scratch);
            }
        };
        let (mine, others) = self.scratch.split_at_mut(1);
        if threads == 1 || tiles.len() < 2 {
            run(&mut mine[0]);
            return true;
        }
        std::thread::scope(|scope| {
            for scratch in others.iter_mut().take(threads - 1) {
                scope.spawn(|| run(scratch));
            }
            run(&mut mine[0]);
        });
        true
    }
}

/// A mapping thread's buffers, kept between frames.
#[derive(Debug, Clone, Default)]
struct Scratch {
    lights: Vec<Light>,
    emitters: Vec<Emitters>,
}

/// Which fixtures each universe holds and which of its channels none of
/// them writes, worked out once per site: a mapping thread visits only its
/// own universes' fixtures (not the whole patch, which at 10,000 universes
/// on two threads is 10,000 fixtures skipped per thread) and zeroes only the
/// unpatched channels, not every universe before writing it again.
#[derive(Debug, Clone, Default)]
struct Patch {
    /// Fixture indices grouped by universe, in site order within one (so
    /// overlapping fixtures overwrite each other as in the reference).
    fixtures: Vec<u32>,
    /// Universe `u`'s fixtures: `fixtures[fixture_starts[u]..fixture_starts[u + 1]]`.
    fixture_starts: Vec<u32>,
    /// Channel ranges (start, end) no fixture writes, grouped by universe.
    gaps: Vec<(u16, u16)>,
    gap_starts: Vec<u32>,
}

impl Patch {
    fn new(site: &Site) -> Patch {
        let n = site.universes.len();
        let mut by_universe: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (fi, f) in site.fixtures.iter().enumerate() {
            if let Some(u) = by_universe.get_mut(f.universe_index as usize) {
                u.push(fi as u32);
            }
        }
        let mut patch = Patch::default();
        patch.fixture_starts.push(0);
        patch.gap_starts.push(0);
        for fixtures in &by_universe {
            // The channels the mapping writes: every channel of a fixture's
            // mode that falls inside the universe (`map_fixture` writes each
            // one, fixed and unused ones included; `rgb_pixels` the same
            // three per cell).
            let mut written = [false; UNIVERSE_SIZE];
            for &fi in fixtures {
                let f = &site.fixtures[fi as usize];
                let base = f.address as usize - 1;
                for ch in &site.mode_of(f).channels {
                    if let Some(w) = written.get_mut(base + ch.offset as usize) {
                        *w = true;
                    }
                }
            }
            let mut c = 0;
            while c < UNIVERSE_SIZE {
                let start = c;
                while c < UNIVERSE_SIZE && !written[c] {
                    c += 1;
                }
                if c > start {
                    patch.gaps.push((start as u16, c as u16));
                }
                while c < UNIVERSE_SIZE && written[c] {
                    c += 1;
                }
            }
            patch.fixtures.extend(fixtures);
            patch.fixture_starts.push(patch.fixtures.len() as u32);
            patch.gap_starts.push(patch.gaps.len() as u32);
        }
        patch
    }
}

/// The cells `first .. first + lights.len()` of a look, and every
/// fixture's motion: what mapping the universes of those cells reads.
#[derive(Clone, Copy)]
struct LookPart<'a> {
    lights: &'a [Light],
    first: usize,
    motion: &'a [FixtureMotion],
}

impl<'a> LookPart<'a> {
    fn whole(look: &'a Look) -> LookPart<'a> {
        LookPart {
            lights: &look.lights,
            first: 0,
            motion: &look.motion,
        }
    }
}

/// Map the fixtures patched into universes `first .. first + data.len()`
/// (every cell they read is in `look`).
#[allow(clippy::too_many_arguments)]
fn map_range(
    site: &Site,
    look: LookPart<'_>,
    limits: Option<&Limits>,
    plans: &[FixturePlan],
    patch: &Patch,
    data: &mut [[u8; UNIVERSE_SIZE]],
    first: usize,
    scratch: &mut Scratch,
) {
    for (k, universe) in data.iter_mut().enumerate() {
        let u = first + k;
        let range = |starts: &[u32]| starts[u] as usize..starts[u + 1] as usize;
        for &(a, b) in &patch.gaps[range(&patch.gap_starts)] {
            universe[a as usize..b as usize].fill(0);
        }
        for &fi in &patch.fixtures[range(&patch.fixture_starts)] {
            map_one(site, look, limits, plans, fi as usize, universe, scratch);
        }
    }
}

/// Map one fixture into its universe.
fn map_one(
    site: &Site,
    look: LookPart<'_>,
    limits: Option<&Limits>,
    plans: &[FixturePlan],
    fi: usize,
    universe: &mut [u8; UNIVERSE_SIZE],
    scratch: &mut Scratch,
) {
    let (f, plan) = (&site.fixtures[fi], &plans[fi]);
    let profile = &site.profiles[f.profile];
    let first = f.first_cell as usize - look.first;
    let cells = &look.lights[first..first + f.cell_count as usize];
    let limit = limits.and_then(|l| super::fixture_limit(l, fi));
    let base = f.address as usize - 1;
    if plan.rgb_pixels {
        let slots = &mut universe[base.min(UNIVERSE_SIZE)..];
        match (profile.dimmer_curve, limit) {
            (DimmerCurve::Linear, None) => rgb_pixels::<false>(cells, slots, |l| l),
            (DimmerCurve::Linear, Some((scale, cap))) => {
                rgb_pixels::<false>(cells, slots, |l| super::limit_light(l, scale, cap))
            }
            (DimmerCurve::Square, None) => rgb_pixels::<true>(cells, slots, |l| l),
            (DimmerCurve::Square, Some((scale, cap))) => {
                rgb_pixels::<true>(cells, slots, |l| super::limit_light(l, scale, cap))
            }
            (curve, None) => rgb_pixels::<false>(cells, slots, |l| curved(curve, l)),
            (curve, Some((scale, cap))) => rgb_pixels::<false>(cells, slots, |l| {
                curved(curve, super::limit_light(l, scale, cap))
            }),
        }
        return;
    }
    let cells = match limit {
        None => cells,
        Some((scale, cap)) => {
            scratch.lights.clear();
            scratch
                .lights
                .extend(cells.iter().map(|&l| super::limit_light(l, scale, cap)));
            &scratch.lights
        }
    };
    map_fixture(
        site,
        cells,
        &look.motion[fi],
        fi,
        plan.head_caps,
        plan.cell_caps,
        universe,
        &mut scratch.emitters,
    );
}

#[cfg(test)]
mod tests;
