//! Steady state allocates nothing per frame (issue 11): a counting global
//! allocator around the frame path — render, limits, DMX map, ArtDmx built
//! in place, batched sends, the output thread's double buffer; Art-Net and
//! sACN, every frame and change-only — for the
//! demo site and a generated 100-universe site on one thread, and the
//! bound for a site made to render on several threads (each scoped
//! thread's start costs a few small allocations), which the daemon on two
//! cores does not do for 1,000 universes; and the daemon's
//! per-frame list of active shows (schedule and control).
//!
//! Its own test binary, because a global allocator is process-wide (and
//! its tests take turns, for the same reason).

use chrono::{DateTime, Duration, Utc};
use nightscape::config::{self, Config};
use nightscape::control::CompiledControl;
use nightscape::daemon::{FrameBuilder, FrameHook};
use nightscape::output::artnet::ArtNetOutput;
use nightscape::output::sacn::{SacnOutput, SacnSettings};
use nightscape::output::threaded::OutputThread;
use nightscape::output::Output;
use nightscape_core::engine::ActiveShow;
use nightscape_core::generate::{SiteSpec, SHOW_NAME};
use nightscape_core::site::SacnTarget;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::net::UdpSocket;
use std::path::Path;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The counts are process-wide: the tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-31T20:00:00+08:00")
        .unwrap()
        .into()
}

/// Allocations per frame over `frames` steady-state frames.
/// `threads`: the builder's, or `None` for the daemon's choice on 2 cores.
fn allocations_per_frame(cfg: &Config, show: &str, threads: Option<usize>, frames: u32) -> f64 {
    let show = cfg.show(show).unwrap();
    let active = [ActiveShow::new(show, at() - Duration::minutes(5), None, 0)];
    let control = CompiledControl::default();
    let mut hooks: Vec<Box<dyn FrameHook>> = Vec::new();
    let mut builder = match threads {
        Some(n) => FrameBuilder::new(&cfg.site).with_threads(n),
        None => FrameBuilder::new(&cfg.site)
            .for_cores(&cfg.site, 2)
            .with_sparkle_memo(),
    };
    // Receivers that keep up, one per output (a full buffer would be a
    // first send error inside the window: a message written once, not a
    // steady state).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let receiver = || {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        let addr = rx.local_addr().unwrap();
        let stop = stop.clone();
        let drain = std::thread::spawn(move || {
            let mut b = [0u8; 2048];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = rx.recv(&mut b);
            }
        });
        (addr, drain)
    };
    let ((a, drain_a), (b, drain_b)) = (receiver(), receiver());
    let ((c, drain_c), (d, drain_d)) = (receiver(), receiver());
    let universes = cfg.site.universes.clone();
    let direct = ArtNetOutput::open(a, universes.clone(), true).unwrap();
    let threaded = ArtNetOutput::open(b, universes.clone(), true).unwrap();
    let sacn = |to, only_changed: bool| {
        let settings = SacnSettings {
            target: SacnTarget::Unicast(to),
            priority: 100,
            sync_address: Some(1),
            source_name: "alloc".into(),
            cid: [7; 16],
        };
        let wire = universes.iter().map(|u| u + 1).collect();
        let o = SacnOutput::open(settings, universes.clone(), wire).unwrap();
        if only_changed {
            o.only_changed(35)
        } else {
            o
        }
    };
    let mut outputs: Vec<Box<dyn Output>> = vec![
        Box::new(direct),
        Box::new(OutputThread::start(Box::new(threaded)).ok().unwrap()),
        Box::new(sacn(c, false)),
        Box::new(OutputThread::start(Box::new(sacn(d, true))).ok().unwrap()),
    ];
    let mut health = outputs.iter().map(|o| o.health()).collect::<Vec<_>>();
    let mut t = at();
    let mut frame = |t: DateTime<Utc>, outputs: &mut Vec<Box<dyn Output>>| {
        let f = builder.build(cfg, &active, &control, &mut hooks, t);
        for o in outputs.iter_mut() {
            o.send(f);
        }
        for (o, h) in outputs.iter().zip(health.iter_mut()) {
            o.health_into(h);
        }
    };
    // Warm up: buffers grow to size, the output thread gets both buffers.
    for _ in 0..5 {
        t += Duration::milliseconds(25);
        frame(t, &mut outputs);
    }
    // ... and the output thread is up and has sent them (a thread's start
    // allocates, once).
    let t0 = std::time::Instant::now();
    while outputs[1].health().frames_sent < 5 || outputs[3].health().frames_sent < 5 {
        assert!(t0.elapsed() < std::time::Duration::from_secs(30));
        t += Duration::milliseconds(25);
        frame(t, &mut outputs);
        std::thread::yield_now();
    }
    let region = Region::new(GLOBAL);
    for _ in 0..frames {
        t += Duration::milliseconds(25);
        frame(t, &mut outputs);
    }
    let stats = region.change();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for drain in [drain_a, drain_b, drain_c, drain_d] {
        drain.join().unwrap();
    }
    (stats.allocations + stats.reallocations) as f64 / frames as f64
}

fn generated(universes: u32) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    nightscape::cli::generate::write_site(&SiteSpec::new(universes), dir.path()).unwrap();
    let cfg = config::load(dir.path()).unwrap();
    (dir, cfg)
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn steady_state_frames_allocate_nothing() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let demo = config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("shows")).unwrap();
    for show in ["nightly", "spring-festival", "static-evening"] {
        let per_frame = allocations_per_frame(&demo, show, Some(2), 40);
        assert_eq!(per_frame, 0.0, "demo site, {show}");
    }
    let (_dir, cfg) = generated(100);
    assert_eq!(
        allocations_per_frame(&cfg, SHOW_NAME, Some(2), 40),
        0.0,
        "100 universes"
    );

    // Made to render on two threads, the render and the map each start a
    // scoped thread per frame; what that costs is bounded and small.
    let (_dir, big) = generated(200);
    let per_frame = allocations_per_frame(&big, SHOW_NAME, Some(2), 20);
    println!("200 universes on 2 threads: {per_frame} allocations per frame");
    assert!(per_frame <= 16.0, "{per_frame} allocations per frame");

    // The daemon on two cores keeps 1,000 universes (170,000 cells) on
    // one thread: nothing at all per frame.
    let (_dir, city) = generated(1000);
    assert_eq!(
        allocations_per_frame(&city, SHOW_NAME, None, 5),
        0.0,
        "1,000 universes, the daemon's threads"
    );
}

/// What the daemon's frame loop asks before building a frame: the schedule's
/// active shows and the control's, into one list reused through
/// [`recycle`] — nothing allocated per frame once the nights are cached.
#[test]
fn active_shows_per_frame_allocate_nothing() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    use nightscape_core::pipeline::{recycle, Program, Scheduled};
    let demo = config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("shows")).unwrap();
    let (_dir, generated) = generated(10);
    for cfg in [&demo, &generated] {
        let program = Scheduled::default();
        let control = CompiledControl::default();
        let mut spare: Vec<ActiveShow<'static>> = Vec::new();
        let mut t = at();
        let mut frame = |t: DateTime<Utc>| {
            let mut active = recycle(std::mem::take(&mut spare));
            program.active_into(cfg, t, &mut active);
            control.active_into(t, &mut active);
            let n = active.len();
            spare = recycle(active);
            n
        };
        for _ in 0..3 {
            t += Duration::milliseconds(25);
            frame(t);
        }
        let region = Region::new(GLOBAL);
        let mut playing = 0;
        for _ in 0..40 {
            t += Duration::milliseconds(25);
            playing += frame(t);
        }
        let stats = region.change();
        assert!(playing > 0, "{}: something plays at {t}", cfg.site.name);
        assert_eq!(
            stats.allocations + stats.reallocations,
            0,
            "{}: {stats:?}",
            cfg.site.name
        );
    }
}
