//! Show control in the daemon: triggers fired by what happens (OSC, UDP
//! strings, HTTP, the clock, the daemon's start), their actions performed
//! through the control service, and events sent out.
//!
//! The rules are the configuration's (`config.triggers`, compiled by the
//! core from `[[triggers]]`), read at each event, so a reload changes them
//! at once; when each trigger last fired is kept here by name. A trigger
//! acts when its conditions hold and its rate limit admits it (in that
//! order: an event refused by a condition does not use up the interval).
//! Each firing writes a `trigger.fire` audit entry (actor
//! `trigger:<name>`, remote the sender), then performs its actions in
//! order through [`ops::Ops`] — the API's operations with the API's checks
//! — each with its own audit entry; an action that fails is logged and
//! the next one still runs.

pub mod mqtt;
pub mod ops;
pub mod osc;
pub mod out;
pub mod udp;

use crate::control::ControlService;
use crate::daemon::Shared;
use crate::store::AuditEntry;
use chrono::{DateTime, Utc};
use nightscape_core::triggers::{Act, Context, Limiter, OverrideWhat, Trigger};
pub use nightscape_core::triggers::{Event, EventKind};
use ops::{Ops, Who};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// What a trigger did, for the console and the API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Log {
    /// Firings since the daemon started.
    pub fired: u64,
    pub last_fired: Option<DateTime<Utc>>,
    /// Events refused by the rate limit.
    pub limited: u64,
    /// Events refused because a condition did not hold.
    pub not_now: u64,
    /// Why the last refused or failed event did not act.
    pub last_refusal: Option<String>,
}

/// How one event went for one trigger.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Fired; the errors of actions that failed, if any.
    Fired(Vec<String>),
    /// Refused by the rate limit: seconds until it may fire again.
    Limited(f64),
    /// A condition did not hold.
    NotNow(String),
}

/// An event for the outside world (`[[notify]]`).
#[derive(Debug, Clone, Serialize)]
pub struct OutEvent {
    pub event: EventKind,
    pub at: DateTime<Utc>,
    /// What it is about: the scene, the alarm, the trigger.
    #[serde(flatten)]
    pub detail: serde_json::Value,
}

#[derive(Default)]
struct State {
    limiter: Limiter,
    logs: HashMap<String, Log>,
}

/// The daemon's show control; share it behind an `Arc`.
pub struct ShowControl {
    ops: Ops,
    state: Mutex<State>,
    events: broadcast::Sender<OutEvent>,
}

impl ShowControl {
    pub fn new(shared: Shared, control: ControlService) -> Arc<ShowControl> {
        Arc::new(ShowControl {
            ops: Ops { shared, control },
            state: Mutex::default(),
            events: broadcast::channel(256).0,
        })
    }

    pub fn ops(&self) -> &Ops {
        &self.ops
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Events for the outside world, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<OutEvent> {
        self.events.subscribe()
    }

    /// Send an event to whoever listens (the notify task).
    pub fn emit(&self, event: EventKind, detail: serde_json::Value) {
        let _ = self.events.send(OutEvent {
            event,
            at: Utc::now(),
            detail,
        });
    }

    /// Each declared trigger with what it did.
    pub fn list(&self) -> Vec<(Trigger, Log)> {
        let cfg = self.ops.shared.config();
        let st = self.state();
        cfg.triggers
            .rules
            .iter()
            .map(|t| {
                let log = st.logs.get(&t.name).cloned().unwrap_or_default();
                (t.clone(), log)
            })
            .collect()
    }

    /// Fire the triggers `event` sets off; how many fired.
    pub async fn handle(&self, event: Event<'_>, who: &Who) -> usize {
        let cfg = self.ops.shared.config();
        let triggers = cfg.triggers.clone();
        let mut fired = 0;
        for i in triggers.matching(&event).collect::<Vec<_>>() {
            if let Outcome::Fired(_) = self.fire(&triggers.rules[i], who).await {
                fired += 1;
            }
        }
        fired
    }

    /// `POST /api/triggers/<name>`: None when no HTTP trigger has that name.
    pub async fn fire_http(&self, name: &str, who: &Who) -> Option<Outcome> {
        let cfg = self.ops.shared.config();
        let (_, t) = cfg.triggers.get(name)?;
        if !t.on.matches(&Event::Http { name }) {
            return None;
        }
        Some(self.fire(t, who).await)
    }

    /// What the conditions read, now.
    async fn context_check(&self, t: &Trigger, now: DateTime<Utc>) -> Result<(), String> {
        let w = &t.when;
        if w.modes.is_empty()
            && w.between.is_none()
            && w.playing.is_empty()
            && w.not_playing.is_empty()
            && w.levels.is_empty()
        {
            return Ok(());
        }
        let shared = &self.ops.shared;
        let cfg = shared.config();
        let night = shared
            .skips
            .night(&cfg.schedule, cfg.schedule.night_of(now));
        let playing: Vec<String> = shared
            .stats
            .lock()
            .map(|s| s.active_shows.clone())
            .unwrap_or_default();
        let book = if w.levels.is_empty() {
            None
        } else {
            Some(self.ops.control.book().await)
        };
        let master = |target: &str| {
            book.as_ref()
                .and_then(|b| b.masters.iter().find(|m| m.target == target))
                .map_or(1.0, |m| m.level)
        };
        let level = |group: &str| {
            cfg.site
                .groups
                .contains_key(group)
                .then(|| master(group) * master("*"))
        };
        let is_playing = |s: &str| playing.iter().any(|p| p == s);
        w.check(&Context {
            mode: &night.mode,
            local: now.with_timezone(&cfg.site.timezone).time(),
            playing: &is_playing,
            level: &level,
        })
    }

    /// Check, rate-limit, audit and run one trigger.
    async fn fire(&self, t: &Trigger, who: &Who) -> Outcome {
        let now = self.ops.shared.clock.now();
        if let Err(why) = self.context_check(t, now).await {
            let mut st = self.state();
            let log = st.logs.entry(t.name.clone()).or_default();
            log.not_now += 1;
            log.last_refusal = Some(why.clone());
            tracing::debug!(trigger = %t.name, "not now: {why}");
            return Outcome::NotNow(why);
        }
        {
            let mut st = self.state();
            if let Err(left) = st.limiter.admit(&t.name, t.limit_s, now) {
                let log = st.logs.entry(t.name.clone()).or_default();
                log.limited += 1;
                log.last_refusal = Some(format!("rate limit: again in {left:.1}s"));
                return Outcome::Limited(left);
            }
            let log = st.logs.entry(t.name.clone()).or_default();
            log.fired += 1;
            log.last_fired = Some(now);
        }
        let actor = Who {
            actor: format!("trigger:{}", t.name),
            remote: who.remote.clone(),
        };
        let entry = AuditEntry {
            at: now,
            actor: actor.actor.clone(),
            action: "trigger.fire".into(),
            detail: serde_json::json!({ "trigger": t.name, "on": t.on.kind(), "by": who.actor }),
            remote: who.remote.clone(),
        };
        if let Err(e) = self.ops.control.store().run(move |s| s.audit(&entry)).await {
            tracing::warn!(trigger = %t.name, "cannot audit the firing: {e}");
        }
        tracing::info!(trigger = %t.name, by = %who.actor, from = who.remote.as_deref().unwrap_or("-"), "trigger fired");
        let mut errors = Vec::new();
        for a in &t.actions {
            if let Err(e) = self.act(&actor, a).await {
                tracing::warn!(trigger = %t.name, "action failed: {e}");
                errors.push(e);
            }
        }
        if let Some(e) = errors.last() {
            let mut st = self.state();
            st.logs.entry(t.name.clone()).or_default().last_refusal = Some(e.clone());
        }
        self.emit(
            EventKind::TriggerFired,
            serde_json::json!({ "trigger": t.name, "errors": errors }),
        );
        Outcome::Fired(errors)
    }

    async fn act(&self, who: &Who, a: &Act) -> Result<(), String> {
        let ops = &self.ops;
        let r = match a {
            Act::Start {
                show,
                duration_s,
                target,
                fade_s,
            } => ops
                .start_scene(who, show, *duration_s, target.as_deref(), *fade_s)
                .await
                .map(|_| ()),
            Act::Stop { show } => ops.stop_scenes(who, show).await.map(|_| ()),
            Act::Override {
                target,
                what,
                ttl_s,
                fade_s,
            } => {
                let action = match what {
                    OverrideWhat::Level(l) => crate::control::Action::Level(*l),
                    OverrideWhat::Color(c) => crate::control::Action::Color(c.clone()),
                    OverrideWhat::Show(s) => crate::control::Action::Show(s.clone()),
                    OverrideWhat::Blackout => crate::control::Action::Blackout,
                };
                ops.add_override(who, target, action, *ttl_s, *fade_s, false)
                    .await
                    .map(|_| ())
            }
            Act::Master { target, level } => ops.set_master(who, target, *level).await,
            Act::Release { target } => ops.release(who, target.as_deref()).await.map(|_| ()),
            Act::Skip { show } => ops.skip_tonight(who, show).await,
            Act::Webhook { url, body } => {
                // Off the trigger's path: a slow receiver delays nothing.
                let (url, body, name) = (url.clone(), body.to_string(), who.actor.clone());
                crate::tasks::spawn(async move {
                    if let Err(e) = crate::alarms::post(&url, &body).await {
                        tracing::warn!(trigger = %name, webhook = %url, "webhook: {e}");
                    }
                });
                Ok(())
            }
        };
        r.map_err(|e| e.to_string())
    }
}

/// Start show control: the clock's triggers, the start triggers, the
/// scene and alarm events, `[[notify]]`, and the OSC and UDP inputs given.
pub async fn start(
    shared: Shared,
    control: ControlService,
    alarms: Option<Arc<crate::alarms::Alarms>>,
    osc_inputs: Vec<osc::OscInput>,
    udp_inputs: Vec<udp::UdpInput>,
) -> Arc<ShowControl> {
    let sc = ShowControl::new(shared, control);
    for input in osc_inputs {
        let name = input.name.clone();
        if let Err(e) = osc::serve(input, sc.clone()).await {
            tracing::error!(input = %name, "OSC input: cannot listen: {e}");
        }
    }
    for input in udp_inputs {
        let name = input.name.clone();
        if let Err(e) = udp::serve(input, sc.clone()).await {
            tracing::error!(input = %name, "UDP input: cannot listen: {e}");
        }
    }
    if let Some(spec) = mqtt::wanted(&sc) {
        let node = sc.ops.shared.node.as_deref().unwrap_or("node").to_string();
        let id = format!("nightscape-triggers-{node}-{}", std::process::id());
        crate::tasks::spawn(mqtt::run(sc.clone(), spec, id));
    }
    crate::tasks::spawn(out::notify(sc.clone()));
    crate::tasks::spawn(out::watch_scenes(sc.clone()));
    if let Some(a) = alarms {
        crate::tasks::spawn(out::watch_alarms(sc.clone(), a));
    }
    crate::tasks::spawn(clock(sc.clone()));
    crate::tasks::spawn(input_events(sc.clone()));
    let daemon = Who {
        actor: "nightscape".into(),
        remote: None,
    };
    sc.handle(Event::Start, &daemon).await;
    sc
}

/// Fire the clock's triggers as time passes (four times a second, on the
/// daemon's clock, which may be simulated).
async fn clock(sc: Arc<ShowControl>) {
    let who = Who {
        actor: "clock".into(),
        remote: None,
    };
    let mut last = sc.ops.shared.clock.now();
    let mut every = tokio::time::interval(std::time::Duration::from_millis(250));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if sc
            .ops
            .shared
            .stop
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let now = sc.ops.shared.clock.now();
        let cfg = sc.ops.shared.config();
        let due = cfg.triggers.due(&cfg.schedule, last, now);
        for i in due {
            sc.fire(&cfg.triggers.rules[i], &who).await;
        }
        last = now;
    }
}

/// Start show control for the site in force: triggers and notify, and
/// how its `osc` and `udp` inputs are served, handed to the inputs
/// (`crate::inputs`), which open, close and rebind them as reloads change
/// the site's `[[inputs]]`.
pub async fn start_for_site(
    shared: Shared,
    control: ControlService,
    alarms: Option<Arc<crate::alarms::Alarms>>,
) -> Arc<ShowControl> {
    let sc = start(shared, control, alarms, Vec::new(), Vec::new()).await;
    crate::inputs::serve_packet_inputs(packet_opener(sc.clone()));
    sc
}

/// Opens an OSC or UDP input's server on this runtime (called from the
/// inputs' own thread, off the runtime); dropping what it returns closes
/// the socket.
fn packet_opener(sc: Arc<ShowControl>) -> crate::inputs::PacketOpener {
    use nightscape_core::site::inputs::{Input, InputKind};
    let rt = tokio::runtime::Handle::current();
    Arc::new(move |input: &Input| {
        let allow = {
            let i = input.clone();
            Arc::new(move |ip: std::net::IpAddr| i.allows(ip))
                as Arc<dyn Fn(std::net::IpAddr) -> bool + Send + Sync>
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            let _ = stop_rx.await;
        };
        let (name, sc) = (input.name.clone(), sc.clone());
        match &input.kind {
            InputKind::Osc(p) => rt
                .block_on(osc::serve_until(
                    osc::OscInput {
                        name,
                        listen: p.listen,
                        allow,
                    },
                    sc,
                    stop,
                ))
                .map(drop)?,
            InputKind::Udp(p) => rt
                .block_on(udp::serve_until(
                    udp::UdpInput {
                        name,
                        listen: p.listen,
                        allow,
                    },
                    sc,
                    stop,
                ))
                .map(drop)?,
            _ => return Err(std::io::Error::other("not an OSC or UDP input")),
        }
        Ok(Box::new(stop_tx) as crate::inputs::PacketServer)
    })
}

/// A received timecode as the trigger rules compare it (hours to frames;
/// the rate does not matter within one stream).
fn tc(t: &nightscape_core::timecode::Timecode) -> nightscape_core::triggers::Timecode {
    nightscape_core::triggers::Timecode {
        hours: t.hours,
        minutes: t.minutes,
        seconds: t.seconds,
        frames: t.frames,
    }
}

/// Fire ArtTrigger and timecode triggers from the inputs' events (the
/// Art-Net input's ArtTriggers; every timecode source, OSC's included).
/// The inputs start after show control, so this waits for them (10 s).
async fn input_events(sc: Arc<ShowControl>) {
    let mut inputs = None;
    for _ in 0..100 {
        inputs = crate::inputs::running();
        if inputs.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let Some(inputs) = inputs else {
        return;
    };
    let mut rx = inputs.events();
    loop {
        let ev = match rx.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    "show control: {n} input events were not looked at (too many at once)"
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        match ev {
            crate::inputs::InputEvent::ArtTrigger {
                input,
                from,
                key,
                sub_key,
                ..
            } => {
                let who = Who {
                    actor: input,
                    remote: Some(from.to_string()),
                };
                sc.handle(Event::ArtTrigger { key, sub_key }, &who).await;
            }
            crate::inputs::InputEvent::Timecode {
                source,
                timecode,
                previous,
                jumped,
            } => {
                let who = Who {
                    actor: format!(
                        "timecode:{}",
                        serde_json::to_value(source)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    ),
                    remote: None,
                };
                let from = if jumped {
                    None
                } else {
                    previous.as_ref().map(tc)
                };
                sc.handle(
                    Event::Timecode {
                        from,
                        to: tc(&timecode),
                    },
                    &who,
                )
                .await;
            }
        }
    }
}
