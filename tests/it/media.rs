//! Media facades end to end: the real daemon plays the demo's festival,
//! whose fireworks GIF is mapped onto the tower's pixel facade, and the
//! ArtDmx packets decoded from a socket on 127.0.0.1 carry exactly what
//! `nightscape render` (another process) computes for the same instant;
//! the facade shows the clip's frame for that instant. Bad media files
//! are located `check` errors, never a crash.

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

const SINCE: &str = "2026-12-31T20:00:00+08:00";

/// One complete frame from a daemon frozen at `at` (the festival forced
/// to have started at SINCE).
fn wire_frame(at: &str) -> BTreeMap<u16, Vec<u8>> {
    common::frozen_demo_frame("spring-festival", SINCE, at)
}

/// `nightscape render --show spring-festival --since SINCE --at AT`.
fn cli_render(at: &str) -> BTreeMap<u16, Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let args = ["--show", "spring-festival", "--since", SINCE, "--at", at];
    common::cli_render_args(&root.join("shows"), &args).1
}

/// The facade's pixels, bar by bar, bottom cell first.
fn facade(frame: &BTreeMap<u16, Vec<u8>>) -> Vec<[u8; 3]> {
    (0..20)
        .flat_map(|bar: usize| {
            let u = 5 + (bar / 2) as u16;
            let a = (bar % 2) * 180;
            let d = &frame[&u];
            (0..60).map(move |c| [d[a + 3 * c], d[a + 3 * c + 1], d[a + 3 * c + 2]])
        })
        .collect()
}

#[test]
fn the_daemon_plays_the_facade_clip_as_render_does() {
    // 12.05 s and 12.35 s into the show: 4.05 s and 4.35 s into the
    // 4 s clip's third play, frames 0 and 3 (0.1 s each).
    let instants = [
        "2026-12-31T20:00:12.05+08:00",
        "2026-12-31T20:00:12.35+08:00",
    ];
    let mut facades = Vec::new();
    for at in instants {
        let wire = wire_frame(at);
        let cli = cli_render(at);
        for u in 0..15u16 {
            assert_eq!(wire[&u], cli[&u], "universe {u} at {at}");
        }
        let f = facade(&wire);
        // Lit by the clip: the deep red sky everywhere, gold where a
        // firework is (the GIF's sky is #5a0008).
        let sky = f.iter().filter(|p| **p == [0x5a, 0x00, 0x08]).count();
        let gold = f.iter().filter(|p| p[1] > 60).count();
        assert!(sky > 600, "at {at}: {sky} sky pixels of 1200");
        assert!(gold > 0, "at {at}: no firework on the facade");
        facades.push(f);
    }
    // The frames differ: the fireworks move with show time.
    assert_ne!(facades[0], facades[1]);
}

/// Bad media, each in a show of its own in a copy of the demo: `check`
/// fails with one located error per file, saying what is wrong.
#[test]
fn bad_media_files_are_located_check_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    // A real PNG, then broken ways.
    let good = std::fs::read(site.join("fireworks.gif")).unwrap();
    assert!(good.starts_with(b"GIF89a"));
    let mut png = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(b"IHDR");
    png.extend_from_slice(&100_000u32.to_be_bytes());
    png.extend_from_slice(&100_000u32.to_be_bytes());
    png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    std::fs::write(site.join("huge.png"), &png).unwrap();
    std::fs::write(site.join("cut.gif"), &good[..good.len() / 3]).unwrap();
    // A GIF screen of 65535 x 65535 (a "zip bomb" would fill it).
    let mut bomb = good[..6].to_vec();
    bomb.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0]);
    bomb.extend_from_slice(&good[13..]);
    std::fs::write(site.join("bomb.gif"), &bomb).unwrap();
    std::fs::write(site.join("notes.png"), b"not a picture at all").unwrap();
    let cases = [
        ("huge.png", "100000 × 100000"),
        ("cut.gif", "media `cut.gif`"),
        ("bomb.gif", "65535 × 65535"),
        ("notes.png", "it reads PNG, APNG, JPEG, GIF, WebP"),
        ("gone.png", "cannot read media `gone.png`"),
    ];
    for (i, (file, _)) in cases.iter().enumerate() {
        std::fs::write(
            site.join(format!("bad-{i}.toml")),
            format!(
                "[[layers]]\ntarget = \"facade-bar-*\"\neffect = \"media\"\nsource = \"{file}\"\n"
            ),
        )
        .unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["check", "--site"])
        .arg(&site)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for (i, (_, words)) in cases.iter().enumerate() {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("bad-{i}.toml:4:10: ")))
            .unwrap_or_else(|| panic!("no located error for bad-{i}.toml in:\n{text}"));
        assert!(line.contains(words), "{line}");
    }
    assert!(!text.contains("panicked"), "{text}");
}

/// A clip that strobes the whole facade black and white five times a
/// second after 2.5 s of black fails the safety check at its layer, and
/// the error says where in the clip (so the designer finds the frames).
#[test]
fn a_strobing_clip_fails_check_with_its_time_in_the_clip() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    // The clip strobes from 2.5 s to 4.5 s: 5 s of each show (the least
    // `[safety] seconds` allows) hold its first strobe; the default minute
    // rendered the demo's other shows 12 times as long (about 2 of this
    // test's 2.8 s of CPU in a debug build).
    common::short_safety_check(&site);
    let mut gif = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut gif, 4, 4, &[0, 0, 0, 255, 255, 255]).unwrap();
        enc.set_repeat(gif::Repeat::Infinite).unwrap();
        // 25 black frames of 0.1 s, then 20 frames alternating.
        for k in 0..45u32 {
            let on = k >= 25 && k % 2 == 0;
            let frame = gif::Frame {
                width: 4,
                height: 4,
                delay: 10,
                buffer: std::borrow::Cow::Owned(vec![u8::from(on); 16]),
                ..gif::Frame::default()
            };
            enc.write_frame(&frame).unwrap();
        }
    }
    std::fs::write(site.join("strobe.gif"), gif).unwrap();
    std::fs::write(
        site.join("strobe.toml"),
        "fade_in = \"0s\"\n[[layers]]\ntarget = \"facade-bar-*\"\neffect = \"media\"\nsource = \"strobe.gif\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["check", "--site"])
        .arg(&site)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("strobe.toml:2:1: ") && l.contains("flashes"))
        .unwrap_or_else(|| panic!("no flash finding at the layer in:\n{text}"));
    let into = line
        .split(" s into `strobe.gif`")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no clip time in: {line}"));
    assert!((2.0..=4.5).contains(&into), "{line}");
}

/// `preview` draws the tower's facade as an elevation below the plan (in
/// plan a facade is a line): at 12.05 s into the festival each facade
/// cell's dot in the elevation, at its (u, v), carries the colour `render`
/// sends for it (the clip's red sky, a firework in gold), and no elevation
/// dot lands on the plan.
#[test]
fn preview_draws_the_facade_as_an_elevation_in_the_clip_colours() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let cfg = nightscape::config::load(&site).unwrap();
    let at = "2026-12-31T20:00:12.05+08:00";
    let out_png = tmp.path().join("facade.png");
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["preview", "--site", site.to_str().unwrap()])
        .args(["--show", "spring-festival", "--since", SINCE, "--at", at])
        .args(["--out", out_png.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dec = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&out_png).unwrap(),
    ));
    let mut reader = dec.read_info().unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().expect("the PNG fits in memory")];
    let info = reader.next_frame(&mut rgb).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let (w, h) = (info.width, info.height);
    assert_eq!((w, h), (1920, 1080));

    let layout = nightscape::preview::map::MapLayout::new(&cfg.site, w, h);
    assert_eq!(layout.elevations.len(), 1);
    let e = &layout.elevations[0];
    assert_eq!(e.name, "tower-east");
    // Below every plan dot, 40 m × 20 m kept 2:1.
    let plan_bottom = layout.cells.iter().map(|p| p[1]).fold(0.0, f32::max);
    assert!(
        e.frame.y > plan_bottom + 10.0,
        "{:?} vs {plan_bottom}",
        e.frame
    );
    assert!((e.frame.w / e.frame.h - 2.0).abs() < 0.01, "{:?}", e.frame);
    // The 1200 facade pixels, each at its (u, v).
    assert_eq!(layout.elevation_cells.len(), 1200);

    let args = ["--show", "spring-festival", "--since", SINCE, "--at", at];
    let universes = common::cli_render_args(&site, &args).1;
    let mut frame = nightscape_core::engine::Frame::new(&cfg.site);
    for (u, d) in frame.universes.iter().zip(frame.data.iter_mut()) {
        let sent = &universes[u];
        d[..sent.len()].copy_from_slice(sent);
    }
    let want = nightscape_core::engine::display::cell_colors(&cfg.site, &frame);
    let (mut sky, mut gold) = (0, 0);
    for c in &layout.elevation_cells {
        let (x, y) = (c.at[0].floor() as usize, c.at[1].floor() as usize);
        assert!(
            c.at[0] >= e.frame.x && c.at[0] <= e.frame.x + e.frame.w,
            "cell {} off its elevation",
            c.cell
        );
        let k = (y * w as usize + x) * 3;
        let got = [rgb[k], rgb[k + 1], rgb[k + 2]];
        // A dot at least 1.5 px across covers its centre pixel; the
        // smallest are anti-aliased, so compare those loosely.
        if c.radius >= 1.5 {
            assert_eq!(got, want[c.cell], "cell {} at ({x}, {y})", c.cell);
        }
        if got == [0x5a, 0x00, 0x08] {
            sky += 1;
        }
        if got[1] > 60 {
            gold += 1;
        }
    }
    assert!(sky > 600, "{sky} red-sky pixels in the elevation of 1200");
    assert!(gold > 0, "no firework in the elevation");
}
