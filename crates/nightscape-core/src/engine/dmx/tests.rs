//! The vectorised RGB pixel path against the scalar one, to the bit:
//! the channel rounding alone on every kind of float, then whole maps
//! of sites built to hit each curve, limit and edge of the loop; and the
//! general path's fast rounding against `round`.

use super::channels::{to16, to8};
use super::pixels::*;
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
        std::sync::Arc::new(include_bytes!("../../../../../shows/fireworks.gif").to_vec()),
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
