//! Media files as a designer handles them, end to end with the real
//! daemon and CLI: a folder of numbered frames plays at its `fps` on the
//! demo's facade (`render --at` and the ArtDmx packets off a socket on
//! 127.0.0.1 agree, frame by show time), and replacing the picture a show
//! plays reloads the site while the daemon runs — a good picture reaches
//! the wire, a truncated one is rejected with its located error in
//! `/api/status` and the last good picture keeps playing.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const SINCE: &str = "2026-12-31T20:00:00+08:00";

/// A PNG of the facade's size (20 × 60, one picture pixel a cell) in one colour.
fn solid_png(rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 20, 60);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&rgb.repeat(20 * 60)).unwrap();
    }
    out
}

/// The facade's 1,200 pixels (20 bars × 60, universes 5–14).
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

/// Whether every facade pixel is `rgb`.
fn all(frame: &BTreeMap<u16, Vec<u8>>, rgb: [u8; 3]) -> bool {
    facade(frame).iter().all(|p| *p == rgb)
}

/// A show of its own on the facade, forced by `--show`.
fn facade_show(site: &Path, name: &str, source_lines: &str) {
    std::fs::write(
        site.join(format!("{name}.toml")),
        format!(
            "fade_in = \"0s\"\n[[layers]]\ntarget = \"facade-bar-*\"\neffect = \"media\"\n{source_lines}"
        ),
    )
    .unwrap();
}

fn render(site: &Path, show: &str, at: &str) -> BTreeMap<u16, Vec<u8>> {
    let args = ["--show", show, "--since", SINCE, "--at", at];
    common::cli_render_args(site, &args).1
}

/// The daemon playing `show` since SINCE with its clock frozen at `at`.
fn frozen(site: &Path, show: &str, at: &str, state: &Path) -> common::Daemon {
    let state = state.to_str().unwrap();
    let args = [
        "--show", show, "--since", SINCE, "--clock", at, "--speed", "0", "--state", state,
    ];
    common::spawn_daemon(site, &args, &[])
}

fn universes() -> Vec<u16> {
    (0..15).collect()
}

#[test]
fn a_folder_of_frames_plays_at_its_fps_on_the_wire_as_render_does() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let rx = common::artnet_receiver(&site);
    let frames = site.join("countdown");
    std::fs::create_dir(&frames).unwrap();
    // Numbered 1, 2, 3 as an animator exports them; 2 frames a second.
    for (k, rgb) in [[200, 0, 0], [0, 200, 0], [0, 0, 200]].iter().enumerate() {
        std::fs::write(frames.join(format!("{:04}.png", k + 1)), solid_png(*rgb)).unwrap();
    }
    facade_show(&site, "frames", "source = \"countdown/\"\nfps = 2\n");
    // The frames show is what `check` is asked about here: 5 s of each
    // show, three times the frames' 1.5 s loop.
    common::short_safety_check(&site);
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["check", "--site"])
        .arg(&site)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Frame by show time: 0.25 s red, 0.75 s green, 1.25 s blue, and
    // 1.75 s red again (a 1.5 s loop).
    let at = "2026-12-31T20:00:00.75+08:00";
    let mut want = None;
    for (when, rgb) in [
        ("2026-12-31T20:00:00.25+08:00", [200, 0, 0]),
        (at, [0, 200, 0]),
        ("2026-12-31T20:00:01.25+08:00", [0, 0, 200]),
        ("2026-12-31T20:00:01.75+08:00", [200, 0, 0]),
    ] {
        let f = render(&site, "frames", when);
        assert!(all(&f, rgb), "at {when}: {:?}", facade(&f)[0]);
        if when == at {
            want = Some(f);
        }
    }
    // The daemon sends the same bytes for the same instant (the render
    // above, not a second `render` process for it).
    let want = want.unwrap();
    let state = tmp.path().join("var");
    let _d = frozen(&site, "frames", at, &state);
    let mut got = None;
    common::wait_for(
        "the frame of 0002.png on the wire",
        Duration::from_secs(20),
        || {
            got = common::collect_frame(&rx, &universes(), Duration::from_secs(2));
            got.as_ref() == Some(&want)
        },
    );
}

#[test]
fn a_replaced_picture_reloads_and_a_truncated_one_keeps_the_last_good_picture() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let rx = common::artnet_receiver(&site);
    let pic = site.join("logo.png");
    std::fs::write(&pic, solid_png([200, 0, 0])).unwrap();
    facade_show(&site, "logo", "source = \"logo.png\"\n");
    let state = tmp.path().join("var");
    let _d = frozen(&site, "logo", "2026-12-31T20:00:05+08:00", &state);
    let facade_becomes = |rgb: [u8; 3], what: &str| {
        let mut last = None;
        let took = common::wait_until(Duration::from_secs(20), || {
            last = common::collect_frame(&rx, &universes(), Duration::from_secs(2));
            last.as_ref().is_some_and(|f| all(f, rgb))
        });
        assert!(
            took.is_some(),
            "{what} never reached the wire: {:?}",
            last.map(|f| facade(&f)[0])
        );
    };
    facade_becomes([200, 0, 0], "the first picture");

    // The designer replaces the picture (written beside it, then renamed
    // over it, as editors save): the site reloads and the wire follows.
    let tmp_pic = site.join(".logo.png.new");
    std::fs::write(&tmp_pic, solid_png([0, 0, 200])).unwrap();
    std::fs::rename(&tmp_pic, &pic).unwrap();
    facade_becomes([0, 0, 200], "the replaced picture");

    // A truncated upload: rejected, reported at the show's `source`, and
    // the last good picture keeps playing.
    let base = common::api_base(&state);
    let reload = |field: &str| -> serde_json::Value {
        let status: serde_json::Value = ureq::get(format!("{base}/api/status"))
            .call()
            .expect("status")
            .body_mut()
            .read_json()
            .unwrap();
        status["reload"][field].clone()
    };
    assert_eq!(reload("rejected"), 0);
    let good = solid_png([0, 200, 0]);
    std::fs::write(&pic, &good[..good.len() / 2]).unwrap();
    common::wait_for(
        "the truncated picture to be rejected",
        Duration::from_secs(20),
        || reload("rejected") == 1,
    );
    let problems = reload("last_rejected")["problems"].to_string();
    assert!(
        problems.contains("logo.toml:5:10: media `logo.png`"),
        "the rejection names the show's line and the file: {problems}"
    );
    common::drain(&rx, Duration::from_millis(200));
    let during = common::collect_frame(&rx, &universes(), Duration::from_secs(5))
        .expect("frames keep flowing");
    assert!(
        all(&during, [0, 0, 200]),
        "a broken picture changed the wire: {:?}",
        facade(&during)[0]
    );
    // And the whole picture, once uploaded, plays.
    std::fs::write(&pic, &good).unwrap();
    facade_becomes([0, 200, 0], "the complete upload");
}
