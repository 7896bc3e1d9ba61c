//! Media benchmarks: what a media layer costs per frame and when it loads.
//!
//! - `media_render`: the shows into light per cell for a generated site of
//!   100 / 1,000 universes whose one layer maps `builtin:sweep` over every
//!   pixel (`generate-site --effect media`): a copy per cell;
//! - `media_render_covered`: the same under a second media layer of a
//!   half-transparent picture (`alpha.png`, alpha varying across it) over
//!   every pixel: the per-cell mix by opacity × coverage instead of a copy;
//! - `media_load`: loading that site — decoding the clip and sampling its
//!   20 frames onto every cell, the cost a media layer pays once;
//! - `sample_1080p_on_facade`: one 1920 × 1080 frame averaged onto a
//!   20 × 60 pixel facade (what each frame of a full-HD picture costs when
//!   the show is compiled).
//!
//! Run with `cargo bench -- media::`; docs/media.md has the daemon's
//! measured CPU and memory at 1,000 and 10,000 universes.

use crate::at;
use chrono::Duration;
use nightscape::config::{self, Config};
use nightscape_core::engine::{self, ActiveShow, Look};
use nightscape_core::generate::{GeneratedEffect, SiteSpec, SHOW_NAME};
use nightscape_core::media::place::{Placement, Sampler};
use nightscape_core::media::Picture;

const SIZES: [u32; 2] = [100, 1_000];

fn write(universes: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = SiteSpec::new(universes);
    spec.effect = GeneratedEffect::Media;
    nightscape::cli::generate::write_site(&spec, dir.path()).unwrap();
    dir
}

fn site(universes: u32) -> (tempfile::TempDir, Config) {
    let dir = write(universes);
    let cfg = config::load(dir.path()).unwrap();
    (dir, cfg)
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn media_render(bencher: divan::Bencher, universes: u32) {
    let (_dir, cfg) = site(universes);
    render_frames(bencher, &cfg);
}

/// A frame of the generated show, 25 ms after the last, per sample.
fn render_frames(bencher: divan::Bencher, cfg: &Config) {
    let show = cfg.show(SHOW_NAME).unwrap();
    let active = [ActiveShow::new(show, at() - Duration::minutes(5), None, 0)];
    let mut look = Look::dark(&cfg.site);
    let mut t = at();
    bencher.bench_local(|| {
        t += Duration::milliseconds(25);
        engine::render_look(&cfg.site, &active, t, &mut look);
        divan::black_box(&look);
    });
}

/// The generated media site with a layer of a picture whose alpha runs
/// from 0 to 255 across it, over the sweep.
fn covered_site(universes: u32) -> (tempfile::TempDir, Config) {
    let dir = write(universes);
    let (w, h) = (64u32, 32u32);
    let mut rgba = Vec::new();
    for _y in 0..h {
        for x in 0..w {
            rgba.extend_from_slice(&[255, 255, 255, (x * 255 / (w - 1)) as u8]);
        }
    }
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header().unwrap().write_image_data(&rgba).unwrap();
    }
    std::fs::write(dir.path().join("alpha.png"), png).unwrap();
    let show = dir.path().join(format!("{SHOW_NAME}.toml"));
    let mut text = std::fs::read_to_string(&show).unwrap();
    text.push_str("\n[[layers]]\ntarget = \"*\"\neffect = \"media\"\nsource = \"alpha.png\"\n");
    std::fs::write(&show, text).unwrap();
    let cfg = config::load(dir.path()).unwrap();
    (dir, cfg)
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn media_render_covered(bencher: divan::Bencher, universes: u32) {
    let (_dir, cfg) = covered_site(universes);
    render_frames(bencher, &cfg);
}

#[divan::bench(args = SIZES, sample_count = 3, sample_size = 1)]
fn media_load(bencher: divan::Bencher, universes: u32) {
    let dir = write(universes);
    bencher.bench_local(|| divan::black_box(config::load(dir.path()).unwrap()));
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn sample_1080p_on_facade(bencher: divan::Bencher) {
    let (w, h) = (1920u32, 1080u32);
    let mut picture = Picture::blank(w, h);
    for (i, p) in picture.rgba.iter_mut().enumerate() {
        let (x, y) = (i as u32 % w, i as u32 / w);
        *p = [(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8, 255];
    }
    // The demo's facade: 20 bars 2 m apart, 60 pixels over 18 m each.
    let points: Vec<[f64; 2]> = (0..20)
        .flat_map(|b| (0..60).map(move |c| [1.0 + 2.0 * b as f64, 1.15 + 0.3 * c as f64]))
        .collect();
    let sampler = Sampler::new(&points, &Placement::default(), w, h);
    let mut out = vec![[0u8; 3]; points.len()];
    let mut cover = vec![0u8; points.len()];
    bencher.bench_local(|| {
        sampler.sample(&picture, &mut out, &mut cover);
        divan::black_box((&out, &cover));
    });
}
