//! Golden frames, beside the loader that reads their site folder (was
//! tests/it/golden_frames.rs): for each effect, the DMX values of a small hand-checked
//! site at a few instants, including fade edges and loop wrap-around. The
//! expected arrays are computed by hand from the effect definitions (see
//! the comments), not copied from the output.

use chrono::{DateTime, Duration, Utc};
use nightscape_core::engine::{render_frame, ActiveShow};
use std::path::Path;

const PROFILES: &[(&str, &str)] = &[
    ("rgb3", "name = \"rgb\"\npower_w = 10\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n"),
    ("rgbw", "name = \"rgbw\"\npower_w = 10\n[[modes]]\nname = \"5ch\"\nchannels = [\"dimmer\", \"red\", \"green\", \"blue\", \"white\"]\n"),
    ("ww", "name = \"tunable\"\npower_w = 10\nwarm_k = 2700\ncool_k = 6500\n[[modes]]\nname = \"2ch\"\nchannels = [\"warm\", \"cool\"]\n"),
    ("mh", "name = \"head\"\npower_w = 10\npan_range = 540\ntilt_range = 270\n[[modes]]\nname = \"5ch\"\nchannels = [\"pan\", \"pan_fine\", \"tilt\", \"tilt_fine\", \"dimmer\"]\n"),
];

const SITE: &str = r#"
name = "golden"
latitude = 0
longitude = 0
timezone = "UTC"
[[outputs]]
kind = "artnet"
target = "127.0.0.1:9"
universes = "0-1"
[[paths]]
name = "line"
points = [[0, 0], [0, 100]]
[[arrays]]                 # a-001..a-005 at 0, 25, 50, 75, 100 m; 0.1, 0.4, ... 0.13
name = "a"
profile = "rgb3"
mode = "3ch"
path = "line"
spacing = 25
start = "0.1"
[[fixtures]]
name = "f"
profile = "rgbw"
mode = "5ch"
at = [0, 0]
address = "1.1"
[[fixtures]]
name = "w"
profile = "ww"
mode = "2ch"
at = [0, 0]
address = "1.10"
[[fixtures]]
name = "m"
profile = "mh"
mode = "5ch"
at = [0, 0]
address = "1.20"
"#;

struct Golden {
    _dir: tempfile::TempDir,
    cfg: crate::config::Config,
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-31T12:00:00Z")
        .unwrap()
        .into()
}

/// A site with the given shows (name → layers TOML).
fn golden(shows: &[(&str, &str)]) -> Golden {
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("fixtures");
    let site = dir.path().join("shows");
    std::fs::create_dir_all(&fx).unwrap();
    std::fs::create_dir_all(&site).unwrap();
    for (k, v) in PROFILES {
        std::fs::write(fx.join(format!("{k}.toml")), v).unwrap();
    }
    std::fs::write(site.join("site.toml"), SITE).unwrap();
    for (name, body) in shows {
        std::fs::write(site.join(format!("{name}.toml")), body).unwrap();
    }
    let cfg = crate::config::load(Path::new(&site)).unwrap_or_else(|d| panic!("{d}"));
    Golden { _dir: dir, cfg }
}

impl Golden {
    /// Universe 0 channels 1..=15 (the five rgb3 fixtures) at t seconds.
    fn array(&self, show: &str, t: f64) -> Vec<u8> {
        self.universe(show, t, 0)[..15].to_vec()
    }

    fn universe(&self, show: &str, t: f64, u: u16) -> Vec<u8> {
        let s = self.cfg.show(show).unwrap();
        let at = t0() + Duration::milliseconds((t * 1000.0) as i64);
        let frame = render_frame(&self.cfg.site, &[ActiveShow::new(s, t0(), None, 0)], at);
        frame.universe(u).unwrap().to_vec()
    }
}

fn layer(effect: &str, extra: &str) -> String {
    format!("fade_in = \"0s\"\n[[layers]]\ntarget = \"a-*\"\neffect = \"{effect}\"\n{extra}\n")
}

#[test]
fn solid_with_fade_in_edges() {
    let g = golden(&[("s", "fade_in = \"2s\"\n[[layers]]\ntarget = \"a-*\"\neffect = \"solid\"\ncolor = \"#ff8000\"\nlevel = 0.5\n")]);
    // #ff8000 at 0.5: r = 0.5 → 128, g = 0.5 × 128/255 → 64.
    assert_eq!(g.array("s", 2.0), [128, 64, 0].repeat(5));
    assert_eq!(g.array("s", 60.0), [128, 64, 0].repeat(5));
    // Half way through the 2 s fade-in: r = 0.25 → 64, g = 0.1255 → 32.
    assert_eq!(g.array("s", 1.0), [64, 32, 0].repeat(5));
    // At the start instant, and before it, nothing.
    assert_eq!(g.array("s", 0.0), [0; 15]);
    assert_eq!(g.array("s", -5.0), [0; 15]);
}

#[test]
fn chase_steps_and_wraps() {
    let g = golden(&[("c", &layer("chase", "color = \"#ff0000\"\nstep = \"1s\""))]);
    let lit = |t: f64| -> Vec<u8> { g.array("c", t).chunks(3).map(|c| c[0]).collect() };
    assert_eq!(lit(0.0), [255, 0, 0, 0, 0]);
    assert_eq!(lit(2.5), [0, 0, 255, 0, 0]);
    assert_eq!(lit(4.0), [0, 0, 0, 0, 255]);
    // Wrap-around after the last fixture.
    assert_eq!(lit(5.0), [255, 0, 0, 0, 0]);
}

#[test]
fn wave_follows_the_path() {
    let g = golden(&[(
        "w",
        &layer(
            "wave",
            "color = \"#ff0000\"\nspeed = \"0 m/s\"\nwavelength = \"100 m\"",
        ),
    )]);
    // 0.5 + 0.5 cos(2π s / 100) at s = 0, 25, 50, 75, 100 → 1, ½, 0, ½, 1.
    let red: Vec<u8> = g.array("w", 3.0).chunks(3).map(|c| c[0]).collect();
    assert_eq!(red, [255, 128, 0, 128, 255]);
    let moving = golden(&[(
        "w",
        &layer(
            "wave",
            "color = \"#ff0000\"\nspeed = \"25 m/s\"\nwavelength = \"100 m\"",
        ),
    )]);
    // One second later the crest has moved 25 m up the path.
    let red: Vec<u8> = moving.array("w", 1.0).chunks(3).map(|c| c[0]).collect();
    assert_eq!(red, [128, 255, 128, 0, 128]);
}

#[test]
fn gradient_fade_pulse_rainbow() {
    let g = golden(&[
        (
            "g",
            &layer("gradient", "colors = [\"#ff0000\", \"#0000ff\"]"),
        ),
        (
            "f",
            &layer(
                "fade",
                "colors = [\"#ff0000\", \"#0000ff\"]\nperiod = \"10s\"",
            ),
        ),
        ("p", &layer("pulse", "color = \"#ff0000\"\nperiod = \"4s\"")),
        ("r", &layer("rainbow", "period = \"12s\"")),
    ]);
    // Gradient across 0..100 m: red, ¾ red ¼ blue, half, ¼ ¾, blue.
    assert_eq!(
        g.array("g", 1.0),
        [255, 0, 0, 191, 0, 64, 128, 0, 128, 64, 0, 191, 0, 0, 255]
    );
    // Fade: half way red → blue at 5 s; blue at 10 s; back to red at 20 s.
    assert_eq!(g.array("f", 5.0), [128, 0, 128].repeat(5));
    assert_eq!(g.array("f", 10.0), [0, 0, 255].repeat(5));
    assert_eq!(g.array("f", 20.0), [255, 0, 0].repeat(5));
    // Pulse: raised cosine, 0 at the start of the period, full at half.
    assert_eq!(g.array("p", 0.0), [0; 15]);
    assert_eq!(g.array("p", 1.0), [128, 0, 0].repeat(5));
    assert_eq!(g.array("p", 2.0), [255, 0, 0].repeat(5));
    // Rainbow: green a third of the way round the hue circle.
    assert_eq!(g.array("r", 4.0), [0, 255, 0].repeat(5));
    assert_eq!(g.array("r", 12.0), [255, 0, 0].repeat(5));
}

#[test]
fn sequence_fades_and_loops() {
    let g = golden(&[(
        "q",
        &layer(
            "sequence",
            "loop = true\ncues = [{ at = \"0s\", color = \"#ff0000\" }, { at = \"10s\", color = \"#0000ff\", fade = \"2s\" }]",
        ),
    )]);
    assert_eq!(g.array("q", 5.0), [255, 0, 0].repeat(5));
    // Half way through the 2 s fade to blue.
    assert_eq!(g.array("q", 11.0), [128, 0, 128].repeat(5));
    assert_eq!(g.array("q", 15.0), [0, 0, 255].repeat(5));
    // The loop period is 20 s (the last cue holds as long as the interval
    // before it): at 21 s the first cue (no fade) is back.
    assert_eq!(g.array("q", 21.0), [255, 0, 0].repeat(5));
}

#[test]
fn twinkle_is_deterministic() {
    let g = golden(&[(
        "t",
        &layer(
            "twinkle",
            "colors = [\"#000080\", \"#ffffff\"]\ndensity = 0.5\nseed = 3",
        ),
    )]);
    for t in [0.3, 1.7, 99.1] {
        assert_eq!(g.array("t", t), g.array("t", t));
    }
    let none = golden(&[(
        "t",
        &layer(
            "twinkle",
            "colors = [\"#000080\", \"#ffffff\"]\ndensity = 0",
        ),
    )]);
    assert_eq!(none.array("t", 7.5), [0, 0, 128].repeat(5));
}

#[test]
fn profiles_map_colour_white_temperature_and_position() {
    let g = golden(&[
        ("white", "fade_in = \"0s\"\n[[layers]]\ntarget = \"f\"\neffect = \"solid\"\ncolor = \"#ffffff\"\n"),
        ("red40", "fade_in = \"0s\"\n[[layers]]\ntarget = \"f\"\neffect = \"solid\"\ncolor = \"#ff0000\"\nlevel = 0.4\n"),
        ("warm", "fade_in = \"0s\"\n[[layers]]\ntarget = \"w\"\neffect = \"solid\"\ncolor = \"2700K\"\n"),
        ("cool", "fade_in = \"0s\"\n[[layers]]\ntarget = \"w\"\neffect = \"solid\"\ncolor = \"6500K\"\n"),
        ("mid", "fade_in = \"0s\"\n[[layers]]\ntarget = \"w\"\neffect = \"solid\"\ncolor = \"4600K\"\n"),
        ("head", "fade_in = \"0s\"\n[[layers]]\ntarget = \"m\"\neffect = \"solid\"\ncolor = \"white\"\npan = 90\n"),
    ]);
    // RGBW with a dimmer: white goes to the white emitter, intensity to the dimmer.
    assert_eq!(&g.universe("white", 1.0, 1)[..5], &[255, 0, 0, 0, 255]);
    assert_eq!(&g.universe("red40", 1.0, 1)[..5], &[102, 255, 0, 0, 0]);
    // Tunable white: 2700 K all warm, 6500 K all cool, the middle both full.
    assert_eq!(&g.universe("warm", 1.0, 1)[9..11], &[255, 0]);
    assert_eq!(&g.universe("cool", 1.0, 1)[9..11], &[0, 255]);
    assert_eq!(&g.universe("mid", 1.0, 1)[9..11], &[255, 255]);
    // Pan 90° of 540: 0.5 + 1/6 = 0.6667 → 43690 = 0xAAAA; tilt centre 32768.
    assert_eq!(
        &g.universe("head", 1.0, 1)[19..24],
        &[0xAA, 0xAA, 0x80, 0x00, 255]
    );
}
