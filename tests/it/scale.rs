//! City scale (issue 11): generated sites load and check, the fast paths
//! (precomputed DMX map, render and map over several threads) give the same
//! bytes as the straightforward ones, and `nightscape monitor` reports what
//! real UDP packets on loopback show.

use chrono::{DateTime, Duration, Utc};
use nightscape::config::{self, Config};
use nightscape_core::engine::dmx::{look_to_frame_reference, DmxMap};
use nightscape_core::engine::{self, ActiveShow, Frame, Look};
use nightscape_core::generate::{GeneratedEffect, SiteSpec, SHOW_NAME};
use nightscape_core::wire::artnet::{
    encode_artdmx, encode_artsync, ARTDMX_HEADER_LEN, ARTSYNC_LEN,
};
use std::net::UdpSocket;
use std::process::Command;
use std::time::Instant;

fn generated(spec: &SiteSpec) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    nightscape::cli::generate::write_site(spec, dir.path()).unwrap();
    let cfg = config::load(dir.path()).unwrap_or_else(|d| panic!("{d}"));
    (dir, cfg)
}

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-31T20:00:00+08:00")
        .unwrap()
        .into()
}

#[test]
fn generated_sites_have_the_universes_asked_for_and_every_effect_animates() {
    for (n, px, effect) in [
        (1, 170, GeneratedEffect::All),
        (7, 170, GeneratedEffect::Wave),
        (100, 42, GeneratedEffect::Gradient),
        (450, 170, GeneratedEffect::Twinkle),
    ] {
        let mut spec = SiteSpec::new(n);
        spec.bar_pixels = px;
        spec.effect = effect;
        let (_dir, cfg) = generated(&spec);
        let site = &cfg.site;
        assert_eq!(site.universes, (0..n as u16).collect::<Vec<_>>(), "{n}");
        assert_eq!(site.fixtures.len(), (n * (170 / px)) as usize);
        assert_eq!(site.cells.len(), (n * (170 / px) * px) as usize);
        let show = cfg.show(SHOW_NAME).unwrap();
        let active = [ActiveShow::new(show, at() - Duration::minutes(1), None, 0)];
        let a = engine::render_frame(site, &active, at());
        let b = engine::render_frame(site, &active, at() + Duration::milliseconds(700));
        assert!(a.data.iter().any(|u| u.iter().any(|&v| v > 0)), "{n}: dark");
        assert_ne!(a, b, "{n} universes, {effect:?}: nothing moves");
    }
}

#[test]
fn generate_site_writes_a_site_that_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("district");
    let bin = env!("CARGO_BIN_EXE_nightscape");
    let gen = Command::new(bin)
        .args([
            "generate-site",
            "--universes",
            "300",
            "--effect",
            "all",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(gen.status.success(), "{gen:?}");
    let check = Command::new(bin)
        .args(["check", "--site"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{check:?}");
    assert!(stdout.contains("300 universes"), "{stdout}");
    let bad = Command::new(bin)
        .args(["generate-site", "--universes", "0", "--out"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--universes"));
}

/// A look with every kind of light: colours, whites with a temperature,
/// dark cells, values beyond 1; and motion on every fixture.
fn varied_look(site: &nightscape_core::site::Site, seed: u32) -> Look {
    let mut look = Look::dark(site);
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x % 1000) as f32 / 900.0
    };
    for l in &mut look.lights {
        l.r = next();
        l.g = next();
        l.b = next();
        l.kelvin = if next() > 0.5 {
            2000.0 + 6000.0 * next()
        } else {
            0.0
        };
        if next() > 0.9 {
            *l = nightscape_core::color::Light::DARK;
        }
    }
    for m in &mut look.motion {
        m.pan = 100.0 * (next() - 0.5);
        m.tilt = 50.0 * (next() - 0.5);
        m.zoom = next();
        m.strobe = if next() > 0.5 { f32::NAN } else { next() };
    }
    look
}

#[test]
fn the_precomputed_map_gives_the_reference_bytes_on_one_thread_and_on_several() {
    let dir = tempfile::tempdir().unwrap();
    let demo = config::load(&crate::common::demo_site_in(dir.path())).unwrap();
    let (_g, big) = generated(&SiteSpec::new(150));
    for cfg in [&demo, &big] {
        let site = &cfg.site;
        let mut map = DmxMap::new(site);
        for seed in 1..4 {
            let look = varied_look(site, seed);
            let mut reference = Frame::new(site);
            look_to_frame_reference(site, &look, &mut reference);
            for threads in [1, 2, 3] {
                let mut frame = Frame::new(site);
                map.map(site, &look, &mut frame, threads);
                assert!(frame == reference, "{}: {threads} threads", site.name);
            }
        }
    }
}

#[test]
fn limits_folded_into_the_map_give_the_bytes_of_a_limited_copy() {
    let dir = tempfile::tempdir().unwrap();
    let demo = config::load(&crate::common::demo_site_in(dir.path())).unwrap();
    let (_g, big) = generated(&SiteSpec::new(150));
    for cfg in [&demo, &big] {
        let site = &cfg.site;
        let mut map = DmxMap::new(site);
        let n = site.fixtures.len();
        // A grand master, a group at half, curfew caps on some fixtures,
        // and fixtures left alone.
        let mut limits = engine::Limits::none(site);
        for fi in 0..n {
            limits.scale[fi] = [1.0, 0.8, 0.5, 1.0][fi % 4];
            limits.cap[fi] = [1.0, 1.0, 0.3, 0.6, 0.0][fi % 5];
        }
        for seed in 1..3 {
            let look = varied_look(site, seed);
            let mut limited = look.clone();
            engine::apply_limits(site, &mut limited, &limits);
            let mut reference = Frame::new(site);
            look_to_frame_reference(site, &limited, &mut reference);
            for threads in [1, 2] {
                let mut frame = Frame::new(site);
                map.map_limited(site, &look, Some(&limits), &mut frame, threads);
                assert!(frame == reference, "{}: {threads} threads", site.name);
            }
        }
    }
}

#[test]
fn rendering_over_several_threads_gives_the_same_look() {
    let (_g, cfg) = generated(&SiteSpec::new(150));
    assert!(cfg.site.cells.len() >= engine::PARALLEL_MIN_CELLS);
    let show = cfg.show(SHOW_NAME).unwrap();
    let active = [ActiveShow::new(show, at() - Duration::seconds(1), None, 0)];
    let mut one = Look::dark(&cfg.site);
    engine::render_look(&cfg.site, &active, at(), &mut one);
    for threads in [2, 3, 5] {
        let mut many = Look::dark(&cfg.site);
        engine::render_look_threads(&cfg.site, &active, at(), &mut many, threads);
        assert!(one.lights == many.lights, "{threads} threads");
        // Motion is NaN where nothing set it: compare the bits.
        let bits = |l: &Look| {
            l.motion
                .iter()
                .map(|m| [m.pan, m.tilt, m.zoom, m.strobe].map(f32::to_bits))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&one), bits(&many), "{threads} threads");
    }
}

fn artdmx(universe: u16, seq: u8, fill: u8) -> Vec<u8> {
    let mut buf = [0u8; ARTDMX_HEADER_LEN + 512];
    let n = encode_artdmx(universe, seq, &[fill; 512], &mut buf);
    buf[..n].to_vec()
}

/// `nightscape monitor` on a port of its own: the process and its address.
fn start_monitor(seconds: &str) -> (std::process::Child, std::net::SocketAddr) {
    let m = crate::common::start_monitor(seconds, &[]);
    (m.child, m.addr)
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn monitor_reports_frames_gaps_and_changes_of_real_packets() {
    let (child, addr) = start_monitor("3");
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Universe 5: sequences 1..=10 without 4 (one gap), data changing on
    // every frame; universe 6: ten identical frames. Then an ArtSync.
    for seq in 1..=10u8 {
        if seq != 4 {
            tx.send_to(&artdmx(5, seq, seq), addr).unwrap();
        }
        tx.send_to(&artdmx(6, seq, 42), addr).unwrap();
    }
    let mut sync = [0u8; ARTSYNC_LEN];
    encode_artsync(&mut sync);
    tx.send_to(&sync, addr).unwrap();
    let t0 = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(t0.elapsed() < std::time::Duration::from_secs(30));
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["universes"], 2, "{v}");
    assert_eq!(v["packets"], 19);
    assert_eq!(v["syncs"], 1);
    assert_eq!(v["sequence_gaps"], 1);
    let per = v["per_universe"].as_array().unwrap();
    assert_eq!(per[0]["universe"], 5);
    assert_eq!(per[0]["protocol"], "artnet");
    assert_eq!(per[0]["frames"], 9);
    assert_eq!(per[0]["sequence_gaps"], 1);
    // 8 changes over 3 s; universe 6 never changed.
    assert!((per[0]["changed_fps"].as_f64().unwrap() - 8.0 / 3.0).abs() < 1e-9);
    assert_eq!(per[1]["universe"], 6);
    assert_eq!(per[1]["frames"], 10);
    assert_eq!(per[1]["changed_fps"], 0.0);
    assert_eq!(per[1]["sequence_gaps"], 0);
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn monitor_measures_the_daemon_on_a_generated_site() {
    // The daemon sends to a port this test holds until its first packet
    // (it is running, however slow the machine: bounded at 30 s), then the
    // monitor takes that port over for a short window, instead of a long
    // window the daemon has to start inside.
    let port_holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    port_holder
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    let target = port_holder.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = SiteSpec::new(40);
    spec.target = target.to_string();
    nightscape::cli::generate::write_site(&spec, dir.path()).unwrap();
    // No API: the test must not take port 8080.
    let site_toml = dir.path().join("site.toml");
    let text = std::fs::read_to_string(&site_toml).unwrap();
    std::fs::write(
        &site_toml,
        text.replace("[api]\n", "[api]\nenabled = false\n"),
    )
    .unwrap();
    let state = dir.path().join("var");
    let _daemon =
        crate::common::spawn_daemon(dir.path(), &["--state", state.to_str().unwrap()], &[]);
    crate::common::wait_for(
        "the daemon's first packet",
        std::time::Duration::from_secs(30),
        || crate::common::recv_artdmx(&port_holder).is_some(),
    );
    drop(port_holder);
    // The monitor's own port 0 hears nothing; `target` hears the daemon.
    let listen = target.to_string();
    let child = crate::common::start_monitor("3", &["--listen", &listen]).child;
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every universe shows up, in order, without sequence gaps, and the
    // show animates.
    assert_eq!(v["universes"], 40, "{v}");
    assert_eq!(v["sequence_gaps"], 0, "{v}");
    let per = v["per_universe"].as_array().unwrap();
    assert!(per.iter().all(|u| u["frames"].as_u64().unwrap() >= 2));
    assert!(per.iter().all(|u| u["changed_fps"].as_f64().unwrap() > 0.0));
    assert!(v["syncs"].as_u64().unwrap() >= 2);
}

#[test]
fn generated_site_schedule_plays_the_city_show_at_any_hour() {
    let (_g, cfg) = generated(&SiteSpec::new(3));
    let program = nightscape::daemon::Scheduled::default();
    use nightscape::daemon::Program;
    for hour in [0, 6, 12, 13, 18, 23] {
        let t = DateTime::parse_from_rfc3339(&format!("2026-06-01T{hour:02}:30:00+08:00"))
            .unwrap()
            .into();
        let active = program.active(&cfg, t);
        assert_eq!(active.len(), 1, "{hour}:30");
        assert_eq!(active[0].show.name, SHOW_NAME);
    }
}
