//! Hot reload against a hostile file, beside the reloader (was in
//! tests/it/hostile_files.rs): a FIFO named `*.toml` in the site folder is
//! rejected at its path without blocking, the last good configuration is
//! kept, and the watcher still stops promptly with the FIFO there.

use crate::clock::Clock;
use crate::daemon::{reload, Shared};
use crate::test_support::demo_site_in;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
fn hot_reload_rejects_a_fifo_without_blocking_and_keeps_the_last_good_config() {
    let tmp = tempfile::tempdir().unwrap();
    let site = demo_site_in(tmp.path());
    let cfg = crate::config::load(&site).unwrap();
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
    let t0 = Instant::now();
    while !watcher.is_finished() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "timed out after 10s waiting for the watcher to stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
