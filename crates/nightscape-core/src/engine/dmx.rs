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

use crate::color::{estimate_kelvin, Light};
use crate::engine::{FixtureMotion, Limits, Look};
use crate::fixture::{Channel, DimmerCurve, Mode, Profile, Role};
use crate::site::{Site, UNIVERSE_SIZE};
use std::sync::Mutex;

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

/// Emitter levels of one scope (a cell, or the head of a fixture), 0..=1.
#[derive(Debug, Clone, Copy, Default)]
struct Emitters {
    dimmer: f32,
    red: f32,
    green: f32,
    blue: f32,
    white: f32,
    amber: f32,
    warm: f32,
    cool: f32,
    cct: f32,
}

/// Which emitters a scope has, so extraction only happens where it helps.
#[derive(Debug, Clone, Copy, Default)]
struct Caps {
    rgb: bool,
    white: bool,
    amber: bool,
    warm_cool: bool,
    cct: bool,
    dimmer: bool,
}

fn caps(mode: &Mode, cell: Option<u16>) -> Caps {
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
fn emitters(
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
fn to16(x: f32) -> u16 {
    (f64::from(x.clamp(0.0, 1.0) * 65535.0) + 0.5) as u16
}

#[inline(always)]
fn to8(x: f32) -> u8 {
    // 0..=255.5 (or NaN → 0): through i32, which packs in SIMD registers
    // (a saturating cast straight to u8 does not).
    (f64::from(x.clamp(0.0, 1.0) * 255.0) + 0.5) as i32 as u8
}

#[cfg(test)]
mod rounding_tests {
    use super::{to16, to8};

    #[test]
    fn fast_rounding_is_round_to_the_bit() {
        let old8 = |x: f32| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
        let old16 = |x: f32| (x.clamp(0.0, 1.0) * 65535.0).round() as u16;
        // Every f32 from 0 to just over 1 (about a billion: stride through
        // them), the halfway points exactly, and the odd ones.
        let mut bits = 0u32;
        while bits <= 1.0001f32.to_bits() {
            let x = f32::from_bits(bits);
            assert_eq!(to8(x), old8(x), "{x:e}");
            assert_eq!(to16(x), old16(x), "{x:e}");
            bits += 97;
        }
        for k in 0..=255u32 {
            for x in [(k as f32 + 0.5) / 255.0, k as f32 / 255.0] {
                for x in [
                    x,
                    f32::from_bits(x.to_bits() + 1),
                    f32::from_bits(x.to_bits().saturating_sub(1)),
                ] {
                    assert_eq!(to8(x), old8(x), "{x:e}");
                    assert_eq!(to16(x), old16(x), "{x:e}");
                }
            }
        }
        for x in [
            f32::NAN,
            -1.0,
            -0.0,
            2.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MIN_POSITIVE,
        ] {
            assert_eq!(to8(x), old8(x), "{x:e}");
            assert_eq!(to16(x), old16(x), "{x:e}");
        }
    }
}

fn value_of(ch: &Channel, e: &Emitters, motion: &FixtureMotion, profile: &Profile) -> Option<f32> {
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

/// Emitters of a scope that either has its own dimmer or not.
fn scope_emitters(
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

/// Cells a tile holds, about: its light (16 bytes a cell), the layers'
/// per-cell inputs and its DMX stay in a core's L2 cache (512 KiB on this
/// project's reference machine) from being rendered to being mapped.
pub const TILE_CELLS: usize = 16_384;

/// The patch cut into tiles of consecutive universes and the range of
/// cells they read, ranges in ascending order and covering every cell:
/// tile `k` is cells `cells[k] .. cells[k + 1]` and universes
/// `universes[k] .. universes[k + 1]`, and no fixture of those universes
/// has a cell outside the tile's range.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tiles {
    cells: Vec<u32>,
    universes: Vec<u32>,
}

impl Tiles {
    /// Tiles of about `size` cells, cut between universes; None if some
    /// universe has a cell below another cell of a universe before it
    /// (fixtures patched out of cell order), as no cut could then keep
    /// every universe's cells in its tile.
    fn new(site: &Site, patch: &Patch, size: usize) -> Option<Tiles> {
        let mut tiles = Tiles {
            cells: vec![0],
            universes: vec![0],
        };
        // The end of the cells read so far, and where the open tile starts.
        let (mut end, mut start) = (0usize, 0usize);
        for u in 0..site.universes.len() {
            let fixtures = &patch.fixtures
                [patch.fixture_starts[u] as usize..patch.fixture_starts[u + 1] as usize];
            let span = fixtures
                .iter()
                // A fixture without cells counts as its first cell: its
                // empty slice of the look must lie in the tile too.
                .map(|&fi| &site.fixtures[fi as usize])
                .map(|f| {
                    (
                        f.first_cell as usize,
                        f.first_cell as usize + f.cell_count as usize,
                    )
                })
                .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
            let Some((lo, hi)) = span else {
                // No fixtures: mapped with the open tile.
                continue;
            };
            if lo < end {
                return None;
            }
            if end - start >= size {
                tiles.cells.push(lo as u32);
                tiles.universes.push(u as u32);
                start = lo;
            }
            end = hi;
        }
        if end > site.cells.len() {
            return None;
        }
        tiles.cells.push(site.cells.len() as u32);
        tiles.universes.push(site.universes.len() as u32);
        Some(tiles)
    }

    fn len(&self) -> usize {
        self.cells.len() - 1
    }
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

    /// Tiles of about `cells` cells instead of [`TILE_CELLS`] (the bytes do
    /// not depend on it): for tests of many tiles on small sites, and for
    /// measuring what the size costs.
    pub fn with_tile_cells(mut self, site: &Site, cells: usize) -> DmxMap {
        self.tiles = Tiles::new(site, &self.patch, cells.max(1));
        self
    }

    /// How many tiles the patch is cut into; 0 when it is not tiled.
    pub fn tile_count(&self) -> usize {
        self.tiles.as_ref().map_or(0, Tiles::len)
    }

    /// Whether this map was built for `site`'s patch: the same universes
    /// and cells, and every fixture at the same universe, address and
    /// first cell with the same profile, mode and cell count. (A profile whose mode's channels
    /// change under the same index is not seen here: the daemon builds a
    /// new map on every configuration switch.)
    pub fn fits(&self, site: &Site) -> bool {
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

/// The tiles not yet taken: the next one's index and what is left of the
/// look's cells and the frame's universes, from its start.
struct TileCursor<'a> {
    next: usize,
    lights: &'a mut [Light],
    data: &'a mut [[u8; UNIVERSE_SIZE]],
}

type TileWork<'a> = (usize, &'a mut [Light], &'a mut [[u8; UNIVERSE_SIZE]]);

/// Take the next tile: its index, its cells and its universes.
fn next_tile<'a>(work: &Mutex<TileCursor<'a>>, tiles: &Tiles) -> Option<TileWork<'a>> {
    let mut w = work.lock().unwrap_or_else(|p| p.into_inner());
    let k = w.next;
    if k >= tiles.len() {
        return None;
    }
    w.next += 1;
    let cells = (tiles.cells[k + 1] - tiles.cells[k]) as usize;
    let universes = (tiles.universes[k + 1] - tiles.universes[k]) as usize;
    let (part, rest) = std::mem::take(&mut w.lights).split_at_mut(cells);
    w.lights = rest;
    let (data, rest) = std::mem::take(&mut w.data).split_at_mut(universes);
    w.data = rest;
    Some((k, part, data))
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

/// Plain RGB pixels (red, green, blue at 3 × cell): what `scope_emitters`
/// without a dimmer gives for an RGB-only cell, channel by channel. `pre` is
/// the cell's limit and, for a curve other than linear or square, the curve
/// on each channel; `SQUARE` squares the clamped level in [`four_pixels`]
/// (which clamps, so the linear curve is the identity here). Four pixels at
/// a time go through [`four_pixels`] into their 12 slots; the last few (and
/// a bar running past channel 512) through one padded group, keeping only
/// the slots that fit. Monomorphised per curve and limit, so the loop has no
/// branch but the limit's own; one call per fixture, not inlined (six
/// copies of the loop in `map_one` buy nothing).
#[inline(never)]
fn rgb_pixels<const SQUARE: bool>(cells: &[Light], slots: &mut [u8], pre: impl Fn(Light) -> Light) {
    // Pixels with all three slots, and those with at least one.
    let whole = (slots.len() / 3).min(cells.len());
    let fit = slots.len().div_ceil(3).min(cells.len());
    let groups = whole / 4;
    let (body, rest) = slots.split_at_mut(12 * groups);
    for (out, p) in body.chunks_exact_mut(12).zip(cells.chunks_exact(4)) {
        out.copy_from_slice(&four_pixels::<SQUARE>([
            pre(p[0]),
            pre(p[1]),
            pre(p[2]),
            pre(p[3]),
        ]));
    }
    let left = &cells[4 * groups..fit];
    if !left.is_empty() {
        let mut p = [Light::DARK; 4];
        for (d, &l) in p.iter_mut().zip(left) {
            *d = pre(l);
        }
        let bytes = four_pixels::<SQUARE>(p);
        let n = rest.len().min(3 * left.len());
        rest[..n].copy_from_slice(&bytes[..n]);
    }
}

/// A light with a dimmer curve applied to each colour channel, as
/// [`emitters`] does for an RGB-only cell.
#[inline(always)]
fn curved(curve: DimmerCurve, l: Light) -> Light {
    Light {
        r: curve.apply(l.r),
        g: curve.apply(l.g),
        b: curve.apply(l.b),
        kelvin: l.kelvin,
    }
}

/// Four RGB pixels to their 12 DMX bytes (r0 g0 b0 r1 …), each `to8` of its
/// channel (`to8` of the squared clamped level when `SQUARE`): three SSE2
/// vectors of four channels on x86-64, [`to8_lanes`] elsewhere.
#[inline(always)]
fn four_pixels<const SQUARE: bool>(p: [Light; 4]) -> [u8; 12] {
    #[cfg(target_arch = "x86_64")]
    return sse2::four_pixels::<SQUARE>(p);
    #[cfg(not(target_arch = "x86_64"))]
    return four_pixels_portable::<SQUARE>(p);
}

/// [`four_pixels`] in plain Rust, channel by channel through [`to8_lanes`],
/// for the compiler to vectorise as it sees fit (on x86-64 this came out as
/// clean vectors in one build and half scalar in the next, hence [`sse2`]).
#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline(always)]
fn four_pixels_portable<const SQUARE: bool>(p: [Light; 4]) -> [u8; 12] {
    let mut out = [0u8; 12];
    for (px, l) in out.chunks_exact_mut(3).zip(p) {
        px.copy_from_slice(&[l.r, l.g, l.b].map(to8_lanes::<SQUARE>));
    }
    out
}

/// Four pixels in SSE2 lanes through `safe_arch` (safe wrappers of the
/// intrinsics; x86-64 always has SSE2): the three vectors are built from the
/// channels (no pointer loads), clamped (maxps gives its second operand, 0,
/// when the level is NaN, which is what `to8` makes of NaN), squared for the
/// square curve, scaled, rounded, narrowed with the saturating packs (the
/// values are already 0..=255) and read back as one `u64` and one `u32`.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use super::Light;
    use safe_arch::{
        add_m128, get_i32_from_m128i_s, get_i64_from_m128i_s, m128, m128i, max_m128, min_m128,
        mul_m128, pack_i16_to_u8_m128i, pack_i32_to_i16_m128i, set_m128, set_splat_m128,
        truncate_m128_to_m128i, unpack_high_i64_m128i, zeroed_m128,
    };

    /// The largest float below ½. For `y` in 0..=255, truncating the float
    /// sum `y + HALF_BELOW` is `y` rounded half away from zero, as `to8`
    /// gets through f64: below ½ the exact sum is at most 1 − 2⁻²⁴, which is
    /// a float, so it stays under 1; from ½ up the sum is exact or rounds on
    /// a grid whose points include every integer, and the 2⁻²⁵ shortfall is
    /// under half a step (exactly half at 1, where the tie goes to the even
    /// 1.0). Checked on all 2³² floats (the ignored test below).
    const HALF_BELOW: f32 = 0.499_999_97;

    #[inline(always)]
    fn to8x4<const SQUARE: bool>(v: m128) -> m128i {
        let c = min_m128(max_m128(v, zeroed_m128()), set_splat_m128(1.0));
        let c = if SQUARE { mul_m128(c, c) } else { c };
        let y = mul_m128(c, set_splat_m128(255.0));
        truncate_m128_to_m128i(add_m128(y, set_splat_m128(HALF_BELOW)))
    }

    #[inline(always)]
    pub(super) fn four_pixels<const SQUARE: bool>(p: [Light; 4]) -> [u8; 12] {
        let a = to8x4::<SQUARE>(set_m128(p[1].r, p[0].b, p[0].g, p[0].r));
        let b = to8x4::<SQUARE>(set_m128(p[2].g, p[2].r, p[1].b, p[1].g));
        let c = to8x4::<SQUARE>(set_m128(p[3].b, p[3].g, p[3].r, p[2].b));
        let bytes = pack_i16_to_u8_m128i(pack_i32_to_i16_m128i(a, b), pack_i32_to_i16_m128i(c, c));
        let lo = get_i64_from_m128i_s(bytes) as u64;
        let hi = get_i32_from_m128i_s(unpack_high_i64_m128i(bytes, bytes)) as u32;
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&lo.to_le_bytes());
        out[8..].copy_from_slice(&hi.to_le_bytes());
        out
    }
}

/// 2²³: adding it to a float in 0..2²³ rounds it to an integer (to nearest,
/// ties to even), which lands in the low bits of the sum.
#[cfg(any(test, not(target_arch = "x86_64")))]
const ROUNDING_MAGIC: f32 = 8_388_608.0;

/// `to8(x)` (`to8(x²)` of the clamped level when `SQUARE`) to the bit, in
/// operations that can vectorise, for targets without the [`sse2`] path:
/// the float-to-int cast `to8` uses is saturating, which LLVM does one value
/// at a time (on baseline x86-64 at least). Here
/// `y` in 0..=255 is rounded by adding 2²³ (to nearest, ties to even, the
/// integer in the sum's low bits; exact because every float in that range
/// is a multiple of its ulp and the sum's ulp is 1), then the one case where
/// that differs from half away from zero, a tie rounded down to even, is
/// found exactly (`y − rounded` is exact: Sterbenz) and adds one. Equal to
/// `to8` on all 2³² floats, both curves (the ignored test); the default
/// tests take a stride, every halfway point and the odd ones.
#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline(always)]
fn to8_lanes<const SQUARE: bool>(x: f32) -> u8 {
    // Compare-and-select, not `clamp`/`max`: NaN becomes 0 as `to8` makes
    // it, and each is one SIMD max/min.
    let c = if x > 0.0 { x } else { 0.0 };
    let c = if c < 1.0 { c } else { 1.0 };
    let c = if SQUARE { c * c } else { c };
    let y = c * 255.0;
    let m = y + ROUNDING_MAGIC;
    let tie_down = y - (m - ROUNDING_MAGIC) == 0.5;
    // The low byte of the sum's bits is the rounded value (at most 255).
    m.to_bits().wrapping_add(u32::from(tie_down)) as u8
}

/// One fixture by the general rules (heads, dimmers, whites, motion).
#[allow(clippy::too_many_arguments)]
fn map_fixture(
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

#[cfg(test)]
mod lane_tests {
    //! The vectorised RGB pixel path against the scalar one, to the bit:
    //! the channel rounding alone on every kind of float, then whole maps
    //! of sites built to hit each curve, limit and edge of the loop.
    use super::*;
    use crate::config::{self, Sources};
    use crate::diag::{Diagnostics, SourceFile};
    use crate::engine::{apply_limits, Limits};
    use crate::generate::{site_files, SiteSpec};

    /// A small deterministic generator (xorshift64*), so a failure repeats.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn unit(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 24) as f32
        }
        /// Mostly 0..=1, sometimes an edge: out of range, NaN, infinite,
        /// tiny, a halfway point.
        fn level(&mut self) -> f32 {
            match self.next() % 16 {
                0 => f32::NAN,
                1 => -self.unit(),
                2 => 1.0 + 3.0 * self.unit(),
                3 => [f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, 1.0][self.next() as usize % 5],
                4 => f32::from_bits(self.next() as u32 & 0x007f_ffff), // subnormal
                5 => (((self.next() % 255) as f32) + 0.5) / 255.0,
                6 => 0.5,
                _ => self.unit(),
            }
        }
    }

    fn bits_near(x: f32, ulps: i32) -> impl Iterator<Item = f32> {
        (-ulps..=ulps).map(move |d| f32::from_bits((x.to_bits() as i32).saturating_add(d) as u32))
    }

    /// Levels that stress the rounding: a stride through every float from
    /// 0 to just over 1, a neighbourhood of every k/255 and (k+½)/255 (and
    /// of their square roots, for the square curve), and the odd ones.
    fn hard_levels() -> Vec<f32> {
        let mut xs = Vec::new();
        let mut bits = 0u32;
        while bits <= 1.0001f32.to_bits() {
            xs.push(f32::from_bits(bits));
            bits += 1009;
        }
        for k in 0..=255u32 {
            for x in [k as f32 / 255.0, (k as f32 + 0.5) / 255.0] {
                xs.extend(bits_near(x, 64));
                xs.extend(bits_near(x.sqrt(), 64));
            }
        }
        xs.extend([
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            0.0,
            -1.0,
            -1e-30,
            1.0,
            2.0,
            1e30,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::from_bits(0x007f_ffff),
            0.5,
            0.499_999_97,
        ]);
        let mut rng = Rng(0x5eed);
        xs.extend((0..100_000).map(|_| rng.level()));
        xs
    }

    #[test]
    fn lane_rounding_is_to8_to_the_bit_for_every_kind_of_level() {
        let mut ties = 0;
        for x in hard_levels() {
            assert_eq!(
                to8_lanes::<false>(x),
                to8(x),
                "linear {x:e} ({:#x})",
                x.to_bits()
            );
            let sq = DimmerCurve::Square.apply(x);
            assert_eq!(
                to8_lanes::<true>(x),
                to8(sq),
                "square {x:e} ({:#x})",
                x.to_bits()
            );
            let y = x.clamp(0.0, 1.0) * 255.0;
            if y.fract() == 0.5 {
                ties += 1;
            }
        }
        // The halfway cases (where rounding to even would differ) are hit.
        assert!(ties > 100, "only {ties} exact halves");
    }

    /// `four_pixels` (the SSE2 lanes on x86-64) on `xs`, twelve channels at
    /// a time, against `to8` channel by channel, both curves.
    fn four_pixels_round_as_to8(xs: impl Iterator<Item = f32>) {
        let sq = |v: f32| to8(DimmerCurve::Square.apply(v));
        let mut ch = [0f32; 12];
        let mut n = 0;
        let check = |ch: &[f32; 12]| {
            let p = [0, 1, 2, 3].map(|k| Light {
                r: ch[3 * k],
                g: ch[3 * k + 1],
                b: ch[3 * k + 2],
                kelvin: 0.0,
            });
            let (lin, square) = (four_pixels::<false>(p), four_pixels::<true>(p));
            for k in 0..12 {
                let x = ch[k];
                assert_eq!(lin[k], to8(x), "{x:e} ({:#x})", x.to_bits());
                assert_eq!(square[k], sq(x), "square {x:e} ({:#x})", x.to_bits());
            }
        };
        for x in xs {
            ch[n] = x;
            n += 1;
            if n == 12 {
                check(&ch);
                n = 0;
            }
        }
        check(&ch);
    }

    #[test]
    fn four_pixels_round_as_to8_for_every_kind_of_level() {
        four_pixels_round_as_to8(hard_levels().into_iter());
    }

    /// All 2³² floats through the lanes: about 90 s in a release build
    /// (`cargo test --release -p nightscape-core -- --ignored every_float`),
    /// far longer in a debug one, so not in the default run.
    #[test]
    #[ignore]
    fn four_pixels_round_as_to8_on_every_float() {
        four_pixels_round_as_to8((0..=u32::MAX).map(f32::from_bits));
        for bits in 0..=u32::MAX {
            let x = f32::from_bits(bits);
            assert_eq!(to8_lanes::<false>(x), to8(x), "{bits:#x}");
            let sq = DimmerCurve::Square.apply(x);
            assert_eq!(to8_lanes::<true>(x), to8(sq), "square {bits:#x}");
        }
    }

    #[test]
    fn four_pixels_are_twelve_channels_in_patch_order() {
        let mut rng = Rng(7);
        for _ in 0..20_000 {
            let p = [(); 4].map(|_| Light {
                r: rng.level(),
                g: rng.level(),
                b: rng.level(),
                kelvin: if rng.unit() > 0.5 { 2700.0 } else { 0.0 },
            });
            let want: Vec<u8> = p.iter().flat_map(|l| [l.r, l.g, l.b].map(to8)).collect();
            assert_eq!(four_pixels::<false>(p).to_vec(), want);
            assert_eq!(four_pixels_portable::<false>(p).to_vec(), want);
            let sq = |v: f32| to8(DimmerCurve::Square.apply(v));
            let want: Vec<u8> = p.iter().flat_map(|l| [l.r, l.g, l.b].map(sq)).collect();
            assert_eq!(four_pixels::<true>(p).to_vec(), want);
            assert_eq!(four_pixels_portable::<true>(p).to_vec(), want);
        }
    }

    /// A generated site of `bar_pixels`-cell RGB bars, with `extra` added
    /// to its site.toml and `profile` as `fixtures/flood.toml`.
    fn generated_with(universes: u32, bar_pixels: u32, extra: &str, profile: &str) -> Site {
        let mut spec = SiteSpec::new(universes);
        spec.bar_pixels = bar_pixels;
        let mut sources = crate::generate::sources(site_files(&spec).unwrap());
        let site = format!("{}\n{extra}", sources.site.text);
        sources.site = SourceFile::new("site.toml", site);
        if !profile.is_empty() {
            sources
                .profiles
                .insert(0, SourceFile::new("fixtures/flood.toml", profile));
        }
        config::compile(sources, Diagnostics::new())
            .unwrap_or_else(|d| panic!("{:?}", d.items))
            .site
    }

    fn generated(universes: u32, bar_pixels: u32) -> Site {
        generated_with(universes, bar_pixels, "", "")
    }

    /// Every byte of the frame set to a value the map never leaves behind
    /// by chance, so a channel it fails to write (or zero) shows.
    fn stale(site: &Site) -> Frame {
        let mut frame = Frame::new(site);
        for d in &mut frame.data {
            d.fill(0xa5);
        }
        frame
    }

    fn varied_look(site: &Site, seed: u64) -> Look {
        let mut rng = Rng(seed);
        let mut look = Look::dark(site);
        for l in &mut look.lights {
            *l = Light {
                r: rng.level(),
                g: rng.level(),
                b: rng.level(),
                kelvin: if rng.unit() > 0.7 { 3000.0 } else { 0.0 },
            };
        }
        look
    }

    /// Every curve, with and without limits, bars of 1..=170 pixels (counts
    /// that are and are not multiples of four), bars moved so they run past
    /// channel 512 by whole pixels and by one or two channels, on one
    /// thread and on two: the map's bytes are the reference mapping's.
    /// Tiles are cut between universes once they hold `size` cells, cover
    /// every cell and universe in order, and keep each fixture's cells in
    /// its universe's tile; a patch whose universes take their cells out
    /// of order has none.
    #[test]
    fn the_patch_is_cut_into_tiles_of_whole_universes() {
        let check = |site: &Site, size: usize, expect: Option<(&[u32], &[u32])>| {
            let tiles = Tiles::new(site, &Patch::new(site), size);
            let got = tiles.as_ref().map(|t| (&t.cells[..], &t.universes[..]));
            assert_eq!(got, expect, "tiles of {size} cells");
            let Some(t) = tiles else { return };
            for (fi, f) in site.fixtures.iter().enumerate() {
                let u = f.universe_index;
                let k = t.universes.partition_point(|&v| v <= u) - 1;
                let cells = f.first_cell..f.first_cell + u32::from(f.cell_count);
                assert!(
                    t.cells[k] <= cells.start && cells.end <= t.cells[k + 1],
                    "fixture {fi} of universe {u} is not inside tile {k}"
                );
            }
        };
        // Nine 100-pixel bars, one a universe: four avenue bars in
        // universes 0..=3 (cells 0..400), none in universe 4, five facade
        // bars in universes 5..=9 (cells 400..900).
        let site = generated(10, 100);
        let bars: Vec<_> = site
            .fixtures
            .iter()
            .map(|f| (f.universe_index, f.first_cell))
            .collect();
        assert_eq!(
            bars,
            [
                (0, 0),
                (1, 100),
                (2, 200),
                (3, 300),
                (5, 400),
                (6, 500),
                (7, 600),
                (8, 700),
                (9, 800)
            ]
        );
        let every: (&[u32], &[u32]) = (
            &[0, 100, 200, 300, 400, 500, 600, 700, 800, 900],
            &[0, 1, 2, 3, 5, 6, 7, 8, 9, 10],
        );
        check(&site, 1, Some(every));
        check(&site, 250, Some((&[0, 300, 600, 900], &[0, 3, 7, 10])));
        check(&site, 300, Some((&[0, 300, 600, 900], &[0, 3, 7, 10])));
        check(&site, 301, Some((&[0, 400, 800, 900], &[0, 5, 9, 10])));
        check(&site, 1_000_000, Some((&[0, 900], &[0, 10])));
        // The bars of universes 3 and 5 swap: universe 5 reads cells below
        // universe 3's.
        let mut swapped = site.clone();
        swapped.fixtures[3].universe_index = 5;
        swapped.fixtures[4].universe_index = 3;
        check(&swapped, 250, None);
        // A universe with no fixture goes with the tile before it.
        let mut moved = site.clone();
        moved.fixtures[3].universe_index = 4;
        check(&moved, 250, Some((&[0, 300, 600, 900], &[0, 4, 7, 10])));
        // A fixture without cells is placed at its first cell: inside its
        // universe's tile (universe 9, cells 800..900), or, placed before
        // a cell another universe already read, no tiles at all.
        let zero = |first_cell: u32| {
            let mut s = site.clone();
            let mut f = s.fixtures[8].clone();
            (f.first_cell, f.cell_count) = (first_cell, 0);
            s.fixtures.push(f);
            s
        };
        check(&zero(850), 250, Some((&[0, 300, 600, 900], &[0, 3, 7, 10])));
        check(&zero(900), 250, Some((&[0, 300, 600, 900], &[0, 3, 7, 10])));
        check(&zero(0), 250, None);
    }

    /// A map kept across a reload that moves fixtures (same number of
    /// fixtures and universes) is rebuilt: the channels a fixture left are
    /// dark, and it lands at its new address and universe.
    #[test]
    fn a_map_kept_across_a_repatch_follows_the_new_patch() {
        let before = generated(3, 10);
        // Fixture 0 to another address; to another universe and address.
        let moves: [fn(&mut Site); 2] = [
            |s| s.fixtures[0].address = 101,
            |s| {
                let u = s.fixtures[0].universe_index;
                s.fixtures[0].universe_index = (u + 1) % 3;
                s.fixtures[0].address = 481;
            },
        ];
        for (k, repatch) in moves.iter().enumerate() {
            let mut after = before.clone();
            repatch(&mut after);
            let mut map = DmxMap::new(&before);
            let look = varied_look(&before, 7);
            let mut frame = Frame::new(&before);
            map.map(&before, &look, &mut frame, 1);
            assert!(!map.fits(&after), "move {k}");
            map.map(&after, &look, &mut frame, 1);
            let mut want = Frame::new(&after);
            look_to_frame_reference(&after, &look, &mut want);
            assert!(frame == want, "move {k}");
        }
    }

    #[test]
    fn rgb_pixel_bars_map_to_the_reference_bytes_for_every_curve_and_limit() {
        let curves = [
            DimmerCurve::Linear,
            DimmerCurve::Square,
            DimmerCurve::Gamma(2.2),
            DimmerCurve::Gamma(0.45),
        ];
        let cases = [
            (2, 1),
            (2, 2),
            (2, 3),
            (2, 5),
            (3, 7),
            (2, 8),
            (2, 170),
            (130, 7),
        ];
        for (universes, px) in cases {
            let mut site = generated(universes, px);
            let footprint = 3 * px as usize;
            // Push the last bar of each of the first universes off the end:
            // by whole pixels, one channel and two.
            for (u, over) in [(0u32, 6usize), (1, 1), (2, 2)] {
                let Some(f) = site
                    .fixtures
                    .iter_mut()
                    .filter(|f| f.universe_index == u)
                    .last()
                else {
                    continue;
                };
                f.address = (513 + over).saturating_sub(footprint).clamp(1, 512) as u16;
            }
            assert!(site.fixtures.iter().all(|f| {
                let m = &site.profiles[f.profile].modes[f.mode];
                m.channels.len() == footprint
            }));
            let mut limits = Limits::none(&site);
            for fi in 0..site.fixtures.len() {
                limits.scale[fi] = [1.0, 0.8, 0.5, 1.0, f32::NAN][fi % 5];
                limits.cap[fi] = [1.0, 1.0, 0.3, 0.6, 0.0, 0.999][fi % 6];
            }
            for curve in curves {
                for p in &mut site.profiles {
                    p.dimmer_curve = curve;
                }
                let mut map = DmxMap::new(&site);
                assert!(map.plans.iter().all(|p| p.rgb_pixels), "{px} px");
                let look = varied_look(&site, u64::from(px) * 31 + 1);
                let mut limited = look.clone();
                apply_limits(&site, &mut limited, &limits);
                let mut want = Frame::new(&site);
                let mut want_limited = Frame::new(&site);
                look_to_frame_reference(&site, &look, &mut want);
                look_to_frame_reference(&site, &limited, &mut want_limited);
                for threads in [1, 2] {
                    let mut frame = stale(&site);
                    map.map(&site, &look, &mut frame, threads);
                    let at = format!("{px} px, {curve:?}, {threads} threads");
                    assert!(frame == want, "{at}");
                    let mut frame = stale(&site);
                    map.map_limited(&site, &look, Some(&limits), &mut frame, threads);
                    assert!(frame == want_limited, "{at}, limited");
                }
            }
        }
    }

    /// The demo site (`shows/` and `fixtures/` of the repository: floods
    /// with dimmers and whites, tunable whites, moving heads, pixel bars)
    /// with a varied look and limits, into frames holding stale bytes.
    #[test]
    fn the_demo_site_maps_to_the_reference_bytes_into_stale_frames() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let read = |dir: &str| {
            let mut files: Vec<(String, String)> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .map(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(&p).unwrap())
                })
                .collect();
            files.sort();
            files
        };
        let mut site = None;
        let mut shows = Vec::new();
        for (name, text) in read("shows") {
            if name == "site.toml" {
                site = Some(SourceFile::new(name, text));
            } else {
                shows.push(SourceFile::new(name, text));
            }
        }
        let profiles = read("fixtures")
            .into_iter()
            .map(|(name, text)| SourceFile::new(format!("fixtures/{name}"), text))
            .collect();
        let sources = Sources {
            folder: "shows".into(),
            site: site.unwrap(),
            profiles,
            profiles_unreadable: None,
            shows,
        };
        // The festival's facade clip, as the daemon would read it.
        let mut media = crate::show::media::MediaMap::default();
        media.0.insert(
            "fireworks.gif".into(),
            std::sync::Arc::new(include_bytes!("../../../../shows/fireworks.gif").to_vec()),
        );
        let site = config::compile_with_media(sources, &media, Diagnostics::new())
            .unwrap_or_else(|d| panic!("{:?}", d.items))
            .site;
        let mut map = DmxMap::new(&site);
        assert!(map.plans.iter().any(|p| p.rgb_pixels) && map.plans.iter().any(|p| !p.rgb_pixels));
        let mut limits = Limits::none(&site);
        for fi in 0..site.fixtures.len() {
            limits.scale[fi] = [1.0, 0.7, 1.0][fi % 3];
            limits.cap[fi] = [1.0, 1.0, 0.4, 1.0][fi % 4];
        }
        for seed in 1..4 {
            let mut look = varied_look(&site, seed);
            let mut rng = Rng(seed);
            for m in &mut look.motion {
                m.pan = 100.0 * (rng.unit() - 0.5);
                m.tilt = 50.0 * (rng.unit() - 0.5);
                m.zoom = rng.unit();
                m.strobe = if rng.unit() > 0.5 {
                    f32::NAN
                } else {
                    rng.unit()
                };
            }
            let mut want = Frame::new(&site);
            look_to_frame_reference(&site, &look, &mut want);
            let mut frame = stale(&site);
            map.map(&site, &look, &mut frame, 1);
            assert!(frame == want, "seed {seed}");
            let mut limited = look.clone();
            apply_limits(&site, &mut limited, &limits);
            look_to_frame_reference(&site, &limited, &mut want);
            let mut frame = stale(&site);
            map.map_limited(&site, &look, Some(&limits), &mut frame, 1);
            assert!(frame == want, "seed {seed}, limited");
        }
    }

    /// Bars beside fixtures the general rules map (a dimmer, a white, a
    /// fixed channel), a universe that only the outputs name, one with a
    /// lone fixture in its middle: every channel no fixture writes is
    /// zeroed, whatever the frame held, and the rest equals the reference.
    #[test]
    fn only_unpatched_channels_are_zeroed_and_mixed_universes_match_the_reference() {
        let profile = "name = \"flood\"\npower_w = 100\ndimmer_curve = \"square\"\n\
            [[modes]]\nname = \"6ch\"\n\
            channels = [\"dimmer\", \"red\", \"green\", \"blue\", \"white\", \"fixed:7\"]\n";
        let extra = "[[fixtures]]\nname = \"next-to-bars\"\nprofile = \"flood\"\nmode = \"6ch\"\n\
            at = [0, 0]\naddress = \"0.506\"\n\n\
            [[fixtures]]\nname = \"alone\"\nprofile = \"flood\"\nmode = \"6ch\"\n\
            at = [5, 0]\naddress = \"7.200\"\n\n\
            [[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1\"\nuniverses = \"9\"\n";
        let site = generated_with(2, 7, extra, profile);
        assert!(site.universes.contains(&7) && site.universes.contains(&9));
        let mut map = DmxMap::new(&site);
        assert!(map.plans.iter().any(|p| !p.rgb_pixels));
        for seed in 1..4 {
            let look = varied_look(&site, seed);
            let mut want = Frame::new(&site);
            look_to_frame_reference(&site, &look, &mut want);
            let mut frame = stale(&site);
            map.map(&site, &look, &mut frame, 1);
            assert!(frame == want, "seed {seed}");
        }
        let lone = site.universes.iter().position(|&u| u == 7).unwrap();
        assert_eq!(
            map.patch.gaps[map.patch.gap_starts[lone] as usize..][..2],
            [(0, 199), (205, 512)]
        );
    }
}
