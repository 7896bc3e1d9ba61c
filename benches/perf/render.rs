//! Render benchmarks: a whole frame (look + DMX mapping) for the demo site
//! and for a generated 1,000-universe site of pixel bars.
//!
//! Run with `cargo bench -- render::`; frames/s = 1 / the median time shown.

use crate::at;
use chrono::Duration;
use nightscape::config::{self, Config};
use nightscape_core::engine::{self, ActiveShow, Frame, Look};
use std::path::Path;

fn demo() -> Config {
    config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("shows")).unwrap()
}

/// 1,000 universes: 2,000 RGB pixel bars of 60 cells (120,000 cells), half
/// in a travelling wave, half in a rainbow.
fn generated() -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = dir.path().join("fixtures");
    std::fs::create_dir_all(&fixtures).unwrap();
    std::fs::copy(
        root.join("fixtures/rgb-pixel-bar-60.toml"),
        fixtures.join("rgb-pixel-bar-60.toml"),
    )
    .unwrap();
    let shows = dir.path().join("shows");
    std::fs::create_dir_all(&shows).unwrap();
    std::fs::write(
        shows.join("site.toml"),
        r#"name = "generated 1000 universes"
latitude = 0
longitude = 0
timezone = "UTC"
[[outputs]]
kind = "artnet"
target = "127.0.0.1:9"
universes = "0-999"
[[paths]]
name = "line"
points = [[0, 0], [0, 4000]]
[[arrays]]
name = "a"
profile = "rgb-pixel-bar-60"
mode = "180ch"
path = "line"
spacing = 2
from = 0
to = 1998
start = "0.1"
[[arrays]]
name = "b"
profile = "rgb-pixel-bar-60"
mode = "180ch"
path = "line"
offset = 5
spacing = 2
from = 0
to = 1998
start = "500.1"
"#,
    )
    .unwrap();
    std::fs::write(
        shows.join("big.toml"),
        r##"name = "big"
[[layers]]
target = "a-*"
effect = "wave"
colors = ["3000K", "#ff0080"]
speed = "4 m/s"
wavelength = "120 m"
[[layers]]
target = "b-*"
effect = "rainbow"
speed = "3 m/s"
wavelength = "200 m"
"##,
    )
    .unwrap();
    let cfg = config::load(&shows).unwrap();
    assert_eq!(cfg.site.universes.len(), 1000);
    (dir, cfg)
}

fn bench_frame(bencher: divan::Bencher, cfg: &Config, show: &str) {
    let show = cfg.show(show).unwrap();
    let start = at() - Duration::minutes(5);
    let active = [ActiveShow::new(show, start, None, 0)];
    let mut look = Look::dark(&cfg.site);
    let mut frame = Frame::new(&cfg.site);
    let mut t = at();
    bencher.bench_local(|| {
        t += Duration::milliseconds(25);
        engine::render_look(&cfg.site, &active, t, &mut look);
        engine::look_to_frame(&cfg.site, &look, &mut frame);
        divan::black_box(&frame);
    });
}

#[divan::bench]
fn demo_nightly_frame(bencher: divan::Bencher) {
    let cfg = demo();
    bench_frame(bencher, &cfg, "nightly");
}

#[divan::bench]
fn demo_festival_frame(bencher: divan::Bencher) {
    let cfg = demo();
    bench_frame(bencher, &cfg, "spring-festival");
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn generated_1000_universes_frame(bencher: divan::Bencher) {
    let (_dir, cfg) = generated();
    bench_frame(bencher, &cfg, "big");
}

// ---- energy: the power estimate per frame (issue 5) ----------------------
// `*_power_estimate` is the model alone on a rendered frame; `*_metered` is
// a whole frame as the daemon makes it with the energy hook's work (curfew
// caps, budget review, model, per-scope and per-show-run sums): compare it
// with the matching `*_frame` above for the overhead.

fn bench_power(bencher: divan::Bencher, cfg: &Config, show: &str) {
    let show = cfg.show(show).unwrap();
    let active = [ActiveShow::new(show, at() - Duration::minutes(5), None, 0)];
    let frame = engine::render_frame(&cfg.site, &active, at());
    let model = nightscape::energy::PowerModel::new(&cfg.site);
    let (mut load, mut watts) = (Vec::new(), Vec::new());
    bencher.bench_local(|| {
        divan::black_box(model.estimate(&frame, &mut load, &mut watts));
    });
}

fn bench_metered(bencher: divan::Bencher, cfg: &Config, show: &str) {
    let show = cfg.show(show).unwrap();
    let active = [ActiveShow::new(show, at() - Duration::minutes(5), None, 0)];
    let mut core = nightscape::energy::meter::Core::new();
    let mut look = Look::dark(&cfg.site);
    let mut limited = Look::dark(&cfg.site);
    let mut frame = Frame::new(&cfg.site);
    let mut limits = engine::Limits::none(&cfg.site);
    let mut t = at();
    bencher.bench_local(|| {
        t += Duration::milliseconds(25);
        engine::render_look(&cfg.site, &active, t, &mut look);
        limits.scale.fill(1.0);
        limits.cap.fill(1.0);
        core.limits(cfg, t, &mut limits);
        for pass in 0..4 {
            limited.clone_from(&look);
            engine::apply_limits(&cfg.site, &mut limited, &limits);
            engine::look_to_frame(&cfg.site, &limited, &mut frame);
            if !core.review(cfg, t, &frame, &mut limits, pass) {
                break;
            }
        }
        divan::black_box(core.sample(cfg, t, &active, &frame).site_w());
    });
}

#[divan::bench]
fn demo_power_estimate(bencher: divan::Bencher) {
    let cfg = demo();
    bench_power(bencher, &cfg, "nightly");
}

#[divan::bench]
fn demo_nightly_frame_metered(bencher: divan::Bencher) {
    let cfg = demo();
    bench_metered(bencher, &cfg, "nightly");
}

#[divan::bench(sample_count = 20, sample_size = 10)]
fn generated_1000_universes_power_estimate(bencher: divan::Bencher) {
    let (_dir, cfg) = generated();
    bench_power(bencher, &cfg, "big");
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn generated_1000_universes_frame_metered(bencher: divan::Bencher) {
    let (_dir, cfg) = generated();
    bench_metered(bencher, &cfg, "big");
}
