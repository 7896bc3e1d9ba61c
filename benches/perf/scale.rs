//! City-scale benchmarks: each stage of a frame, alone, for generated sites
//! of 100, 1,000 and 10,000 universes (170 RGB pixels each; wave on the
//! avenues, a gradient up the facades, twinkle over everything — the site
//! `nightscape generate-site --universes N` writes).
//!
//! - `render_only`: the shows into light per cell (`engine::render_look`);
//! - `map_only`: light per cell into DMX (`FrameBuilder`'s mapper);
//! - `packet_build`: DMX into ArtDmx packets in place (what the output does
//!   before its send calls);
//! - `whole_frame`: `FrameBuilder::build` (render, limits, map) plus the
//!   packet build: all the CPU a frame costs before the kernel.
//!
//! Run with `cargo bench -- scale::`; docs/performance.md has the numbers
//! and what they mean for 40 fps.

use crate::at;
use chrono::{DateTime, Duration, Utc};
use nightscape::config::{self, Config};
use nightscape::control::CompiledControl;
use nightscape::daemon::{FrameBuilder, FrameHook};
use nightscape::output::artnet::ArtDmxPackets;
use nightscape_core::engine::{self, ActiveShow, Look};
use nightscape_core::generate::{SiteSpec, SHOW_NAME};

/// The instruction-count mode; true when it ran (then the binary exits).
pub(crate) fn frames_only() -> bool {
    // `NIGHTSCAPE_SCALE_FRAMES=UNIVERSES,FRAMES`: instead of timing, run
    // that many whole frames on one thread in `frames` and exit — for
    // counting instructions, which (unlike time) do not depend on what
    // else the machine runs:
    //   valgrind --tool=callgrind --toggle-collect='perf::scale::frames' BENCH
    if let Ok(spec) = std::env::var("NIGHTSCAPE_SCALE_FRAMES") {
        let (u, n) = spec.split_once(',').expect("UNIVERSES,FRAMES");
        let (u, n) = (u.parse().expect("universes"), n.parse().expect("frames"));
        let (_dir, cfg) = site(u);
        let mut builder = FrameBuilder::new(&cfg.site).with_sparkle_memo();
        let mut packets = ArtDmxPackets::new(&cfg.site.universes, &cfg.site.universes);
        // One frame first: buffers touched, nothing left to size.
        frames(&cfg, &mut builder, &mut packets, at(), 1);
        frames(&cfg, &mut builder, &mut packets, at(), n);
        return true;
    }
    false
}

/// `n` whole frames (render, map, ArtDmx build), 25 ms apart.
#[inline(never)]
fn frames(
    cfg: &Config,
    builder: &mut FrameBuilder,
    packets: &mut ArtDmxPackets,
    mut t: DateTime<Utc>,
    n: u32,
) {
    let active = active(cfg);
    let control = CompiledControl::default();
    let mut hooks: Vec<Box<dyn FrameHook>> = Vec::new();
    for _ in 0..n {
        t += Duration::milliseconds(25);
        let frame = builder.build(cfg, &active, &control, &mut hooks, t);
        packets.build(frame);
        divan::black_box(packets.bytes());
    }
}

const SIZES: [u32; 3] = [100, 1_000, 10_000];

/// As the daemon runs it: every core.
fn builder(cfg: &Config) -> FrameBuilder {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    FrameBuilder::new(&cfg.site)
        .with_threads(threads)
        .with_sparkle_memo()
}

fn site(universes: u32) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    nightscape::cli::generate::write_site(&SiteSpec::new(universes), dir.path()).unwrap();
    let cfg = config::load(dir.path()).unwrap();
    assert_eq!(cfg.site.universes.len(), universes as usize);
    (dir, cfg)
}

fn active(cfg: &Config) -> [ActiveShow<'_>; 1] {
    let show = cfg.show(SHOW_NAME).unwrap();
    [ActiveShow::new(show, at() - Duration::minutes(5), None, 0)]
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn render_only(bencher: divan::Bencher, universes: u32) {
    let (_dir, cfg) = site(universes);
    let active = active(&cfg);
    let mut look = Look::dark(&cfg.site);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut t = at();
    bencher.bench_local(|| {
        t += Duration::milliseconds(25);
        engine::render_look_threads(&cfg.site, &active, t, &mut look, threads);
        divan::black_box(&look);
    });
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn map_only(bencher: divan::Bencher, universes: u32) {
    let (_dir, cfg) = site(universes);
    let active = active(&cfg);
    let mut look = Look::dark(&cfg.site);
    engine::render_look(&cfg.site, &active, at(), &mut look);
    let mut builder = builder(&cfg);
    bencher.bench_local(|| {
        builder.map(&cfg.site, &look);
        divan::black_box(&builder.frame);
    });
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn packet_build(bencher: divan::Bencher, universes: u32) {
    let (_dir, cfg) = site(universes);
    let active = active(&cfg);
    let frame = engine::render_frame(&cfg.site, &active, at());
    let mut packets = ArtDmxPackets::new(&cfg.site.universes, &cfg.site.universes);
    bencher.bench_local(|| {
        packets.build(&frame);
        divan::black_box(packets.bytes());
    });
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn whole_frame(bencher: divan::Bencher, universes: u32) {
    let (_dir, cfg) = site(universes);
    let active = active(&cfg);
    let control = CompiledControl::default();
    let mut hooks: Vec<Box<dyn FrameHook>> = Vec::new();
    let mut builder = builder(&cfg);
    let mut packets = ArtDmxPackets::new(&cfg.site.universes, &cfg.site.universes);
    let mut t = at();
    bencher.bench_local(|| {
        t += Duration::milliseconds(25);
        let frame = builder.build(&cfg, &active, &control, &mut hooks, t);
        packets.build(frame);
        divan::black_box(packets.bytes());
    });
}
