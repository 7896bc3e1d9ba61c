//! Properties of the render core and the patch over folders read by the
//! daemon's loader, checked with proptest, beside the loader (was
//! tests/it/properties.rs).
//!
//! Over the demo site (and a copy of it with one extra fixture carrying
//! non-zero `fixed:` and `unused` channels), for arbitrary instants within
//! ±10 years — before, during, in the fades of, and after the shows — and
//! arbitrary lists of demo shows with arbitrary priorities and optional end
//! instants:
//! - rendering never panics and is deterministic (same inputs, same frame);
//! - a frame has exactly the site's universes, each 512 slots, and every
//!   slot no fixture is patched to stays 0, every `unused` channel stays 0
//!   and every `fixed:<v>` channel holds v;
//! - the order the active shows are listed in does not matter (merging goes
//!   by priority, then start);
//! - a show before its start or after its end contributes nothing, and with
//!   nothing playing no emitter channel carries light; once a show's fade-in
//!   is over it does light something.
//!
//! And for the patch: two hand-placed fixtures with random addresses and
//! footprints are rejected with an `overlaps` error — on the later fixture,
//! naming both — exactly when their channel ranges intersect.

use crate::config::{self, Config};
use chrono::{DateTime, Duration, TimeZone, Utc};
use nightscape_core::engine::{render_frame, ActiveShow, Frame};
use nightscape_core::fixture::Role;
use nightscape_core::site::{Site, UNIVERSE_SIZE};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

const TEN_YEARS: i64 = 10 * 366 * 86_400;

// ------------------------------------------------------------ the sites

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The demo site as shipped.
fn demo() -> &'static Config {
    static DEMO: OnceLock<Config> = OnceLock::new();
    DEMO.get_or_init(|| {
        config::load(&repo().join("shows")).unwrap_or_else(|d| panic!("demo site rejected:\n{d}"))
    })
}

/// The fixed values the marker fixture's profile declares.
const MARKER_HEAD_FIXED: u8 = 201;
const MARKER_CELL_FIXED: u8 = 99;

/// The demo site plus one pixel fixture whose head and cells carry
/// `fixed:` and `unused` channels, patched where the demo leaves room
/// (universe 4 holds only tower-crown at 4.1..180). The demo's shows light
/// it: curfew-white targets `*`.
fn marked() -> &'static Config {
    static MARKED: OnceLock<Config> = OnceLock::new();
    MARKED.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        for sub in ["shows", "fixtures"] {
            fs::create_dir_all(tmp.path().join(sub)).unwrap();
            for e in fs::read_dir(repo().join(sub)).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_file() {
                    fs::copy(e.path(), tmp.path().join(sub).join(e.file_name())).unwrap();
                }
            }
        }
        fs::write(
            tmp.path().join("fixtures/probe-marker.toml"),
            format!(
                "name = \"marker\"\npower_w = 10\n[[modes]]\nname = \"m\"\n\
                 channels = [\"fixed:{MARKER_HEAD_FIXED}\", \"dimmer\", \"dimmer_fine\", \"unused\"]\n\
                 cells = 4\ncell = [\"red\", \"fixed:{MARKER_CELL_FIXED}\", \"unused\", \"blue\"]\n"
            ),
        )
        .unwrap();
        let site_toml = tmp.path().join("shows/site.toml");
        let mut text = fs::read_to_string(&site_toml).unwrap();
        text.push_str(
            "\n[[fixtures]]\nname = \"probe-marker\"\nprofile = \"probe-marker\"\nmode = \"m\"\nat = [10, 10]\naddress = \"4.300\"\n",
        );
        fs::write(&site_toml, text).unwrap();
        let cfg = config::load(&tmp.path().join("shows"))
            .unwrap_or_else(|d| panic!("marked demo site rejected:\n{d}"));
        assert!(cfg.site.fixture_by_name("probe-marker").is_some());
        cfg
    })
}

/// What a slot of a frame must hold whatever is playing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// No fixture is patched here.
    Unpatched,
    Unused,
    Fixed(u8),
    /// A channel whose value depends on what plays; `emitter` when it
    /// carries light (dark when nothing plays).
    Live {
        emitter: bool,
    },
}

/// The slot map of every universe, from the patch and the profiles.
fn slot_map(site: &Site) -> Vec<Vec<Slot>> {
    let mut map = vec![vec![Slot::Unpatched; UNIVERSE_SIZE]; site.universes.len()];
    for f in &site.fixtures {
        let u = site
            .universes
            .binary_search(&f.universe)
            .expect("patched universe is in the site");
        let mode = site.mode_of(f);
        let base = f.address as usize - 1;
        // The footprint is the patched range…
        for slot in &mut map[u][base..base + mode.footprint as usize] {
            assert_eq!(
                *slot,
                Slot::Unpatched,
                "the loaded patch overlaps at {}",
                f.name
            );
            *slot = Slot::Live { emitter: false };
        }
        // …and the channels say what each slot does.
        for ch in &mode.channels {
            map[u][base + ch.offset as usize] = match ch.role {
                Role::Fixed(v) => Slot::Fixed(v),
                Role::Unused => Slot::Unused,
                Role::Dimmer
                | Role::Red
                | Role::Green
                | Role::Blue
                | Role::White
                | Role::Amber
                | Role::Uv
                | Role::Warm
                | Role::Cool => Slot::Live { emitter: true },
                _ => Slot::Live { emitter: false },
            };
        }
    }
    map
}

fn slots(cfg: &'static Config) -> &'static [Vec<Slot>] {
    static DEMO: OnceLock<Vec<Vec<Slot>>> = OnceLock::new();
    static MARKED: OnceLock<Vec<Vec<Slot>>> = OnceLock::new();
    let cell = if std::ptr::eq(cfg, demo()) {
        &DEMO
    } else {
        &MARKED
    };
    cell.get_or_init(|| slot_map(&cfg.site))
}

// ------------------------------------------------------------ scenarios

/// One show playing: which demo show, when it started, when it ends.
#[derive(Debug, Clone)]
struct Entry {
    show: usize,
    /// Seconds (and nanoseconds) the show started before the render instant;
    /// negative: it starts after it.
    lag: (i64, u32),
    /// Seconds from its start to its end; `None`: open-ended.
    length: Option<(i64, u32)>,
    priority: i32,
    /// Restrict the show to some fixtures (by index; entries past the end
    /// and missing entries are excluded). `None`: everywhere it points.
    mask: Option<Vec<bool>>,
}

#[derive(Debug, Clone)]
struct Scenario {
    at: (i64, u32),
    entries: Vec<Entry>,
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 31, 12, 0, 0).unwrap()
}

fn instant((secs, nanos): (i64, u32)) -> DateTime<Utc> {
    base() + Duration::seconds(secs) + Duration::nanoseconds(nanos as i64)
}

fn span((secs, nanos): (i64, u32)) -> Duration {
    Duration::seconds(secs) + Duration::nanoseconds(nanos as i64)
}

/// Seconds that land near the interesting places (starts, fades, ends)
/// as well as anywhere in ±10 years.
fn seconds() -> impl Strategy<Value = (i64, u32)> {
    (
        prop_oneof![
            2 => -120i64..=120,
            1 => -4_000i64..=4_000,
            1 => -TEN_YEARS..=TEN_YEARS,
        ],
        0u32..1_000_000_000,
    )
}

fn entry(shows: usize) -> impl Strategy<Value = Entry> {
    (
        0..shows,
        seconds(),
        proptest::option::of(seconds()),
        any::<i32>(),
        prop_oneof![
            3 => Just(None),
            1 => prop::collection::vec(any::<bool>(), 0..2000).prop_map(Some),
        ],
    )
        .prop_map(|(show, lag, length, priority, mask)| Entry {
            show,
            lag,
            length,
            priority,
            mask,
        })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let shows = demo().show_order.len();
    (
        (-TEN_YEARS..=TEN_YEARS, 0u32..1_000_000_000),
        prop::collection::vec(entry(shows), 0..5),
    )
        .prop_map(|(at, entries)| Scenario { at, entries })
}

fn active<'a>(cfg: &'a Config, s: &'a Scenario) -> Vec<ActiveShow<'a>> {
    let at = instant(s.at);
    s.entries
        .iter()
        .map(|e| {
            let started = at - span(e.lag);
            let mut a = ActiveShow::new(
                cfg.shows[&cfg.show_order[e.show]].as_ref(),
                started,
                e.length.map(|l| started + span(l)),
                e.priority,
            );
            a.mask = e.mask.as_deref();
            a
        })
        .collect()
}

/// Check a frame's shape and the slots that never depend on what plays.
fn check_frame(cfg: &'static Config, frame: &Frame) -> Result<(), TestCaseError> {
    let site = &cfg.site;
    prop_assert_eq!(&frame.universes, &site.universes);
    prop_assert_eq!(frame.data.len(), site.universes.len());
    for (u, (data, map)) in frame.data.iter().zip(slots(cfg)).enumerate() {
        prop_assert_eq!(data.len(), UNIVERSE_SIZE);
        for (i, (&v, want)) in data.iter().zip(map).enumerate() {
            let where_ = format!("universe {} slot {}", site.universes[u], i + 1);
            match *want {
                Slot::Unpatched => prop_assert_eq!(v, 0, "unpatched {}", where_),
                Slot::Unused => prop_assert_eq!(v, 0, "unused channel {}", where_),
                Slot::Fixed(f) => prop_assert_eq!(v, f, "fixed channel {}", where_),
                Slot::Live { .. } => {}
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------ properties

#[test]
fn the_slot_maps_are_not_trivial() {
    // Guards the properties below against checking nothing: the demo has
    // unpatched room, unused and fixed channels, and the marker fixture adds
    // fixed values other than 0.
    let count = |cfg: &'static Config, f: fn(&Slot) -> bool| -> usize {
        slots(cfg).iter().flatten().filter(|s| f(s)).count()
    };
    assert!(count(demo(), |s| *s == Slot::Unpatched) > 1000);
    assert_eq!(
        count(demo(), |s| *s == Slot::Unused),
        2,
        "one per searchlight"
    );
    assert_eq!(
        count(demo(), |s| *s == Slot::Fixed(0)),
        2,
        "one per searchlight"
    );
    assert_eq!(count(marked(), |s| *s == Slot::Fixed(MARKER_HEAD_FIXED)), 1);
    assert_eq!(count(marked(), |s| *s == Slot::Fixed(MARKER_CELL_FIXED)), 4);
    assert_eq!(count(marked(), |s| *s == Slot::Unused), 2 + 1 + 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn render_is_deterministic_and_keeps_unpatched_unused_and_fixed_slots(s in scenario()) {
        for cfg in [demo(), marked()] {
            let shows = active(cfg, &s);
            let at = instant(s.at);
            let first = render_frame(&cfg.site, &shows, at);
            let second = render_frame(&cfg.site, &shows, at);
            prop_assert!(first == second, "two renders of the same inputs differ");
            check_frame(cfg, &first)?;
        }
    }

    #[test]
    fn the_order_shows_are_listed_in_does_not_matter(
        s in scenario(),
        rotate in 0usize..5,
    ) {
        let cfg = demo();
        let shows = active(cfg, &s);
        // Merging orders by (priority, start); only ties could depend on
        // the list order.
        let keys: BTreeSet<_> = shows.iter().map(|a| (a.priority, a.started)).collect();
        prop_assume!(keys.len() == shows.len());
        let mut reordered = shows.clone();
        reordered.reverse();
        if !reordered.is_empty() {
            let n = rotate % reordered.len();
            reordered.rotate_left(n);
        }
        let at = instant(s.at);
        prop_assert!(
            render_frame(&cfg.site, &shows, at) == render_frame(&cfg.site, &reordered, at),
            "listing the same shows in another order changed the frame"
        );
    }

    #[test]
    fn a_show_outside_its_interval_contributes_nothing(
        s in scenario(),
        before in prop::collection::vec(any::<bool>(), 5),
    ) {
        let cfg = demo();
        // Move every entry out of its interval: either it starts after the
        // instant, or it ended at or before it.
        let mut s = s;
        for (e, before) in s.entries.iter_mut().zip(before) {
            let (secs, nanos) = e.lag;
            let secs = secs.unsigned_abs().min(TEN_YEARS as u64) as i64;
            if before {
                // Starts (0, 10 years] after the instant.
                e.lag = (-(secs + 1), nanos);
            } else {
                // Started `secs` ago and ended somewhere in 0..=secs since.
                e.lag = (secs, nanos);
                let len = e.length.map(|(l, _)| l.unsigned_abs() as i64 % (secs + 1)).unwrap_or(0);
                e.length = Some((len, 0));
            }
        }
        let at = instant(s.at);
        let shows = active(cfg, &s);
        for a in &shows {
            let outside = a.started > at || a.ends.is_some_and(|end| end <= at);
            prop_assert!(outside, "scenario construction: {:?} is not outside", (a.started, a.ends, at));
        }
        let frame = render_frame(&cfg.site, &shows, at);
        let nothing = render_frame(&cfg.site, &[], at);
        prop_assert!(frame == nothing, "a show outside its interval changed the frame");
        // And with nothing playing, nothing emits light.
        for (data, map) in nothing.data.iter().zip(slots(cfg)) {
            for (&v, want) in data.iter().zip(map) {
                if *want == (Slot::Live { emitter: true }) {
                    prop_assert_eq!(v, 0);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_show_past_its_fade_in_lights_something(
        show in 0..demo().show_order.len(),
        since in prop_oneof![31i64..=600, 31i64..=TEN_YEARS],
        nanos in 0u32..1_000_000_000,
        at in -TEN_YEARS..=TEN_YEARS,
    ) {
        // The counterpart of the property above, so it cannot pass by
        // rendering everything dark: every demo show lights some emitter
        // once its fade-in (30 s at most) is over.
        let cfg = demo();
        let s = Scenario {
            at: (at, 0),
            entries: vec![Entry { show, lag: (since, nanos), length: None, priority: 0, mask: None }],
        };
        prop_assert!(cfg.shows[&cfg.show_order[show]].fade_in <= 30.0);
        let frame = render_frame(&cfg.site, &active(cfg, &s), instant(s.at));
        let lit = frame.data.iter().zip(slots(cfg)).any(|(data, map)| {
            data.iter().zip(map).any(|(&v, want)| v > 0 && *want == (Slot::Live { emitter: true }))
        });
        prop_assert!(lit, "`{}` {}s after its start lights nothing", cfg.show_order[show], since);
    }
}

// ------------------------------------------------------------ the patch

/// Two hand-placed fixtures on a small generated site.
#[derive(Debug, Clone)]
struct Pair {
    /// Footprints (channels) of the first and second fixture's modes.
    f1: u16,
    f2: u16,
    u1: u16,
    u2: u16,
    a1: u16,
    a2: u16,
}

fn pair() -> impl Strategy<Value = Pair> {
    (1u16..=64, 1u16..=64)
        .prop_flat_map(|(f1, f2)| {
            (
                Just(f1),
                Just(f2),
                0u16..=1,
                prop::bool::weighted(0.8),
                1..=(513 - f1),
                1..=(513 - f2),
                prop::bool::weighted(0.7),
                -70i32..=70,
            )
        })
        .prop_map(|(f1, f2, u1, same_universe, a1, far_a2, near, delta)| {
            // Mostly put the second fixture close to the first, where the
            // boundary cases are.
            let a2 = if near {
                (a1 as i32 + delta).clamp(1, 513 - f2 as i32) as u16
            } else {
                far_a2
            };
            Pair {
                f1,
                f2,
                u1,
                u2: if same_universe { u1 } else { 1 - u1 },
                a1,
                a2,
            }
        })
}

fn line_of(text: &str, needle: &str) -> usize {
    assert_eq!(text.matches(needle).count(), 1, "`{needle}` must be unique");
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_patch_rejects_exactly_the_overlapping_pairs(p in pair()) {
        let tmp = tempfile::tempdir().unwrap();
        let site_dir = tmp.path().join("site");
        let lib = tmp.path().join("lib");
        fs::create_dir_all(&site_dir).unwrap();
        fs::create_dir_all(&lib).unwrap();
        fs::write(
            lib.join("cellbar.toml"),
            format!(
                "name = \"cell bar\"\npower_w = 10\n\
                 [[modes]]\nname = \"first-mode\"\ncells = {}\ncell = [\"red\"]\n\
                 [[modes]]\nname = \"second-mode\"\ncells = {}\ncell = [\"red\"]\n",
                p.f1, p.f2
            ),
        )
        .unwrap();
        let site_text = format!(
            "name = \"probe\"\nlatitude = 0\nlongitude = 0\ntimezone = \"UTC\"\nprofiles = \"../lib\"\n\
             [[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1\"\nuniverses = \"0-1\"\n\
             [[fixtures]]\nname = \"first\"\nprofile = \"cellbar\"\nmode = \"first-mode\"\nat = [0, 0]\naddress = \"{}.{}\"\n\
             [[fixtures]]\nname = \"second\"\nprofile = \"cellbar\"\nmode = \"second-mode\"\nat = [1, 0]\naddress = \"{}.{}\"\n",
            p.u1, p.a1, p.u2, p.a2
        );
        fs::write(site_dir.join("site.toml"), &site_text).unwrap();
        fs::write(
            site_dir.join("all.toml"),
            "[[layers]]\ntarget = \"*\"\neffect = \"solid\"\ncolor = \"red\"\n",
        )
        .unwrap();

        let overlap = p.u1 == p.u2 && p.a1 < p.a2 + p.f2 && p.a2 < p.a1 + p.f1;
        match config::load(&site_dir) {
            Ok(cfg) => {
                prop_assert!(!overlap, "overlapping fixtures were accepted: {:?}", p);
                let site = &cfg.site;
                prop_assert_eq!(site.fixtures.len(), 2);
                for (f, (u, a, w)) in site.fixtures.iter().zip([(p.u1, p.a1, p.f1), (p.u2, p.a2, p.f2)]) {
                    prop_assert_eq!((f.universe, f.address, site.mode_of(f).footprint), (u, a, w));
                }
            }
            Err(d) => {
                prop_assert!(overlap, "disjoint fixtures were rejected: {:?}\n{}", p, d);
                let errors: Vec<_> = d.errors().collect();
                prop_assert_eq!(errors.len(), 1, "{}", d);
                let e = errors[0];
                // Reported on the later fixture, naming it first.
                let head = format!(
                    "`second` at {}.{} overlaps `first` at {}.{}",
                    p.u2, p.a2, p.u1, p.a1
                );
                prop_assert!(e.message.starts_with(&head), "`{}` does not start with `{}`", e.message, head);
                prop_assert_eq!(e.path.clone(), site_dir.join("site.toml"));
                prop_assert_eq!(
                    (e.line, e.col),
                    (line_of(&site_text, "name = \"second\""), 8)
                );
            }
        }
    }
}
