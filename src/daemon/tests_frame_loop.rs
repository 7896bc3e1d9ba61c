//! A panic in the frame loop, beside the loop (was in
//! tests/it/daemon_failures.rs): a hook with a bug panics on the fifth
//! frame; the loop must end by itself, stop the outputs and the hooks
//! (energy flushed) and mark the process failed, the panic kept inside the
//! frame thread. The demo site is loaded from the repository's `shows/`.

use crate::clock::Clock;
use crate::daemon::{self, FixedShow, FrameHook, Shared};
use crate::output::{Output, OutputHealth};
use crate::test_support::wait_until;
use chrono::{DateTime, Utc};
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
            state: crate::output::OK,
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
        _c: &crate::config::Config,
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
    let site = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shows");
    let cfg = crate::config::load(&site).unwrap();
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
        wait_until(Duration::from_secs(20), || t.is_finished()).is_some(),
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
