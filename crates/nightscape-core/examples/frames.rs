//! Whole frames of a generated site on the core alone, for counting
//! instructions: the scale bench's `NIGHTSCAPE_SCALE_FRAMES` mode without
//! the daemon crate (no ArtDmx build), so a change to the render or the map
//! is measured after a core build of about two minutes instead of a whole
//! release build. It prints a hash over every frame's DMX bytes, so two
//! builds can be checked to send the same bytes.
//!
//! ```text
//! cargo build --release -p nightscape-core --example frames
//! FRAMES=1000,3 valgrind --tool=callgrind --toggle-collect='frames::frames' \
//!   target/release/examples/frames
//! callgrind_annotate --inclusive=yes callgrind.out.<pid>
//! ```
//!
//! `FRAMES=UNIVERSES,N[,EFFECT]`: the site of `generate-site --universes
//! UNIVERSES --effect EFFECT` (`all` unless given), one warm-up frame, then
//! N frames, 25 ms apart.

use chrono::{DateTime, Duration, Utc};
use nightscape_core::config::{self, Config};
use nightscape_core::control::CompiledControl;
use nightscape_core::diag::Diagnostics;
use nightscape_core::engine::ActiveShow;
use nightscape_core::generate::{self, site_files, GeneratedEffect, SiteSpec, SHOW_NAME};
use nightscape_core::pipeline::{FrameBuilder, FrameHook};

fn main() {
    let spec = std::env::var("FRAMES").unwrap_or_else(|_| "1000,3".into());
    let mut parts = spec.split(',');
    let mut next = |what| {
        parts
            .next()
            .unwrap_or_else(|| panic!("FRAMES=UNIVERSES,N: no {what}"))
    };
    let u: u32 = next("universes").parse().expect("universes");
    let n: u32 = next("frames").parse().expect("frames");
    let effect = parts.next().unwrap_or("all");
    let mut spec = SiteSpec::new(u);
    spec.effect = GeneratedEffect::parse(effect).expect("effect: wave, gradient, twinkle or all");
    let cfg = site(&spec);
    // As the frame loop builds: remembering the twinkles' lit cells.
    let mut builder = FrameBuilder::new(&cfg.site).with_sparkle_memo();
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-12-31T20:00:00+08:00")
        .unwrap()
        .into();
    // FNV-1a over the bytes of every frame, the warm-up frame included.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    // The frames after the warm-up, timed (the hashing not included).
    let mut took = std::time::Duration::ZERO;
    for k in 0..=n {
        let began = std::time::Instant::now();
        frames(
            &cfg,
            &mut builder,
            start + Duration::milliseconds(25 * k as i64),
            1,
        );
        if k > 0 {
            took += began.elapsed();
        }
        for byte in builder.frame.data.iter().flatten() {
            hash = (hash ^ *byte as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!(
        "{u} universes of {effect}, {} frames: DMX hash {hash:016x}; {:.2} ms a frame after the first",
        n + 1,
        took.as_secs_f64() * 1e3 / n.max(1) as f64
    );
}

/// The generated site, compiled from its files in memory.
fn site(spec: &SiteSpec) -> Config {
    let files = site_files(spec).expect("site spec");
    config::compile(generate::sources(files), Diagnostics::new())
        .unwrap_or_else(|d| panic!("{:?}", d.items))
}

/// `n` whole frames (render, limits, map) from `at`, 25 ms apart: what
/// callgrind counts (`--toggle-collect='frames::frames'`).
#[inline(never)]
fn frames(cfg: &Config, builder: &mut FrameBuilder, mut at: DateTime<Utc>, n: u32) {
    let show = cfg.show(SHOW_NAME).expect("generated show");
    let start = DateTime::parse_from_rfc3339("2026-12-31T19:55:00+08:00").unwrap();
    let active = [ActiveShow::new(show, start.into(), None, 0)];
    let control = CompiledControl::default();
    let mut hooks: Vec<Box<dyn FrameHook>> = Vec::new();
    for _ in 0..n {
        at += Duration::milliseconds(25);
        std::hint::black_box(builder.build(cfg, &active, &control, &mut hooks, at));
    }
}
