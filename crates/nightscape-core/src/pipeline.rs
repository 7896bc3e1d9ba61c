//! The frame pipeline shared by the daemon, `nightscape render`, the
//! energy forecast and every preview: what plays at an instant
//! ([`Program`]: a fixed show or the schedule), and one frame built from it
//! ([`FrameBuilder`]: render → operator scales → hooks' limits such as
//! curfew caps → DMX → hooks' review such as power budgets, re-mapped a
//! bounded number of times). One pipeline is what lets a test compare the
//! wire with `render`, and the forecast with the record.

use crate::color::Light;
use crate::config::Config;
use crate::control::CompiledControl;
use crate::engine::{self, ActiveShow, Frame, Limits, Look};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};

/// What should be playing: decided outside the engine (a fixed show now,
/// the schedule later).
pub trait Program: Send {
    /// The shows active at `at`, with their start instants, for `config`,
    /// appended to `out` (a frame loop reuses one list: see [`recycle`]).
    fn active_into<'a>(&self, config: &'a Config, at: DateTime<Utc>, out: &mut Vec<ActiveShow<'a>>);

    /// The shows active at `at`, in a new list.
    fn active<'a>(&self, config: &'a Config, at: DateTime<Utc>) -> Vec<ActiveShow<'a>> {
        let mut out = Vec::new();
        self.active_into(config, at, &mut out);
        out
    }
}

/// An emptied list of active shows, its allocation kept, free of the
/// configuration it borrowed from: a frame loop swaps configurations
/// between frames but reuses one list (no allocation per frame). The
/// in-place `collect` of an empty list of the same type reuses its buffer.
pub fn recycle<'b>(mut v: Vec<ActiveShow<'_>>) -> Vec<ActiveShow<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the list is empty"))
        .collect()
}

/// One show, started at a fixed instant (`run --show NAME --since T`).
pub struct FixedShow {
    pub show: String,
    pub since: DateTime<Utc>,
}

impl Program for FixedShow {
    fn active_into<'a>(
        &self,
        config: &'a Config,
        _at: DateTime<Utc>,
        out: &mut Vec<ActiveShow<'a>>,
    ) {
        out.extend(
            config
                .show(&self.show)
                .map(|s| ActiveShow::new(s, self.since, None, 0)),
        );
    }
}

/// The site's schedule in charge: every entry active at the instant, with
/// its start (the show's phase counts from it) and end (its fade-out ends
/// there). Nights are resolved from the instant each time, so a clock jump
/// (an NTP correction, a simulated clock) re-resolves by itself; resolved
/// nights are cached per configuration because sun and calendar maths per
/// frame would be waste.
#[derive(Default)]
pub struct Scheduled {
    cache: Mutex<NightCache>,
    skips: Skips,
}

impl Scheduled {
    /// The schedule, leaving out the entries an operator skipped.
    pub fn with_skips(skips: Skips) -> Scheduled {
        Scheduled {
            cache: Mutex::default(),
            skips,
        }
    }
}

/// Schedule entries an operator cancelled for one night only ("skip
/// tonight": rain, an event), keyed by night, entry index in the site file
/// and show name (so an edit that reorders `[[schedule]]` cannot move a
/// skip onto another entry), and the modes an operator forced for single
/// nights ("festival tonight"). Shared between the API, which persists
/// them, and the schedule program, which leaves skips out and plays a
/// forced night in its forced mode. Both travel in one handle so the
/// daemon's shared state needs no second field.
#[derive(Clone, Default, Debug)]
pub struct Skips(Arc<RwLock<NightEdits>>);

#[derive(Default, Debug)]
struct NightEdits {
    skips: BTreeSet<(NaiveDate, usize, String)>,
    modes: BTreeMap<NaiveDate, String>,
    /// Bumped on every change of `modes`: a program's cached nights were
    /// resolved in the old modes and must be resolved again.
    version: u64,
}

impl Skips {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, NightEdits> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn contains(&self, night: NaiveDate, entry: usize, show: &str) -> bool {
        let e = self.read();
        // The common case is an empty set: no allocation per frame.
        !e.skips.is_empty() && e.skips.contains(&(night, entry, show.to_string()))
    }

    /// Replace the whole set (after the store changed).
    pub fn set(&self, skips: impl IntoIterator<Item = (NaiveDate, usize, String)>) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).skips = skips.into_iter().collect();
    }

    /// The mode an operator forced for `night`, if any.
    pub fn forced_mode(&self, night: NaiveDate) -> Option<String> {
        let e = self.read();
        if e.modes.is_empty() {
            return None;
        }
        e.modes.get(&night).cloned()
    }

    /// Replace every forced mode (after the store changed).
    pub fn set_modes(&self, modes: impl IntoIterator<Item = (NaiveDate, String)>) {
        let mut e = self.0.write().unwrap_or_else(|p| p.into_inner());
        e.modes = modes.into_iter().collect();
        e.version += 1;
    }

    /// Changes so far to the forced modes (a cache key).
    fn modes_version(&self) -> u64 {
        self.read().version
    }

    /// Night `d` of `sched`, in the mode forced for it if any.
    pub fn night(
        &self,
        sched: &crate::schedule::plan::Schedule,
        d: NaiveDate,
    ) -> crate::schedule::plan::Night {
        sched.night_in_mode(d, self.forced_mode(d).as_deref())
    }

    /// [`Schedule::active_at`](crate::schedule::plan::Schedule::active_at)
    /// as the frame loop plays it: nights in their forced modes, skipped
    /// entries left out. Resolves the nights each call (the frame loop's
    /// [`Scheduled`] keeps its own cache).
    pub fn active_at(
        &self,
        sched: &crate::schedule::plan::Schedule,
        at: DateTime<Utc>,
    ) -> Vec<crate::schedule::plan::Planned> {
        let night = sched.night_of(at);
        let prev = night.pred_opt().unwrap_or(night);
        [prev, night]
            .into_iter()
            .flat_map(|d| {
                self.night(sched, d).entries.into_iter().filter(move |p| {
                    p.start <= at && at < p.end && !self.contains(d, p.entry, &p.show)
                })
            })
            .collect()
    }
}

#[derive(Default)]
struct NightCache {
    /// The configuration's generation and the forced modes' version the
    /// cached nights were resolved for.
    generation: Option<(u64, u64)>,
    nights: std::collections::HashMap<chrono::NaiveDate, Vec<crate::schedule::plan::Planned>>,
}

impl Program for Scheduled {
    fn active_into<'a>(
        &self,
        config: &'a Config,
        at: DateTime<Utc>,
        out: &mut Vec<ActiveShow<'a>>,
    ) {
        let sched = &config.schedule;
        let night = sched.night_of(at);
        let prev = night.pred_opt().unwrap_or(night);
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        let key = (config.generation, self.skips.modes_version());
        if cache.generation != Some(key) {
            cache.generation = Some(key);
            cache.nights.clear();
        }
        // Runs of the same entry that meet at noon are one run to the eye:
        // look one night further each way to know where no fade belongs.
        let days = [-2i64, -1, 0, 1].map(|k| night.checked_add_signed(chrono::Duration::days(k)));
        let days = days.iter().flatten();
        cache.nights.retain(|d, _| days.clone().any(|x| x == d));
        for &d in days {
            cache
                .nights
                .entry(d)
                .or_insert_with(|| self.skips.night(sched, d).entries);
        }
        let runs = |d: chrono::NaiveDate| cache.nights.get(&d).map(Vec::as_slice).unwrap_or(&[]);
        for d in [prev, night] {
            let (before, after) = (
                d.pred_opt().map(runs).unwrap_or(&[]),
                d.succ_opt().map(runs).unwrap_or(&[]),
            );
            for p in runs(d).iter().filter(|p| {
                p.start <= at && at < p.end && !self.skips.contains(d, p.entry, &p.show)
            }) {
                if let Some(show) = config.show(&p.show) {
                    let mut a = ActiveShow::new(show, p.start, Some(p.end), p.priority);
                    a.continued = before
                        .iter()
                        .any(|q| q.entry == p.entry && q.end == p.start);
                    a.continues = after.iter().any(|q| q.entry == p.entry && q.start == p.end);
                    out.push(a);
                }
            }
        }
    }
}

/// Cells one thread renders and maps in a frame before a second thread is
/// worth its cost at a frame loop's rate. A frame loop renders ahead of its
/// deadline, so one thread only has to finish well inside the period: at
/// this size the heaviest generated show (`all`: wave or gradient, and a
/// twinkle blended over every pixel) takes a few milliseconds of a 25 ms
/// period on this project's 2-core reference machine. Below it a second
/// thread buys nothing on the wire and costs two thread starts, wake-ups
/// on another core and a few allocations every frame (docs/performance.md
/// has what that was at 1,000 universes).
pub(crate) const CELLS_PER_THREAD: usize = 250_000;

/// How many threads to build a frame of `cells` cells on when `cores` are
/// there: one per [`CELLS_PER_THREAD`] cells (rounded up), at most `cores`.
pub(crate) fn threads_for(cells: usize, cores: usize) -> usize {
    cells.div_ceil(CELLS_PER_THREAD).clamp(1, cores.max(1))
}

/// The per-frame pipeline shared by the daemon and `nightscape render`:
/// render the active shows, apply control scales and the hooks' limits,
/// map to DMX, and let hooks tighten limits and map again (power budgets),
/// a bounded number of times. Buffers are reused across frames.
pub struct FrameBuilder {
    look: Look,
    limits: Limits,
    map: engine::dmx::DmxMap,
    /// Threads a large site renders and maps on (results do not depend on it).
    threads: usize,
    /// Whether this builder's renders use the twinkle layers' lit-cell
    /// memo ([`engine::LitCells`]): the frame loop's timeline does; a
    /// preview or a forecast rendering other instants of the same shows
    /// at the same time must not, or both hash every cell again.
    lit: engine::LitCells,
    pub frame: Frame,
}

impl FrameBuilder {
    pub fn new(site: &crate::site::Site) -> FrameBuilder {
        FrameBuilder {
            look: Look::dark(site),
            limits: Limits::none(site),
            map: engine::dmx::DmxMap::new(site),
            // One unless the caller says: how many cores there are is the
            // daemon's question, not the pure core's.
            threads: 1,
            lit: engine::LitCells::Hashed,
            frame: Frame::new(site),
        }
    }

    /// Use at most this many threads (1 = all on the caller's thread).
    pub fn with_threads(mut self, threads: usize) -> FrameBuilder {
        self.threads = threads.max(1);
        self
    }

    /// Remember the twinkles' lit cells from frame to frame: for the one
    /// timeline of a process that renders consecutive frames (the frame
    /// loop), not for renders of scattered instants beside it.
    pub fn with_sparkle_memo(mut self) -> FrameBuilder {
        self.lit = engine::LitCells::Remembered;
        self
    }

    /// Use as many of `cores` as the site's size is worth
    /// ([`threads_for`]): the frame loop's choice.
    pub fn for_cores(self, site: &crate::site::Site, cores: usize) -> FrameBuilder {
        self.with_threads(threads_for(site.cells.len(), cores))
    }

    #[cfg(test)]
    /// Render and map in tiles of about `cells` cells instead of
    /// [`engine::dmx::TILE_CELLS`] (the frame does not depend on it).
    pub(crate) fn with_tile_cells(
        mut self,
        site: &crate::site::Site,
        cells: usize,
    ) -> FrameBuilder {
        self.map = engine::dmx::DmxMap::new(site).with_tile_cells(site, cells);
        self
    }

    #[cfg(test)]
    /// How many tiles a frame is rendered and mapped in (0: the look is
    /// rendered whole, then mapped).
    pub(crate) fn tile_count(&self) -> usize {
        self.map.tile_count()
    }

    #[cfg(test)]
    /// The look as last rendered, before limits.
    pub(crate) fn look(&self) -> &Look {
        &self.look
    }

    /// Map a look to DMX into `self.frame` (the mapping stage alone).
    pub fn map(&mut self, site: &crate::site::Site, look: &Look) -> &Frame {
        self.map.map(site, look, &mut self.frame, self.threads);
        &self.frame
    }

    /// Build the frame for `at` into `self.frame`.
    ///
    /// `hooks` is anything that reaches a hook mutably: the daemon's
    /// `Box<dyn FrameHook>`s, or `&mut` to a concrete hook whose state the
    /// caller reads afterwards (the forecast's meter).
    pub fn build<H>(
        &mut self,
        config: &Config,
        active: &[ActiveShow],
        control: &CompiledControl,
        hooks: &mut [H],
        at: DateTime<Utc>,
    ) -> &Frame
    where
        H: std::ops::DerefMut,
        H::Target: FrameHook,
    {
        let site = &config.site;
        // Limits depend on the instant and the control, not on the look:
        // worked out first, so the first mapping can follow the render
        // tile by tile.
        let limits = &mut self.limits;
        limits.scale.clear();
        limits.scale.resize(site.fixtures.len(), 1.0);
        limits.cap.clear();
        limits.cap.resize(site.fixtures.len(), 1.0);
        control.apply_scales(at, limits);
        for h in hooks.iter_mut() {
            h.limits(config, at, limits);
        }
        // Limits are applied cell by cell as the look is mapped: no copy of
        // a city's cells (27 MB at 10,000 universes) per frame.
        let limited = (!limits.is_none()).then_some(&*limits);
        engine::begin_look(site, active, at, &mut self.look);
        let lit = self.lit;
        let render = |part: &mut [Light], first: usize| {
            engine::render_range(site, active, at, part, first, lit)
        };
        let tiled = self.map.render_and_map(
            site,
            &mut self.look,
            render,
            limited,
            &mut self.frame,
            self.threads,
        );
        if !tiled {
            engine::render_split(site, active, at, &mut self.look.lights, self.threads, lit);
            self.map
                .map_limited(site, &self.look, limited, &mut self.frame, self.threads);
        }
        for pass in 0..4 {
            if pass > 0 {
                // A hook tightened the limits: the whole look again.
                let limited = (!self.limits.is_none()).then_some(&self.limits);
                self.map
                    .map_limited(site, &self.look, limited, &mut self.frame, self.threads);
            }
            // DMX the look did not make (a console) joins before any
            // review, so budgets are solved on what really goes out.
            for h in hooks.iter_mut() {
                h.merge(config, at, active, &mut self.frame, &self.limits);
            }
            let mut again = false;
            for h in hooks.iter_mut() {
                again |= h.review(config, at, &self.frame, &mut self.limits, pass);
            }
            if !again {
                break;
            }
        }
        &self.frame
    }
}

/// Something that takes part in every frame besides rendering: energy
/// metering, curfew caps, power budgets. Hooks see the configuration and
/// the instant; they never block (a hook that writes to disk hands the data
/// to its own thread).
pub trait FrameHook: Send {
    /// Tighten `limits` before the look is mapped to DMX (curfew caps).
    fn limits(&mut self, _config: &Config, _at: DateTime<Utc>, _limits: &mut Limits) {}
    /// Look at the mapped frame; return true after tightening `limits` to
    /// have it mapped again (power budgets). `pass` counts re-maps.
    fn review(
        &mut self,
        _config: &Config,
        _at: DateTime<Utc>,
        _frame: &Frame,
        _limits: &mut Limits,
        _pass: u32,
    ) -> bool {
        false
    }
    /// Change the mapped frame with DMX the look did not make (a console
    /// taking universes over, `crate::takeover`), with the limits in
    /// force; called after every mapping, before the reviews.
    fn merge(
        &mut self,
        _config: &Config,
        _at: DateTime<Utc>,
        _active: &[ActiveShow],
        _frame: &mut Frame,
        _limits: &Limits,
    ) {
    }
    /// Reposition or drop the shows that play before the frame is built
    /// (a show following timecode: `crate::timecode`). The frame loop
    /// calls it; renders of other instants (previews, forecasts) do not.
    fn position<'a>(
        &mut self,
        _config: &'a Config,
        _at: DateTime<Utc>,
        _active: &mut Vec<ActiveShow<'a>>,
    ) {
    }
    /// The frame is about to go out (its deadline came): a last change
    /// from what arrived since it was built (a console's newest levels).
    /// Outputs on their own threads already have the frame. The frame loop
    /// calls it; nothing else does.
    fn before_send(&mut self, _config: &Config, _frame: &mut Frame) {}
    /// The final frame of this instant, as sent.
    fn observe(
        &mut self,
        _config: &Config,
        _at: DateTime<Utc>,
        _active: &[ActiveShow],
        _frame: &Frame,
    ) {
    }
    /// The loop is stopping: flush what must not be lost.
    fn stop(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Diagnostics, SourceFile};
    use crate::engine::dmx::look_to_frame_reference;
    use crate::generate::{site_files, SiteSpec, SHOW_NAME};

    /// Halves every third fixture and caps every fifth at 0.7 before the
    /// map; asked to review, dims everything to 0.3 once.
    struct Dims {
        review: bool,
    }

    impl FrameHook for Dims {
        fn limits(&mut self, _: &Config, _: DateTime<Utc>, limits: &mut Limits) {
            for (k, s) in limits.scale.iter_mut().enumerate() {
                if k % 3 == 0 {
                    *s *= 0.5;
                }
            }
            for (k, c) in limits.cap.iter_mut().enumerate() {
                if k % 5 == 0 {
                    *c = c.min(0.7);
                }
            }
        }

        fn review(
            &mut self,
            _: &Config,
            _: DateTime<Utc>,
            _: &Frame,
            limits: &mut Limits,
            pass: u32,
        ) -> bool {
            if !self.review || pass > 0 {
                return false;
            }
            for s in &mut limits.scale {
                *s *= 0.3;
            }
            true
        }
    }

    /// Only a builder made `with_sparkle_memo` reads and writes the
    /// twinkle layers' lit-cell memo: one without it (a preview, a
    /// forecast) rendering a far instant of the same compiled show leaves
    /// the frame loop's slot in place, and renders the same frame as one
    /// with it.
    #[test]
    fn only_a_remembering_builder_touches_the_lit_cell_memo() {
        let mut spec = SiteSpec::new(4);
        spec.bar_pixels = 170;
        let sources = crate::generate::sources(site_files(&spec).unwrap());
        let cfg = crate::config::compile(sources, Diagnostics::new())
            .unwrap_or_else(|d| panic!("{:?}", d.items));
        let site = &cfg.site;
        let show = cfg.show(SHOW_NAME).unwrap();
        let twinkle = show.layers.iter().find(|l| l.target == "*").unwrap();
        let slot = || twinkle.sparkles.batch(0).and_then(|m| m.slot());
        let t0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        let active = [ActiveShow::new(show, t0, None, 0)];
        let control = CompiledControl::default();
        let mut none: [&mut Dims; 0] = [];
        let mut timeline = FrameBuilder::new(site).with_sparkle_memo();
        let mut preview = FrameBuilder::new(site);
        let (now, far) = (
            t0 + chrono::Duration::seconds(30),
            t0 + chrono::Duration::hours(5),
        );
        timeline.build(&cfg, &active, &control, &mut none, now);
        let kept = slot();
        assert!(kept.is_some(), "the frame loop's render fills the memo");
        preview.build(&cfg, &active, &control, &mut none, far);
        assert_eq!(slot(), kept, "a preview of another instant moved the memo");
        let mut other = FrameBuilder::new(site).with_sparkle_memo();
        other.build(&cfg, &active, &control, &mut none, far);
        assert_ne!(slot(), kept, "a second timeline does move it");
        assert!(other.frame == preview.frame);
    }

    /// A frame built tile by tile (each tile's universes mapped right
    /// after its cells are rendered, threads taking tiles as they go) has
    /// the bytes and the look of the whole look rendered on one thread,
    /// limited and mapped by the reference mapping: for many tiles and one,
    /// 1 to 3 threads, limits set before the map and tightened after it
    /// (a second, whole mapping), mid-fade and faded in, into a frame of
    /// stale bytes, with and without the lit-cell memo, under a masked
    /// show whose cells are listed backwards, and for a patch that cannot
    /// be tiled.
    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn a_frame_built_tile_by_tile_is_the_look_rendered_then_mapped() {
        let extra = "[[layers]]\ntarget = \"avenues\"\nblend = \"htp\"\neffect = \"chase\"\n\
            color = \"#ffffff\"\nspeed = \"4 m/s\"\nwidth = 3\n";
        let mut spec = SiteSpec::new(130);
        spec.bar_pixels = 170;
        let mut sources = crate::generate::sources(site_files(&spec).unwrap());
        sources.shows.push(SourceFile::new(
            "chase.toml",
            format!("fade_in = \"3s\"\n{extra}"),
        ));
        let cfg = crate::config::compile(sources, Diagnostics::new())
            .unwrap_or_else(|d| panic!("{:?}", d.items));
        // The same patch with two universes' fixtures swapped: no tiles.
        let mut untiled = cfg.clone();
        {
            let site = &mut untiled.site;
            let (a, b) = (
                site.fixtures[3].universe_index,
                site.fixtures[4].universe_index,
            );
            site.fixtures[3].universe_index = b;
            site.fixtures[4].universe_index = a;
        }
        let t0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        let control = CompiledControl::default();
        for (cfg, tiled) in [(&cfg, true), (&untiled, false)] {
            let site = &cfg.site;
            assert!(
                site.cells.len() > engine::PARALLEL_MIN_CELLS,
                "threads are used"
            );
            // The chase's cells listed backwards (files always give a
            // layer ascending cells; one built in code may not): walked
            // whole for every tile.
            let mut chase: crate::show::Show = (**cfg.show("chase").unwrap()).clone();
            {
                let l = &mut chase.layers[0];
                l.cells.reverse();
                l.along.reverse();
                l.u.reverse();
                l.rank.reverse();
                l.order = crate::show::CellOrder::of(&l.cells);
                assert!(!l.order.ascending);
            }
            let shows = [&**cfg.show(SHOW_NAME).unwrap(), &chase];
            // The chase on every third fixture only.
            let mask: Vec<bool> = (0..site.fixtures.len()).map(|f| f % 3 == 0).collect();
            let mut active: Vec<ActiveShow> = shows
                .iter()
                .enumerate()
                .map(|(k, s)| ActiveShow::new(s, t0, None, k as i32))
                .collect();
            active[1].mask = Some(&mask);
            let instants = [1_000, 2_250, 30_000];
            // The look cell by cell, each effect evaluated alone: once per
            // instant (it depends on neither the threads, nor the tiles,
            // nor the review), the costliest part of the test.
            let references: Vec<Vec<Light>> = instants
                .iter()
                .map(|&ms| {
                    let at = t0 + chrono::Duration::milliseconds(ms);
                    engine::tests::reference_shows(site, &active, at)
                })
                .collect();
            // Every lane of every cell the same bits.
            let same_bits = |got: &[Light], want: &[Light]| {
                got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g.same_bits(w))
            };
            for review in [false, true] {
                // The reference frame of each instant: the reference look
                // limited as the hook limits it (by `review` alone, whatever
                // frame it is shown) and mapped by the reference mapping.
                let frames: Vec<Frame> = instants
                    .iter()
                    .zip(&references)
                    .map(|(&ms, reference)| {
                        let at = t0 + chrono::Duration::milliseconds(ms);
                        let mut look = Look::dark(site);
                        look.lights.clone_from(reference);
                        let mut hook = Dims { review };
                        let mut limits = Limits::none(site);
                        hook.limits(cfg, at, &mut limits);
                        if review {
                            assert!(hook.review(cfg, at, &Frame::new(site), &mut limits, 0));
                        }
                        engine::apply_limits(site, &mut look, &limits);
                        let mut want = Frame::new(site);
                        look_to_frame_reference(site, &look, &mut want);
                        want
                    })
                    .collect();
                for (threads, tile_cells) in
                    [(1, 1_000), (2, 1_000), (3, 2_500), (2, 100_000), (1, 1)]
                {
                    let mut b = FrameBuilder::new(site)
                        .with_threads(threads)
                        .with_tile_cells(site, tile_cells);
                    if threads == 2 {
                        // As the frame loop builds.
                        b = b.with_sparkle_memo();
                    }
                    assert_eq!(b.tile_count() > 0, tiled);
                    for ((&ms, reference), want) in instants.iter().zip(&references).zip(&frames) {
                        let at = t0 + chrono::Duration::milliseconds(ms);
                        // Bytes the map never leaves by chance: every one must
                        // be written (the frame loop hands its frame away and
                        // builds into a stale spare).
                        for d in &mut b.frame.data {
                            d.fill(0xa5);
                        }
                        let mut hooks = [Dims { review }];
                        b.build(
                            cfg,
                            &active,
                            &control,
                            &mut hooks[..].iter_mut().collect::<Vec<_>>(),
                            at,
                        );
                        let what = format!("{threads} threads, tiles of {tile_cells}, tiled {tiled}, review {review}, {ms} ms");
                        assert!(same_bits(&b.look().lights, reference), "look: {what}");
                        assert!(b.frame == *want, "frame: {what}");
                    }
                }
            }
        }
    }

    /// One thread per quarter-million cells, never more than the cores and
    /// never none: 1,000 universes of pixel bars stay on one thread, the
    /// district of 10,000 takes every core.
    #[test]
    fn skips_active_at_is_what_the_schedule_program_plays() {
        let cfg = crate::config::compile(
            crate::generate::sources(site_files(&SiteSpec::new(4)).unwrap()),
            Diagnostics::new(),
        )
        .unwrap_or_else(|d| panic!("{:?}", d.items));
        let sched = &cfg.schedule;
        let t0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        // The first instant of the coming nights at which an entry plays.
        let at = (0..48 * 6)
            .map(|k| t0 + chrono::Duration::minutes(10 * k))
            .find(|t| !sched.active_at(*t).is_empty())
            .expect("the generated schedule plays within two days");
        let skips = Skips::default();
        let names = |v: Vec<crate::schedule::plan::Planned>| -> Vec<String> {
            v.into_iter().map(|p| p.show).collect()
        };
        let played = |skips: &Skips| -> Vec<String> {
            let mut out = Vec::new();
            Scheduled::with_skips(skips.clone()).active_into(&cfg, at, &mut out);
            out.iter().map(|a| a.show.name.clone()).collect()
        };
        assert_eq!(
            names(skips.active_at(sched, at)),
            names(sched.active_at(at))
        );
        assert_eq!(names(skips.active_at(sched, at)), played(&skips));
        let p = sched.active_at(at).remove(0);
        skips.set([(sched.night_of(p.start), p.entry, p.show.clone())]);
        assert!(!names(skips.active_at(sched, at)).contains(&p.show));
        assert_eq!(names(skips.active_at(sched, at)), played(&skips));
    }

    #[test]
    fn threads_follow_the_site_size() {
        let check = |cells: usize, cores: usize, expect: usize| {
            assert_eq!(
                threads_for(cells, cores),
                expect,
                "{cells} cells, {cores} cores"
            );
        };
        check(0, 2, 1);
        check(17_000, 8, 1);
        check(170_000, 2, 1);
        check(250_000, 2, 1);
        check(250_001, 2, 2);
        check(340_000, 2, 2);
        check(1_700_000, 2, 2);
        check(1_700_000, 8, 7);
        check(1_700_000, 0, 1);
    }
}
