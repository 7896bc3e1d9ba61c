//! Hostile files in the site folder (issue 10): a FIFO or a symlink to a
//! device named `*.toml`, an oversized file, an unlistable folder. `check`
//! and hot reload report each at its path and never block; the daemon keeps
//! its last good configuration and still stops promptly.

use crate::common;
use nightscape::clock::Clock;
use nightscape::daemon::{reload, Shared};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `nightscape check` with an upper bound on its time; (exit code, stderr).
fn check_bounded(site: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["check", "--site"])
        .arg(site)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            return (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned()
                    + &String::from_utf8_lossy(&out.stdout),
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("check hung on a hostile file");
}

fn mkfifo(path: &Path) -> bool {
    match Command::new("mkfifo").arg(path).status() {
        Ok(s) if s.success() => true,
        _ => {
            eprintln!("skipped the FIFO case: mkfifo is not available");
            false
        }
    }
}

#[test]
fn check_refuses_fifos_devices_and_huge_files_at_their_path() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let fifo = mkfifo(&site.join("pipe.toml"));
    std::os::unix::fs::symlink("/dev/zero", site.join("zero.toml")).unwrap();
    let big = site.join("big.toml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(9 * 1024 * 1024).unwrap();
    let (code, err) = check_bounded(&site);
    assert_eq!(code, Some(1), "{err}");
    if fifo {
        assert!(
            err.contains("pipe.toml:1:1: error: is not a regular file (a FIFO)")
                || err.contains("pipe.toml:1:1") && err.contains("a FIFO"),
            "{err}"
        );
    }
    assert!(
        err.contains("zero.toml:1:1") && err.contains("a device"),
        "{err}"
    );
    assert!(
        err.contains("big.toml:1:1") && err.contains("8 MiB"),
        "{err}"
    );
    // A profile library that is a FIFO-filled folder is no different.
    let lib = site.parent().unwrap().join("fixtures");
    if mkfifo(&lib.join("pipe.toml")) {
        let (code, err) = check_bounded(&site);
        assert_eq!(code, Some(1));
        assert!(
            err.contains("fixtures/pipe.toml:1:1") && err.contains("a FIFO"),
            "{err}"
        );
    }
}

#[test]
fn hot_reload_rejects_a_fifo_without_blocking_and_keeps_the_last_good_config() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let cfg = nightscape::config::load(&site).unwrap();
    let generation = cfg.generation;
    let shared = Shared::new(cfg, Clock::System);
    if !mkfifo(&site.join("pipe.toml")) {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let (s, f) = (shared.clone(), site.clone());
    std::thread::spawn(move || {
        let _ = tx.send(reload::reload_now(&f, &s));
    });
    let outcome = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("hot reload blocked on a FIFO");
    match outcome {
        reload::Reloaded::Rejected { problems } => {
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains("pipe.toml") && p.contains("FIFO")),
                "{problems:?}"
            );
        }
        other => panic!("a FIFO was accepted: {other:?}"),
    }
    assert_eq!(
        shared.config().generation,
        generation,
        "the last good configuration was replaced"
    );
    // The watcher thread stops promptly with the FIFO still there.
    let (s, f) = (shared.clone(), site.clone());
    let watcher = std::thread::spawn(move || reload::watch(f, s, Duration::from_millis(100)));
    std::thread::sleep(Duration::from_millis(300));
    shared
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !watcher.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(watcher.is_finished(), "the watcher did not stop");
}

#[test]
fn nul_and_bidi_controls_are_refused_raw_or_escaped_at_their_place() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let show = site.join("nightly.toml");
    let text = std::fs::read_to_string(&show).unwrap();
    std::fs::write(
        &show,
        text.replacen("name = \"nightly\"", "name = \"nightly\u{202E}ylthgin\"", 1),
    )
    .unwrap();
    let other = site.join("spring-festival.toml");
    if let Ok(t) = std::fs::read_to_string(&other) {
        let t = t.replacen("fade_in", "note = \"a\\u0000b\"\nfade_in", 1);
        std::fs::write(&other, t).unwrap();
    }
    let (code, err) = check_bounded(&site);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("nightly.toml:4:") && err.contains("U+202E"),
        "{err}"
    );
    if other.exists() {
        assert!(err.contains("U+0000 NUL"), "{err}");
    }
}
