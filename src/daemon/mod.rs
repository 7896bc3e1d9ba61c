//! The daemon: a frame loop on its own thread that asks "what is playing
//! now?", renders it with the pure engine, and hands the frame to every
//! output, at the site's fps on absolute deadlines.
//!
//! Frame `k` stands for the instant `k / fps` s after the Unix epoch
//! (`clock::FrameGrid`), so every node whose wall clock agrees renders the
//! same instants and sends the same bytes for them; its deadline is that
//! instant mapped onto the monotonic clock, never `sleep(period)`, so time
//! spent rendering does not accumulate as drift. Each frame is rendered ahead for
//! the instant of its deadline and sent when the deadline comes, so the
//! interval on the wire does not move with the render's length. An
//! operator's change that arrives after that render is not left waiting
//! for the next frame: at the last moment a render still fits before the
//! deadline (the slowest of the last 80 renders, the usual wake-up delay
//! and a millisecond, all measured by the loop), the loop looks whether the
//! control in force was replaced and, if so and the time left still holds
//! a render, renders the frame again ([`Timing`]). A site too heavy for
//! that sends what it rendered, as before; the deadline never moves. A frame
//! that misses its deadline by more than a period is counted late and the
//! loop skips ahead rather than bursting to catch up. Shutdown is explicit:
//! the caller flips the stop flag and joins the thread. On stop the loop
//! sends nothing more: Art-Net nodes hold the last frame (sACN receivers
//! get stream termination unless the output says `shutdown = "hold"`), so a
//! service restart does not blink a street dark (issue 6 makes this a
//! per-site choice).

pub mod fds;
pub mod lock;
pub mod reload;
pub mod systemd;

use crate::clock::{mono_at, unix_nanos, Clock, FrameGrid};
use crate::config::Config;
use crate::output::{priority, Output, OutputHealth};
use chrono::{DateTime, Utc};
use nightscape_core::control::{CompiledControl, ControlState};
use nightscape_core::engine::{ActiveShow, Frame};
use nightscape_core::pipeline::recycle;
pub use nightscape_core::pipeline::{
    FixedShow, FrameBuilder, FrameHook, Program, Scheduled, Skips,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the loop publishes for the rest of the process (status, API).
#[derive(Debug, Clone, Default)]
pub struct LoopStats {
    pub frames: u64,
    pub late_frames: u64,
    pub last_instant: Option<DateTime<Utc>>,
    /// Shows visible in the last frame, each once, by name: schedule
    /// entries, scenes, show overrides. Colour, level and blackout
    /// overrides (`override-N`) are counted in `active_overrides` instead,
    /// so thousands of them keep this short.
    pub active_shows: Vec<String>,
    /// Colour and blackout overrides visible in the last frame.
    pub active_overrides: usize,
    pub outputs: Vec<OutputHealth>,
    /// The last frame, copied only while someone asked for it recently
    /// ([`Shared::want_frame`]): at 10,000 universes a copy is 5 MB, and 40
    /// of them a second for nobody would be waste.
    pub last_frame: Option<Frame>,
    /// `frames` when `last_frame` was copied.
    pub last_frame_no: u64,
    /// Frames that reached the wire in the last second, from the real
    /// times the sends finished ([`WireMeter`]), as of the last frame;
    /// `None` in the first second. [`Shared::wire_fps`] counts up to the
    /// moment it is asked (a stalled loop shows there at once).
    pub wire_fps: Option<f64>,
    /// The longest interval between two frames on the wire in the last
    /// second (ms), as of the last frame.
    pub wire_max_interval_ms: Option<f64>,
    /// Frames rendered a second time just before their deadline because
    /// operator control changed after the first render.
    pub rerendered: u64,
}

/// When frames reached the wire: the instant the last of a frame's sends
/// returned (outputs on their own threads: when they finished, or the
/// loop's bounded wait for them ran out), for the last two seconds. The
/// frame rate and the longest gap come from these, not from the site's fps
/// or the count of frames rendered.
#[derive(Debug)]
pub struct WireMeter {
    sent: std::collections::VecDeque<Instant>,
}

/// The meter's memory: more than two seconds at any frame rate we send.
const WIRE_KEPT: usize = 1024;

impl Default for WireMeter {
    fn default() -> Self {
        WireMeter {
            sent: std::collections::VecDeque::with_capacity(WIRE_KEPT),
        }
    }
}

impl WireMeter {
    /// A frame finished going out at `at` (no allocation: the ring is
    /// made once).
    pub fn record(&mut self, at: Instant) {
        while self.sent.len() >= WIRE_KEPT
            || self
                .sent
                .front()
                .is_some_and(|f| at.saturating_duration_since(*f) > Duration::from_secs(2))
        {
            self.sent.pop_front();
        }
        self.sent.push_back(at);
    }

    /// Frames on the wire in the second before `now`; `None` until the
    /// meter has a second of history.
    pub fn fps(&self, now: Instant) -> Option<f64> {
        let from = now.checked_sub(Duration::from_secs(1))?;
        if self.sent.front().is_none_or(|f| *f > from) {
            return None;
        }
        Some(
            self.sent
                .iter()
                .filter(|t| **t > from && **t <= now)
                .count() as f64,
        )
    }

    /// The longest interval between frames on the wire in the second
    /// before `now`, counting the time since the last one.
    pub fn max_interval(&self, now: Instant) -> Option<Duration> {
        let from = now.checked_sub(Duration::from_secs(1))?;
        let mut prev: Option<Instant> = None;
        let mut max = Duration::ZERO;
        for t in self.sent.iter().filter(|t| **t <= now) {
            if let Some(p) = prev {
                if *t > from {
                    max = max.max(t.saturating_duration_since(p));
                }
            }
            prev = Some(*t);
        }
        let last = prev?;
        Some(max.max(now.saturating_duration_since(last)))
    }
}

/// Shared handles between the frame loop and the rest of the process. The
/// loop reads `config` and `control` once per frame, so a reload or an
/// operator's change shows on the next frame; writers swap the inner `Arc`.
#[derive(Clone)]
pub struct Shared {
    pub stop: Arc<AtomicBool>,
    pub stats: Arc<Mutex<LoopStats>>,
    pub config: Arc<Mutex<Arc<Config>>>,
    /// What operators asked for, compiled against `config`. Lock order:
    /// `control` before `config`.
    pub control: Arc<Mutex<Arc<CompiledControl>>>,
    pub clock: Clock,
    /// Until when (ms since `epoch`) the loop publishes its frames.
    frame_wanted_until: Arc<std::sync::atomic::AtomicU64>,
    epoch: Instant,
    /// What hot reload did so far (the API shows it).
    pub reload: Arc<Mutex<ReloadStatus>>,
    /// Schedule entries skipped for one night (the schedule program reads them).
    pub skips: Skips,
    /// The `[[nodes]]` entry this process is (`run --node`): every
    /// configuration installed keeps only that node's outputs, so energy and
    /// status count what this controller sends.
    pub node: Option<Arc<str>>,
    /// Set when the frame loop failed: the process must exit non-zero.
    pub failed: Arc<AtomicBool>,
    /// When frames reached the wire (the frame rate the status reports).
    pub wire: Arc<Mutex<WireMeter>>,
}

/// Hot reload's record: how many edits were applied or rejected, and the
/// problems of the last rejected one, so an operator sees a broken edit
/// instead of finding it in the journal.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReloadStatus {
    pub applied: u64,
    pub rejected: u64,
    /// When an edit was last applied (wall clock).
    pub last_applied: Option<DateTime<Utc>>,
    pub last_rejected: Option<RejectedReload>,
}

/// A reload that did not load, with each problem as `path:line:col: message`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RejectedReload {
    pub at: DateTime<Utc>,
    pub problems: Vec<String>,
}

/// How long one [`Shared::want_frame`] keeps the loop publishing frames.
const FRAME_WANTED_FOR: Duration = Duration::from_secs(2);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn new(config: Config, clock: Clock) -> Shared {
        Shared {
            stop: Arc::default(),
            stats: Arc::default(),
            config: Arc::new(Mutex::new(Arc::new(config))),
            control: Arc::new(Mutex::new(Arc::new(CompiledControl::default()))),
            clock,
            reload: Arc::default(),
            frame_wanted_until: Arc::default(),
            epoch: Instant::now(),
            skips: Skips::default(),
            node: None,
            failed: Arc::default(),
            wire: Arc::default(),
        }
    }

    /// The frame rate the wire saw in the last second, up to now (a loop
    /// that stalls shows here at once, before its next frame); `None` in
    /// the first second. This, not the site's fps or the frames rendered,
    /// is what `/api/status` should report.
    pub fn wire_fps(&self) -> Option<f64> {
        lock(&self.wire).fps(Instant::now())
    }

    /// The longest interval between frames on the wire in the last second
    /// (counting the time since the last frame).
    pub fn wire_max_interval(&self) -> Option<Duration> {
        lock(&self.wire).max_interval(Instant::now())
    }

    /// This process is `node` of the site's fleet: keep only its outputs,
    /// now and in every configuration reloaded later.
    pub fn with_node(mut self, node: &str) -> Shared {
        self.node = Some(Arc::from(node));
        let mut cfg = (*self.config()).clone();
        cfg.site.retain_node_outputs(node);
        *lock(&self.config) = Arc::new(cfg);
        self
    }

    /// Switch to a new configuration. Control items are recompiled against
    /// it in the same step, so the frame loop never pairs a configuration
    /// with control compiled for another (their fixture indices differ).
    /// Returns warnings for control items the new configuration drops.
    pub fn install_config(&self, mut config: Config) -> Vec<String> {
        if let Some(node) = &self.node {
            config.site.retain_node_outputs(node);
        }
        let config = Arc::new(config);
        let mut ctl_slot = lock(&self.control);
        let (compiled, warnings) = ctl_slot.recompile(&config);
        let mut cfg_slot = lock(&self.config);
        *cfg_slot = config;
        *ctl_slot = Arc::new(compiled);
        warnings
    }

    /// Replace the whole control state (at start) and compile it.
    pub fn set_control(&self, state: &ControlState) -> Vec<String> {
        let mut slot = lock(&self.control);
        let cfg = self.config();
        let (compiled, warnings) = CompiledControl::compile(state, &cfg);
        *slot = Arc::new(compiled);
        warnings
    }

    /// Change the control in force (an operator's change): `change` edits
    /// a copy (O(1) to make: the items are shared) against the
    /// configuration in force, and the copy is swapped in for the next
    /// frame. The cost is that of the items `change` touches, however many
    /// are in force. Returns `change`'s warnings.
    pub fn change_control(
        &self,
        change: impl FnOnce(&mut CompiledControl, &Config) -> Vec<String>,
    ) -> Vec<String> {
        let mut slot = lock(&self.control);
        let cfg = self.config();
        let mut next = (**slot).clone();
        let warnings = change(&mut next, &cfg);
        *slot = Arc::new(next);
        warnings
    }

    /// The configuration and the control compiled for it, as one pair.
    pub fn snapshot(&self) -> (Arc<Config>, Arc<CompiledControl>) {
        let ctl = lock(&self.control);
        let cfg = lock(&self.config);
        (cfg.clone(), ctl.clone())
    }

    /// Ask the frame loop to publish its frames in `stats.last_frame` for
    /// the next two seconds (readers of the frame call this each time).
    pub fn want_frame(&self) {
        let until = (self.epoch.elapsed() + FRAME_WANTED_FOR).as_millis() as u64;
        self.frame_wanted_until.fetch_max(until, Ordering::Relaxed);
    }

    fn frame_wanted(&self) -> bool {
        (self.epoch.elapsed().as_millis() as u64) < self.frame_wanted_until.load(Ordering::Relaxed)
    }

    /// The last frame, fresh: asks the loop to publish and waits (up to
    /// half a second) for a frame copied at the latest frame; else the
    /// newest there is. `(frame, instant, frames)`.
    pub async fn fresh_frame(&self) -> (Option<Frame>, Option<DateTime<Utc>>, u64) {
        self.want_frame();
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            {
                let s = lock(&self.stats);
                let fresh = s.last_frame.is_some() && s.frames <= s.last_frame_no + 1;
                if fresh || Instant::now() >= deadline {
                    return (s.last_frame.clone(), s.last_instant, s.frames);
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        lock(&self.config).clone()
    }

    /// The compiled operator control in force.
    pub fn control(&self) -> Arc<CompiledControl> {
        lock(&self.control).clone()
    }
}

/// Run the frame loop on the calling thread until `shared.stop` is set.
///
/// A panic anywhere in the loop (a bug, never bad input) is contained: the
/// outputs and hooks are still stopped (energy flushed, sACN terminated),
/// `shared.failed` is set and `shared.stop` raised, so the process exits
/// non-zero and systemd restarts it.
pub fn frame_loop(
    program: Box<dyn Program>,
    mut outputs: Vec<Box<dyn Output>>,
    mut hooks: Vec<Box<dyn FrameHook>>,
    shared: Shared,
) {
    // The loop and the render threads it spawns (which inherit this) run
    // above request handling where the system allows.
    let got = priority::raise_this_thread();
    match got {
        priority::Priority::Default(_) => tracing::warn!("frame loop at {got}"),
        _ => tracing::info!("frame loop at {got}"),
    }
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_frames(&*program, &mut outputs, &mut hooks, &shared)
    }));
    let frames = match ran {
        Ok(n) => Some(n),
        Err(p) => {
            let why = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            tracing::error!("the frame loop failed ({why}); stopping the outputs and exiting");
            shared.failed.store(true, Ordering::Relaxed);
            shared.stop.store(true, Ordering::Relaxed);
            None
        }
    };
    for h in hooks.iter_mut() {
        let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.stop()));
        if stopped.is_err() {
            shared.failed.store(true, Ordering::Relaxed);
        }
    }
    for o in outputs.iter_mut() {
        let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| o.stop()));
        if stopped.is_err() {
            shared.failed.store(true, Ordering::Relaxed);
        }
    }
    if let Some(frames) = frames {
        tracing::info!(frames, "frame loop stopped");
    }
}

/// Whether a playing show is a colour or blackout override's own show.
fn is_override_show(name: &str) -> bool {
    name.starts_with("override-")
}

/// What the "playing" log line says: the shows by name (each once, at most
/// a few), and how many operator overrides are on top (`overrides` plus
/// any `override-N` among `names`).
pub fn playing_summary(names: &[String], overrides: usize) -> String {
    let mut shows: Vec<&str> = Vec::new();
    let mut overrides = overrides;
    for n in names {
        if is_override_show(n) {
            overrides += 1;
        } else if !shows.contains(&n.as_str()) {
            shows.push(n);
        }
    }
    let mut out = if shows.is_empty() {
        "nothing".to_string()
    } else {
        let shown = shows.len().min(6);
        let mut s = shows[..shown].join(", ");
        if shows.len() > shown {
            s.push_str(&format!(" and {} more", shows.len() - shown));
        }
        s
    };
    match overrides {
        0 => {}
        1 => out.push_str(" + 1 override"),
        n => out.push_str(&format!(" + {n} overrides")),
    }
    out
}

/// The frame loop's builder: as many of `cores` as the site is worth, and
/// the twinkles' lit cells remembered (this is the process's one timeline;
/// previews and forecasts beside it build without the memo).
fn frame_builder(site: &nightscape_core::site::Site, cores: usize) -> FrameBuilder {
    FrameBuilder::new(site)
        .for_cores(site, cores)
        .with_sparkle_memo()
}

/// What plays at `at` and its frame: the program's shows, operator
/// control's, repositioned by the hooks (timecode), built into `builder`.
fn render_into<'a>(
    program: &'a dyn Program,
    config: &'a Config,
    control: &'a CompiledControl,
    hooks: &mut [Box<dyn FrameHook>],
    builder: &mut FrameBuilder,
    at: DateTime<Utc>,
    active: &mut Vec<ActiveShow<'a>>,
) {
    program.active_into(config, at, active);
    control.active_into(at, active);
    for h in hooks.iter_mut() {
        h.position(config, at, active);
    }
    builder.build(config, active, control, hooks, at);
}

/// How many recent frames the render-cost and oversleep estimates cover
/// (two seconds at 40 fps: a load that comes and goes is remembered
/// across a few of its bursts).
const TIMING_WINDOW: usize = 80;

/// The frame loop's own measurements, for rendering just in time: how long
/// recent renders took and how late recent wake-ups came. A re-render is
/// started only when the slowest recent render (plus a margin) still ends
/// before the deadline.
struct Timing {
    renders: [Duration; TIMING_WINDOW],
    oversleeps: [Duration; TIMING_WINDOW],
    next_render: usize,
    next_oversleep: usize,
    /// A quarter period: the lead is never less than a millisecond of
    /// margin and never more than the period.
    period: Duration,
}

/// Kept between the end of a render and the deadline besides the worst
/// oversleep: the hand-over to outputs and a scheduler's tick.
const MARGIN: Duration = Duration::from_millis(1);

impl Timing {
    fn new(period: Duration) -> Timing {
        Timing {
            // Until measured, assume a render takes the whole period: no
            // re-render is tried before the loop knows its costs.
            renders: [period; TIMING_WINDOW],
            oversleeps: [Duration::ZERO; TIMING_WINDOW],
            next_render: 0,
            next_oversleep: 0,
            period,
        }
    }

    fn rendered(&mut self, took: Duration) {
        self.renders[self.next_render] = took;
        self.next_render = (self.next_render + 1) % TIMING_WINDOW;
    }

    /// How long before a deadline a render must start to be sure to end
    /// before it. With outputs on their own threads, twice the render:
    /// they build their packets after the hand-over, and at the sizes that
    /// put an output on a thread that takes as long as a render at most.
    ///
    /// A wake-up's usual lateness (the 90th percentile of recent ones)
    /// and a millisecond are added; an unusually late one only finds too
    /// little time left and sends the first render (checked against
    /// [`Timing::work`] once awake), so the rare long oversleep of a loaded
    /// machine costs a re-render, never a deadline, and does not move every
    /// frame's check earlier.
    fn lead(&self, threaded: bool) -> Duration {
        let mut late = self.oversleeps;
        late.sort_unstable();
        (self.work(threaded) + MARGIN + late[TIMING_WINDOW * 9 / 10]).min(self.period)
    }

    /// How long a render (and, with outputs on their own threads, their
    /// packets) takes at most: once awake, a re-render starts only if
    /// this much is left before the deadline (the margin in
    /// [`Timing::lead`] is what a wake-up later than usual may use up).
    fn work(&self, threaded: bool) -> Duration {
        let render = self.renders.iter().max().copied().unwrap_or(self.period);
        let work = if threaded { render * 2 } else { render };
        work.min(self.period)
    }

    /// Sleep until `t`, noting how late the wake-up came.
    fn sleep_until(&mut self, t: Instant) {
        let Some(wait) = t.checked_duration_since(Instant::now()) else {
            return;
        };
        std::thread::sleep(wait);
        self.oversleeps[self.next_oversleep] = Instant::now().saturating_duration_since(t);
        self.next_oversleep = (self.next_oversleep + 1) % TIMING_WINDOW;
    }
}

/// The loop itself; returns the number of frames sent.
fn run_frames(
    program: &dyn Program,
    outputs: &mut [Box<dyn Output>],
    hooks: &mut [Box<dyn FrameHook>],
    shared: &Shared,
) -> u64 {
    let clock = shared.clock;
    let mut config = shared.config();
    let mut period = Duration::from_secs_f64(1.0 / config.site.fps as f64);
    // Frames stand on the wall clock's grid (frame k at k / fps s since the
    // Unix epoch), so nodes with agreeing clocks show the same instants;
    // their deadlines are kept on the monotonic clock, mapped from one
    // reading of both clocks each frame.
    let mut grid = FrameGrid::new(config.site.fps);
    let (mut mono_prev, mut wall_prev) = (Instant::now(), unix_nanos(Utc::now()));
    let mut k = grid.next_after(wall_prev);
    let mut sent: u64 = 0;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let mut builder = frame_builder(&config.site, cores);
    let mut last_active: Vec<String> = Vec::new();
    // `last_active` each once, for the status.
    let mut last_shown: Vec<String> = Vec::new();
    let mut last_overrides = 0usize;
    let mut health: Vec<OutputHealth> = outputs.iter().map(|o| o.health()).collect();
    let mut last_states: Vec<crate::output::HealthState> = health.iter().map(|h| h.state).collect();
    let mut notifier = systemd::Notifier::from_env();
    let mut last_summary = String::new();
    // Late frames are reported at most once a minute, with the count.
    let mut late_since_report: u64 = 0;
    let mut late_reported = Instant::now();
    // One list of active shows for the whole run (no allocation per frame).
    let mut spare_active: Vec<ActiveShow<'static>> = Vec::new();
    let mut timing = Timing::new(period);
    let mut rerendered: u64 = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let (latest, control) = shared.snapshot();
        if !Arc::ptr_eq(&latest, &config) {
            config = latest;
            let fps_period = Duration::from_secs_f64(1.0 / config.site.fps as f64);
            if fps_period != period {
                // A new frame rate: the next point of its grid.
                period = fps_period;
                timing = Timing::new(period);
                grid = FrameGrid::new(config.site.fps);
                k = grid.next_after(unix_nanos(Utc::now()));
            }
            // Buffers and the DMX map are worked out from the patch: a
            // reload may move fixtures without changing their number.
            builder = frame_builder(&config.site, cores);
            tracing::info!(site = %config.site.name, "configuration switched");
        }
        // The frame is rendered for the instant of its deadline and sent on
        // it: the wire's interval is then the wake-up's jitter, not the
        // render's varying length (a change made during the wait is caught
        // by the just-in-time re-render below when one fits).
        let (mono_now, wall_now) = (Instant::now(), unix_nanos(Utc::now()));
        let mut deadline = mono_at(grid.nanos(k), mono_now, wall_now);
        if deadline > mono_now + 2 * period {
            // The wall clock went back since the last frame: rejoin the grid.
            k = grid.next_after(wall_now);
            deadline = mono_at(grid.nanos(k), mono_now, wall_now);
        }
        // A late frame goes out at once, but shows its own instant: every
        // node sends the same bytes for frame k.
        let at = clock.frame_instant(grid.instant(k), deadline);
        // The control a re-render used (declared before `active`, which
        // borrows it).
        let fresh: Arc<CompiledControl>;
        let mut active = recycle(std::mem::take(&mut spare_active));
        let began = Instant::now();
        render_into(
            program,
            &config,
            &control,
            hooks,
            &mut builder,
            at,
            &mut active,
        );
        timing.rendered(began.elapsed());
        // Just in time: an operator's change that arrived after this render
        // would otherwise wait for the next frame (almost two periods from
        // the click to the wire). Wait until the last moment a render still
        // fits before the deadline (the longest recent render plus the
        // longest recent oversleep), and render again if the control in
        // force was replaced meanwhile. A heavy site has no such moment and
        // sends what it rendered.
        let threaded = outputs.iter().filter(|o| o.on_own_thread()).count();
        if let Some(check) = deadline.checked_sub(timing.lead(threaded > 0)) {
            if check > Instant::now() {
                timing.sleep_until(check);
                let (cfg_now, ctl_now) = shared.snapshot();
                // A new configuration waits for the next frame (the
                // builder is remade for it); control alone is re-rendered.
                if !Arc::ptr_eq(&ctl_now, &control)
                    && Arc::ptr_eq(&cfg_now, &config)
                    && Instant::now() + timing.work(threaded > 0) <= deadline
                {
                    let began = Instant::now();
                    active.clear();
                    fresh = ctl_now;
                    render_into(
                        program,
                        &config,
                        &fresh,
                        hooks,
                        &mut builder,
                        at,
                        &mut active,
                    );
                    timing.rendered(began.elapsed());
                    rerendered += 1;
                }
            }
        }
        for h in hooks.iter_mut() {
            h.observe(&config, at, &active, &builder.frame);
        }
        // Asked once: the frame is published below only if it was kept.
        let publish = shared.frame_wanted();
        // Outputs on their own threads get the frame now and send it on
        // the deadline themselves (their packets built meanwhile). The last
        // of them may take the frame instead of a copy (the next build
        // rewrites every byte) if no one else reads it after.
        let only_threaded = threaded == outputs.len();
        let mut handed = 0;
        for o in outputs.iter_mut().filter(|o| o.on_own_thread()) {
            handed += 1;
            let take = handed == threaded && only_threaded && !publish;
            o.send_at(&mut builder.frame, deadline, take);
        }
        timing.sleep_until(deadline);
        if threaded < outputs.len() {
            for h in hooks.iter_mut() {
                h.before_send(&config, &mut builder.frame);
            }
        }
        for o in outputs.iter_mut().filter(|o| !o.on_own_thread()) {
            o.send(&builder.frame);
        }
        let frame = &builder.frame;
        // Outputs on their own threads put the frame on the wire before the
        // next render takes both cores (bounded: at 10,000 universes the
        // sends overlap the render instead).
        let until = Instant::now() + period / 4;
        for o in outputs.iter() {
            o.settle(until);
        }
        let on_wire = Instant::now();
        let (wire_fps, wire_max) = {
            let mut w = lock(&shared.wire);
            w.record(on_wire);
            (w.fps(on_wire), w.max_interval(on_wire))
        };
        if sent == 0 {
            notifier.ready();
        }
        notifier.tick();

        // Compared in place: the names are only collected when they
        // change, and overrides only counted (an override created or
        // released must not copy thousands of names on this thread).
        let playing = active.iter().filter(|a| a.opacity(at) > 0.0);
        let overrides_now = playing
            .clone()
            .filter(|a| is_override_show(&a.show.name))
            .count();
        let mut named = playing
            .filter(|a| !is_override_show(&a.show.name))
            .map(|a| &a.show.name);
        if overrides_now != last_overrides || !named.clone().eq(last_active.iter()) {
            last_active = named.by_ref().cloned().collect();
            last_overrides = overrides_now;
            last_shown.clear();
            for n in &last_active {
                if !last_shown.contains(n) {
                    last_shown.push(n.clone());
                }
            }
            let summary = playing_summary(&last_active, last_overrides);
            if summary != last_summary {
                tracing::info!(at = %at, "playing {summary}");
                last_summary = summary;
            }
        }
        spare_active = recycle(active);
        for (o, h) in outputs.iter().zip(health.iter_mut()) {
            o.health_into(h);
        }
        for (i, h) in health.iter().enumerate() {
            if last_states[i] != h.state {
                if h.state == crate::output::OK {
                    tracing::info!(output = %h.target, state = %h.state, "output recovered");
                } else {
                    tracing::warn!(output = %h.target, state = %h.state, error = ?h.last_error, "output state changed");
                }
                last_states[i] = h.state;
            }
        }

        k += 1;
        sent += 1;
        if sent % 200 == 0 {
            tracing::debug!(
                lead_ms = timing.lead(threaded > 0).as_secs_f64() * 1e3,
                rerendered,
                "just-in-time rendering"
            );
        }
        let (mono_now, wall_now) = (Instant::now(), unix_nanos(Utc::now()));
        // How far the wall clock moved beyond the monotonic one since the
        // last frame: more than 100 ms is a step (NTP, an operator), not
        // lateness.
        let stepped = (wall_now - wall_prev) - (mono_now - mono_prev).as_nanos() as i128;
        (mono_prev, wall_prev) = (mono_now, wall_now);
        let mut late = 0;
        if stepped.abs() > 100_000_000 {
            tracing::info!(
                by_ms = (stepped / 1_000_000) as i64,
                "the wall clock stepped; frames follow it"
            );
            k = grid.next_after(wall_now);
        } else if grid.nanos(k) + (period.as_nanos() as i128) < wall_now {
            // Skip the frames we cannot make; the next one is on the grid.
            let next = grid.next_after(wall_now);
            late = next - k;
            k = next;
            late_since_report += late;
        }
        if late_since_report > 0 && late_reported.elapsed() >= Duration::from_secs(60) {
            tracing::warn!(
                late = late_since_report,
                "frames missed their deadline in the last minute (skipped, not burst)"
            );
            late_since_report = 0;
            late_reported = Instant::now();
        }
        if let Ok(mut s) = shared.stats.lock() {
            s.frames += 1;
            s.late_frames += late;
            s.rerendered = rerendered;
            s.last_instant = Some(at);
            s.active_shows.clone_from(&last_shown);
            s.active_overrides = last_overrides;
            s.wire_fps = wire_fps;
            s.wire_max_interval_ms = wire_max.map(|d| d.as_secs_f64() * 1000.0);
            if s.outputs.len() != health.len() {
                s.outputs.clone_from(&health);
            }
            for (to, h) in s.outputs.iter_mut().zip(&health) {
                h.copy_into(to);
            }
            if publish {
                // Reuse the published frame's buffers, field by field (a
                // derived `clone_from` would allocate anyway).
                match &mut s.last_frame {
                    Some(last) => {
                        last.universes.clone_from(&frame.universes);
                        last.data.clone_from(&frame.data);
                    }
                    None => s.last_frame = Some(frame.clone()),
                }
                s.last_frame_no = s.frames;
            }
        }
    }
    notifier.stopping();
    send_final_frame(shared, outputs, &mut builder, hooks);
    sent
}

/// Leave the wire in the state the site asks for on stop. Holding sends
/// nothing; a blackout or a named show's look is sent a few times so a
/// receiver that drops one packet still gets it. A show's look goes through
/// the same pipeline as every frame: masters, level overrides and curfew
/// caps still hold while the daemon stops.
fn send_final_frame(
    shared: &Shared,
    outputs: &mut [Box<dyn Output>],
    builder: &mut FrameBuilder,
    hooks: &mut [Box<dyn FrameHook>],
) {
    let (config, control) = shared.snapshot();
    let site = &config.site;
    match &site.on_stop {
        nightscape_core::site::OnStop::Hold => return,
        nightscape_core::site::OnStop::Blackout => {
            for d in &mut builder.frame.data {
                d.fill(0);
            }
        }
        nightscape_core::site::OnStop::Show(name) => {
            let Some(show) = config.show(name) else {
                return;
            };
            let at = shared.clock.now();
            // Started long enough ago that its fade-in is over (durations
            // are bounded when loaded; checked all the same).
            let ago = chrono::Duration::try_seconds(show.fade_in.ceil().min(1e9) as i64 + 1)
                .unwrap_or(chrono::Duration::zero());
            let started = at.checked_sub_signed(ago).unwrap_or(at);
            let active = [ActiveShow::new(show, started, None, 0)];
            builder.build(&config, &active, &control, hooks, at);
        }
    }
    tracing::info!(on_stop = ?site.on_stop, "sending the stop frame");
    let period = Duration::from_secs_f64(1.0 / site.fps as f64);
    for _ in 0..3 {
        for o in outputs.iter_mut() {
            o.send(&builder.frame);
        }
        std::thread::sleep(period);
    }
}

#[cfg(test)]
mod log_tests {
    #[test]
    fn playing_lines_name_shows_once_and_count_overrides() {
        let mut names: Vec<String> = vec!["nightly".into(), "festival".into(), "nightly".into()];
        names.extend((0..7000).map(|i| format!("override-{i}")));
        let s = super::playing_summary(&names, 0);
        assert_eq!(s, "nightly, festival + 7000 overrides");
        assert_eq!(
            super::playing_summary(&names[..3], 7000),
            "nightly, festival + 7000 overrides"
        );
        assert_eq!(super::playing_summary(&[], 0), "nothing");
        let many: Vec<String> = (0..10).map(|i| format!("show{i}")).collect();
        assert!(super::playing_summary(&many, 0).ends_with("and 4 more"));
    }

    #[test]
    fn actions_read_as_operators_write_them() {
        use crate::control::Action;
        assert_eq!(Action::Level(0.3).to_string(), "level 30%");
        assert_eq!(Action::Blackout.to_string(), "blackout");
        assert_eq!(Action::Color("#ff0000".into()).to_string(), "color #ff0000");
    }
}

#[cfg(test)]
mod wire_tests {
    use super::WireMeter;
    use std::time::{Duration, Instant};

    /// The meter counts the frames of the last second as they were sent,
    /// and the longest gap includes the time since the last frame.
    #[test]
    fn the_wire_meter_counts_real_sends() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut m = WireMeter::default();
        // 40 fps for 2 s, except one 385 ms gap in the second second.
        let mut t = 0;
        while t <= 2000 {
            m.record(ms(t));
            t += if t == 1200 { 385 } else { 25 };
        }
        assert!(m.fps(ms(500)).is_none(), "less than a second of history");
        assert_eq!(m.fps(ms(1000)), Some(40.0));
        let fps = m.fps(ms(2000)).unwrap();
        assert!((25.0..=26.0).contains(&fps), "{fps}");
        assert_eq!(m.max_interval(ms(2000)), Some(Duration::from_millis(385)));
        assert_eq!(m.max_interval(ms(1100)), Some(Duration::from_millis(25)));
        // A loop that stalls: the gap grows with the wait.
        // (the last frame went out at 1,985 ms)
        assert_eq!(m.max_interval(ms(2500)), Some(Duration::from_millis(515)));
        // Memory is bounded by time and count.
        for i in 0..5000 {
            m.record(ms(3000 + i));
        }
        assert!(m.sent.len() <= super::WIRE_KEPT);
    }
}

#[cfg(test)]
mod tests_frame_loop;
