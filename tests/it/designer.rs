//! Designer tools from the command line, run as the real binary on a copy
//! of the demo site: times written in site time, date flags that name
//! their format, `schedule --days 0`, and the dry run (`run --no-output`)
//! that renders and serves the API but sends nothing to any node.
//!
//! Every wait is bounded; ports are the test's own (bound to 0 first).

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn nightscape(site: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .arg("--site")
        .arg(site)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run nightscape")
}

fn render_json(site: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["render", "--format", "json"];
    all.extend_from_slice(args);
    let out = nightscape(site, &all);
    assert!(
        out.status.success(),
        "render {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn site_time_renders_the_same_frame_as_rfc3339() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    // The demo site is in Asia/Shanghai (UTC+8).
    let rfc = render_json(&site, &["--at", "2026-12-31T20:00:00+08:00"]);
    let local = render_json(&site, &["--at", "2026-12-31 20:00"]);
    assert_eq!(rfc, local);
    let local_s = render_json(&site, &["--at", "2026-12-31 20:00:00"]);
    assert_eq!(rfc, local_s);
    let show = render_json(
        &site,
        &[
            "--at",
            "2026-12-31 20:00",
            "--show",
            "nightly",
            "--since",
            "2026-12-31 19:59",
        ],
    );
    let show_default = render_json(&site, &["--at", "2026-12-31 20:00", "--show", "nightly"]);
    assert_eq!(
        show, show_default,
        "--since defaults to a minute before --at"
    );
}

#[test]
fn bad_times_and_dates_name_the_expected_format() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let out = nightscape(&site, &["render", "--at", "31.12.2026 20:00"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("YYYY-MM-DD HH:MM"), "{err}");
    assert!(err.contains("RFC 3339"), "{err}");

    let out = nightscape(&site, &["schedule", "--from", "2027/09/15"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("YYYY-MM-DD"), "{err}");

    let out = nightscape(&site, &["energy", "--estimate", "--from", "15.09.2027"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));

    let out = nightscape(&site, &["schedule", "--days", "0"]);
    assert!(!out.status.success(), "--days 0 is an error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--days"), "{err}");
}

#[test]
fn dst_ambiguous_site_time_is_refused_with_both_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replace(
            "timezone = \"Asia/Shanghai\"",
            "timezone = \"Europe/Berlin\"",
        ),
    )
    .unwrap();
    let out = nightscape(&site, &["render", "--at", "2026-10-25 02:30"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--at"), "{err}");
    assert!(err.contains("2026-10-25T02:30:00+02:00"), "{err}");
    assert!(err.contains("2026-10-25T02:30:00+01:00"), "{err}");
    let out = nightscape(&site, &["render", "--at", "2026-03-29 02:30"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not exist") && err.contains("02:00 +01:00"),
        "{err}"
    );
}

/// `run --no-output --show X --clock T --speed 0`: the API serves the frame
/// `render --show X --at T` prints (not black: the same `--since` default),
/// and the Art-Net socket the site points at receives nothing.
#[test]
fn dry_run_serves_the_rendered_frame_and_sends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let rx = common::artnet_receiver(&site);
    let state = tmp.path().join("var");
    let at = "2026-12-31 20:00";
    let _daemon = common::spawn_daemon(
        &site,
        &[
            "--no-output",
            "--state",
            state.to_str().unwrap(),
            "--show",
            "nightly",
            "--clock",
            at,
            "--speed",
            "0",
        ],
        &[("RUST_LOG", "warn")],
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let base = common::api_base(&state);
    // Wait for the loop to have rendered a good number of frames.
    let mut frame = serde_json::Value::Null;
    common::wait_for(
        "20 frames from the dry run",
        Duration::from_secs(30),
        || {
            if let Ok(mut r) = agent.get(format!("{base}/api/frame")).call() {
                if r.status().as_u16() == 200 {
                    frame = r.body_mut().read_json().unwrap();
                }
            }
            frame["frames"].as_u64().unwrap_or(0) >= 20
        },
    );
    let want = render_json(&site, &["--at", at, "--show", "nightly"]);
    assert_eq!(frame["universes"], want["universes"]);
    assert!(
        want["universes"]["0"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_u64() != Some(0)),
        "the frozen preview is not black"
    );
    // 20+ frames were rendered; none may have reached the socket.
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(rx.recv_from(&mut buf).is_err(), "the dry run sent a packet");
}

fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().expect("the PNG fits in memory")];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// The frame `render` prints, as an engine frame of the site.
fn render_frame(
    site: &Path,
    cfg: &nightscape::config::Config,
    args: &[&str],
) -> nightscape_core::engine::Frame {
    let json = render_json(site, args);
    let mut frame = nightscape_core::engine::Frame::new(&cfg.site);
    for (u, d) in frame.universes.iter().zip(frame.data.iter_mut()) {
        let vals = json["universes"][u.to_string()].as_array().unwrap();
        for (slot, v) in d.iter_mut().zip(vals) {
            *slot = v.as_u64().unwrap() as u8;
        }
    }
    frame
}

/// `preview --at` draws every cell where the site plan puts it, in the
/// display colour of the DMX `render` prints for that instant.
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn preview_png_shows_every_cell_in_the_colour_render_sends() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let cfg = nightscape::config::load(&site).unwrap();
    // 19:35 on a show night: the nightly show over the static evening, so
    // the avenue, square, bridge and facade differ.
    let at = "2026-12-31 19:35";
    let png_path = tmp.path().join("m.png");
    let out = nightscape(
        &site,
        &["preview", "--at", at, "--out", png_path.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (w, h, rgb) = read_png(&png_path);
    assert_eq!((w, h), (1920, 1080), "fits a 1920×1080 screen by default");

    let frame = render_frame(&site, &cfg, &["--at", at]);
    let want = nightscape_core::engine::display::cell_colors(&cfg.site, &frame);
    let layout = nightscape::preview::map::MapLayout::new(&cfg.site, w, h);
    let mut checked = 0;
    let mut distinct = std::collections::BTreeSet::new();
    for (i, (p, r)) in layout.cells.iter().zip(&layout.radius).enumerate() {
        // A dot of radius 2 or more covers its centre pixel whole.
        if *r < 2.0 {
            continue;
        }
        let (x, y) = (p[0].floor() as usize, p[1].floor() as usize);
        let k = (y * w as usize + x) * 3;
        let got = [rgb[k], rgb[k + 1], rgb[k + 2]];
        assert_eq!(got, want[i], "cell {i} at ({x}, {y})");
        distinct.insert(got);
        checked += 1;
    }
    assert!(
        checked >= 100,
        "only {checked} cells were large enough to check"
    );
    assert!(distinct.len() >= 4, "colours: {distinct:?}");

    // The SVG draws the same dots, and says in words what the PNG says.
    let svg_path = tmp.path().join("m.svg");
    let out = nightscape(
        &site,
        &["preview", "--at", at, "--out", svg_path.to_str().unwrap()],
    );
    assert!(out.status.success());
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    for c in &want {
        let hex = format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
        assert!(svg.contains(&format!("fill=\"{hex}\"/>")), "{hex} missing");
    }
    for text in [
        "Thu 2026-12-31 19:35:00 +08:00",
        "mode show-night",
        "nightly",
        "static-evening",
        "larger than to scale",
    ] {
        assert!(svg.contains(text), "the SVG does not say `{text}`");
    }
}

/// `--show` with a wrong name is refused; an unknown extension is named.
#[test]
fn preview_refuses_what_it_cannot_draw() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let out = nightscape(&site, &["preview", "--at", "20:00", "--out", "x.jpg"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".png or .svg"));
    let out = nightscape(
        &site,
        &[
            "preview", "--at", "20:00", "--show", "nightlyy", "--out", "x.png",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown show"));
    let out = nightscape(&site, &["preview", "--out", "x.png"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--night DATE"));
}

/// A night as a PNG (rows × minutes) and as a self-contained HTML player.
/// A column every 15 minutes, not 5: still about fifty columns over the
/// night, for 1.4 s of CPU in a debug build instead of 2.3.
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn preview_night_png_and_html() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let cfg = nightscape::config::load(&site).unwrap();
    let png_path = tmp.path().join("n.png");
    let out = nightscape(
        &site,
        &[
            "preview",
            "--night",
            "2026-12-31",
            "--step",
            "15m",
            "--out",
            png_path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (w, h, rgb) = read_png(&png_path);
    assert!(w >= 1000 && h >= 400, "{w}×{h}");
    // Not a blank picture: plenty of distinct colours.
    let distinct: std::collections::BTreeSet<&[u8]> = rgb.chunks(3).collect();
    assert!(distinct.len() > 50);

    let html_path = tmp.path().join("n.html");
    let out = nightscape(
        &site,
        &[
            "preview",
            "--night",
            "2026-12-31",
            "--step",
            "15m",
            "--out",
            html_path.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("<canvas") && html.contains("type=\"range\""));
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "self-contained"
    );
    // The samples: steps × fixtures × 3 bytes, base64.
    let (start, end) = nightscape::preview::night::span(&cfg, "2026-12-31".parse().unwrap());
    let steps = ((end - start).num_seconds() as f64 / 900.0).ceil() as usize;
    let b64_len = html
        .split("atob(\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .len();
    assert_eq!(
        b64_len,
        (steps * cfg.site.fixtures.len() * 3).div_ceil(3) * 4
    );
}

/// A GIF of a minute at 60× speed: decodes, has the frames asked for, and
/// its first frame shows the bridge in the colour `render` gives it (up to
/// the GIF's 256-colour palette).
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn preview_gif_decodes_with_the_right_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let cfg = nightscape::config::load(&site).unwrap();
    let gif_path = tmp.path().join("c.gif");
    let from = "2026-12-31 19:35";
    let out = nightscape(
        &site,
        &[
            "preview",
            "--from",
            from,
            "--to",
            "2026-12-31 19:36",
            "--fps",
            "5",
            "--speed",
            "60",
            "--width",
            "960",
            "--out",
            gif_path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    let mut dec = opts
        .read_info(std::fs::File::open(&gif_path).unwrap())
        .unwrap();
    let (w, h) = (dec.width() as usize, dec.height() as usize);
    assert_eq!((w, h), (960, 540));
    let first = dec.read_next_frame().unwrap().unwrap().buffer.to_vec();
    let mut n = 1;
    while dec.read_next_frame().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(
        n, 6,
        "60 s at 60× and 5 fps: 5 frames a second plus the last"
    );
    let frame = render_frame(&site, &cfg, &["--at", from]);
    let want = nightscape_core::engine::display::cell_colors(&cfg.site, &frame);
    let layout = nightscape::preview::map::MapLayout::new(&cfg.site, 960, 540);
    let mut checked = 0;
    for (i, (p, r)) in layout.cells.iter().zip(&layout.radius).enumerate() {
        if *r < 2.0 {
            continue;
        }
        let k = (p[1].floor() as usize * w + p[0].floor() as usize) * 4;
        for c in 0..3 {
            let d = (first[k + c] as i32 - want[i][c] as i32).abs();
            assert!(d <= 24, "cell {i}: {:?} vs {:?}", &first[k..k + 3], want[i]);
        }
        checked += 1;
    }
    assert!(checked >= 20, "{checked}");
}

fn check(site: &Path) -> std::process::Output {
    nightscape(site, &["check"])
}

const STROBE: &str = "# Strobes the avenue at 5 Hz: a seizure risk in a public street.\nname = \"strobe\"\nfade_in = \"0s\"\n\n[[layers]]\ntarget = \"trees\"\neffect = \"solid\"\ncolor = \"3000K\"\n\n[[layers]]\ntarget = \"avenue\"\neffect = \"pulse\"\ncolor = \"white\"\nperiod = \"0.2s\"\ndepth = 1.0\n";

/// The safety check: a show strobing the avenue at 5 Hz added to the demo
/// fails, located at its layer with the measured rate; a slow pulse passes;
/// `[safety] allow` with a reason turns the failure into a warning.
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn safety_check_flags_a_5_hz_avenue_strobe() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    // The demo passes the default check (60 s of each show):
    // check_bad_input::binary_check_on_the_demo_exits_0_with_an_ok_line.
    // Here 5 s of each show (the least `[safety] seconds` allows), to keep
    // the test quick in a debug build.
    let p = site.join("site.toml");
    let text = format!(
        "{}\n[safety]\nseconds = 5\n",
        std::fs::read_to_string(&p).unwrap()
    );
    std::fs::write(&p, &text).unwrap();
    std::fs::write(site.join("strobe.toml"), STROBE).unwrap();
    let out = check(&site);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // The avenue layer's table starts on line 10 (`[[layers]]` second).
    let line = STROBE
        .lines()
        .position(|l| l == "target = \"avenue\"")
        .unwrap();
    let located = err
        .lines()
        .find(|l| l.contains("strobe.toml:") && l.contains("flashes"))
        .unwrap_or_else(|| panic!("no located finding in:\n{err}"));
    let lc = located.split("strobe.toml:").nth(1).unwrap();
    let got_line: usize = lc.split(':').next().unwrap().parse().unwrap();
    assert!(
        (line..=line + 1).contains(&got_line),
        "line {got_line}, want the avenue layer near line {}: {located}",
        line + 1
    );
    assert!(located.contains("5.0 times a second"), "{located}");
    assert!(located.contains("group `avenue`"), "{located}");
    assert!(located.contains("(this layer)"), "{located}");
    assert!(
        !err.contains("target = \"trees\""),
        "the steady layer is not blamed"
    );
    assert_eq!(err.matches("(this layer)").count(), 1, "{err}");

    // A slow breathing pulse is fine.
    std::fs::write(
        site.join("strobe.toml"),
        STROBE.replace("period = \"0.2s\"", "period = \"2s\""),
    )
    .unwrap();
    let out = check(&site);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Allowed with a reason: a warning, exit 0.
    std::fs::write(site.join("strobe.toml"), STROBE).unwrap();
    std::fs::write(
        &p,
        format!("{text}allow = [\"strobe\"]\nreason = \"closed road, permit 2027-114\"\n"),
    )
    .unwrap();
    let out = check(&site);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: show `strobe` flashes"), "{err}");
    assert!(err.contains("permit 2027-114"), "{err}");

    // Stricter thresholds catch a 2.5 Hz strobe.
    std::fs::write(&p, format!("{text}max_flashes_per_s = 2\n")).unwrap();
    std::fs::write(
        site.join("strobe.toml"),
        STROBE.replace("period = \"0.2s\"", "period = \"0.4s\""),
    )
    .unwrap();
    let out = check(&site);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// docs/effects.md is what `nightscape effects --markdown` prints (the
/// reference table), and the terminal listing names every effect.
#[test]
fn effect_reference_doc_is_in_sync_with_the_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/effects.md")).unwrap();
    let want = nightscape_core::show::reference::markdown();
    assert!(
        doc == want,
        "docs/effects.md is stale: run `cargo run -- effects --markdown > docs/effects.md`"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .arg("effects")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for e in nightscape_core::show::reference::EFFECTS {
        assert!(text.contains(&format!("{}: ", e.name)), "{}", e.name);
        for p in e.params {
            assert!(text.contains(p.key), "{}.{}", e.name, p.key);
        }
    }
}

/// `check` suggests the near miss for unknown keys, effects, targets and
/// `--show` names.
#[test]
fn check_says_did_you_mean() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    std::fs::write(
        site.join("typo.toml"),
        "[[layers]]\ntarget = \"avenu\"\neffect = \"pluse\"\n\n[[layers]]\ntarget = \"trees\"\neffect = \"wave\"\nsped = \"2 m/s\"\n",
    )
    .unwrap();
    let out = check(&site);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean `speed`?"), "{err}");
    std::fs::write(
        site.join("typo.toml"),
        "[[layers]]\ntarget = \"avenu\"\neffect = \"pluse\"\n",
    )
    .unwrap();
    let err = String::from_utf8_lossy(&check(&site).stderr).to_string();
    assert!(err.contains("did you mean `avenue`?"), "{err}");
    assert!(err.contains("did you mean `pulse`?"), "{err}");
    std::fs::remove_file(site.join("typo.toml")).unwrap();
    let out = nightscape(&site, &["render", "--at", "20:00", "--show", "nightyl"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `nightly`?"));
}

/// On a terminal `check` shows the source line with a caret under the
/// place; piped, it prints only `path:line:col: message` lines.
#[test]
fn check_shows_a_caret_excerpt_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    std::fs::write(
        site.join("typo.toml"),
        "[[layers]]\ntarget = \"avenu\"\neffect = \"solid\"\n",
    )
    .unwrap();
    let piped = String::from_utf8_lossy(&check(&site).stderr).to_string();
    assert!(!piped.contains('^'), "{piped}");
    // util-linux `script` gives the command a pseudo-terminal.
    let cmd = format!(
        "{} check --site {}",
        env!("CARGO_BIN_EXE_nightscape"),
        site.display()
    );
    let out = match Command::new("script")
        .args(["-qc", &cmd, "/dev/null"])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: no `script` to provide a terminal ({e})");
            return;
        }
    };
    let tty = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(
        tty.contains("2 | target = \"avenu\"\n  |          ^"),
        "{tty}"
    );
}

/// `new site|show|profile` write commented files that pass `check` as
/// written, and never overwrite.
#[test]
fn new_files_pass_check() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nightscape"))
            .current_dir(tmp.path())
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["new", "site", "plaza"]).status.success());
    let site = "plaza/shows";
    for args in [
        &["--site", site, "new", "show", "sparkle"][..],
        &["--site", site, "new", "profile", "wash"][..],
    ] {
        let out = run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run(&["check", "--site", site]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "no warnings: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 shows (evening, sparkle)"), "{stdout}");
    assert!(tmp.path().join("plaza/fixtures/wash.toml").exists());
    let show = std::fs::read_to_string(tmp.path().join("plaza/shows/sparkle.toml")).unwrap();
    assert!(show.contains("target = \"street\""), "{show}");
    assert!(
        show.lines().filter(|l| l.starts_with('#')).count() >= 2,
        "commented"
    );
    // Never overwritten.
    let out = run(&["--site", site, "new", "show", "sparkle"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("plaza/shows/sparkle.toml")).unwrap(),
        show
    );
    let out = run(&["new", "site", "plaza"]);
    assert!(!out.status.success());
}
