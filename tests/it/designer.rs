//! Designer tools from the command line, run as the real binary on a copy
//! of the demo site: times written in site time, date flags that name
//! their format, `schedule --days 0`, and the dry run (`run --no-output`)
//! that renders and serves the API but sends nothing to any node.
//!
//! Every wait is bounded; ports are the test's own (bound to 0 first).

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `run --no-output --show X --clock T --speed 0`: the API serves the frame
/// `render --show X --at T` prints (not black: the same `--since` default),
/// and the Art-Net socket the site points at receives nothing.
#[test]
fn dry_run_serves_the_rendered_frame_and_sends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let rx = common::artnet_receiver(&site);
    let port = free_port();
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:8080\""));
    std::fs::write(
        &p,
        text.replace(
            "listen = \"127.0.0.1:8080\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        ),
    )
    .unwrap();
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
    let base = format!("http://127.0.0.1:{port}");
    // Wait for the loop to have rendered a good number of frames.
    let deadline = Instant::now() + Duration::from_secs(30);
    let frame = loop {
        assert!(Instant::now() < deadline, "no frames from the dry run");
        if let Ok(mut r) = agent.get(format!("{base}/api/frame")).call() {
            if r.status().as_u16() == 200 {
                let v: serde_json::Value = r.body_mut().read_json().unwrap();
                if v["frames"].as_u64().unwrap_or(0) >= 20 {
                    break v;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
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
