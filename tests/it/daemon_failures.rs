//! The daemon when something goes wrong inside it (issue 10): a panic in the
//! frame loop stops outputs and hooks and marks the process failed; absurd
//! show durations are refused when loaded, so the stop show cannot overflow
//! time arithmetic on SIGTERM.

use crate::common;
use chrono::{DateTime, Utc};
use nightscape::clock::Clock;
use nightscape::daemon::{self, FixedShow, FrameHook, Shared};
use nightscape::output::{Output, OutputHealth};
use nightscape_core::engine::{ActiveShow, Frame};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Recorder {
    sent: Arc<AtomicU64>,
    stopped: Arc<AtomicBool>,
}

impl Output for Recorder {
    fn send(&mut self, _frame: &Frame) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }
    fn health(&self) -> OutputHealth {
        OutputHealth {
            state: nightscape::output::OK,
            ..OutputHealth::default()
        }
    }
    fn stop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

/// A hook with a bug: it panics on the fifth frame.
struct Buggy(u32);

impl FrameHook for Buggy {
    fn observe(
        &mut self,
        _c: &nightscape::config::Config,
        _at: DateTime<Utc>,
        _a: &[ActiveShow],
        _f: &Frame,
    ) {
        self.0 += 1;
        assert!(self.0 < 5, "a hook bug");
    }
}

struct Flushed(Arc<AtomicBool>);

impl FrameHook for Flushed {
    fn stop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_frame_loop_panic_stops_outputs_and_hooks_and_marks_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let cfg = nightscape::config::load(&site).unwrap();
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-12-31T20:00:00+08:00")
        .unwrap()
        .into();
    let shared = Shared::new(cfg, Clock::simulated(at, 0.0));
    let (sent, stopped, flushed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let outputs: Vec<Box<dyn Output>> = vec![Box::new(Recorder {
        sent: sent.clone(),
        stopped: stopped.clone(),
    })];
    let hooks: Vec<Box<dyn FrameHook>> =
        vec![Box::new(Flushed(flushed.clone())), Box::new(Buggy(0))];
    let s = shared.clone();
    let t = std::thread::spawn(move || {
        daemon::frame_loop(
            Box::new(FixedShow {
                show: "nightly".into(),
                since: at,
            }),
            outputs,
            hooks,
            s,
        )
    });
    // The loop ends by itself (no one raised stop), within a bound.
    assert!(
        common::wait_until(Duration::from_secs(20), || t.is_finished()).is_some(),
        "the frame loop kept running after a panic"
    );
    assert!(t.join().is_ok(), "the panic escaped the frame thread");
    assert!(shared.failed.load(Ordering::Relaxed));
    assert!(shared.stop.load(Ordering::Relaxed));
    assert!(stopped.load(Ordering::Relaxed), "outputs were not stopped");
    assert!(
        flushed.load(Ordering::Relaxed),
        "hooks were not stopped (energy not flushed)"
    );
    assert_eq!(sent.load(Ordering::Relaxed), 4);
}

#[test]
fn an_absurd_show_duration_is_refused_at_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let show = site.join("nightly.toml");
    let text = std::fs::read_to_string(&show).unwrap();
    let text = if text.contains("fade_in") {
        let start = text.find("fade_in").unwrap();
        let end = start + text[start..].find('\n').unwrap();
        format!("{}fade_in = \"1e17\"{}", &text[..start], &text[end..])
    } else {
        text.replacen("\n", "\nfade_in = \"1e17\"\n", 1)
    };
    std::fs::write(&show, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["check", "--site"])
        .arg(&site)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nightly.toml:"), "{err}");
    assert!(err.contains("366 days"), "{err}");
}

#[test]
fn a_second_daemon_on_the_same_state_folder_exits_naming_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let _rx = common::artnet_receiver(&site);
    let text = std::fs::read_to_string(site.join("site.toml")).unwrap();
    std::fs::write(
        site.join("site.toml"),
        text.replacen("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"", 1),
    )
    .unwrap();
    let state = tmp.path().join("var");
    let args = [
        "--state",
        state.to_str().unwrap(),
        "--clock",
        "2026-12-31T20:00:00+08:00",
        "--speed",
        "0",
    ];
    let first = common::spawn_daemon(&site, &args, &[]);
    let pid = first.0.id().to_string();
    let lock = state.join("nightscape.lock");
    common::wait_for(
        "the first daemon to take the lock",
        Duration::from_secs(20),
        || std::fs::read_to_string(&lock).is_ok_and(|t| t.trim() == pid),
    );
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["run", "--site"])
        .arg(&site)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = common::exits_within(&mut second, Duration::from_secs(20), "the second daemon");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("PID {pid}")), "{err}");
    drop(first);
}

/// Run `nightscape run --site SITE ARGS` to its end (at most 20 s, else the
/// daemon is killed and the test fails): exit code and stderr.
fn run_to_exit(site: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["run", "--site"])
        .arg(site)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = common::exits_within(
        &mut child,
        Duration::from_secs(20),
        "the daemon without its API address",
    );
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code(), err)
}

/// Issue 23: an API address in use is an error, not a daemon running on
/// without its page (a browser there reaches whoever holds the port). The
/// message names the address and the holder: this test process, by PID.
#[test]
fn a_taken_api_address_stops_run_and_names_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let _rx = common::artnet_receiver(&site);
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let text = std::fs::read_to_string(site.join("site.toml")).unwrap();
    std::fs::write(
        site.join("site.toml"),
        text.replacen(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"{addr}\""),
            1,
        ),
    )
    .unwrap();
    let state = tmp.path().join("var");
    for extra in [&[][..], &["--no-output"][..]] {
        let mut args = vec![
            "--state",
            state.to_str().unwrap(),
            "--clock",
            "2026-12-31T20:00:00+08:00",
            "--speed",
            "0",
        ];
        args.extend_from_slice(extra);
        let (code, err) = run_to_exit(&site, &args);
        assert_eq!(code, Some(1), "{extra:?}: {err}");
        assert!(err.contains(&addr), "{extra:?}: {err}");
        assert!(err.contains("in use"), "{extra:?}: {err}");
        if cfg!(target_os = "linux") {
            assert!(
                err.contains(&format!("PID {}", std::process::id())),
                "{extra:?}: the holder is named: {err}"
            );
        }
        assert!(
            !state.join("api.addr").exists(),
            "no address is published for a page this daemon does not serve"
        );
    }
    // `--listen` (a node's own address) is checked the same way.
    let (code, err) = run_to_exit(
        &site,
        &[
            "--state",
            state.to_str().unwrap(),
            "--no-output",
            "--listen",
            &addr,
            "--clock",
            "2026-12-31T20:00:00+08:00",
            "--speed",
            "0",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&addr), "{err}");
    drop(held);
}
