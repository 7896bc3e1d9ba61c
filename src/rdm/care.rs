//! Device care in the running daemon: every `[rdm] every`, each output
//! with `rdm = true` is asked for its fixtures (table of devices, then each
//! device's readings), the patch is verified, the result is kept in memory
//! for `/api/devices` and in the state database's asset record, and faults
//! become alarms.
//!
//! Lines: an Art-Net output's (node, Port-Address) pairs, and an
//! `enttec-pro` output's one line, asked through that output's own thread,
//! which puts the requests between its DMX frames (`crate::output::serial`).
//!
//! Full and incremental discoveries (E1.20 §7): the first pass and every
//! `full_every / every`-th are full — an Art-Net node is told to flush its
//! table and discover again (ArtTodControl AtcFlush), a Pro's line is
//! un-muted and walked whole — and every device is read in full. The
//! others are incremental: a node's table as it keeps it, or on a Pro the
//! known devices muted one by one (each mute checks it still answers) and
//! only un-muted ones searched for; a new device is read in full, a known
//! one only for what changes (addressing, hours, lamp, status, sensor
//! values: `Requester::read_changes`).
//!
//! It runs on a thread of its own, one RDM request in flight, at most
//! `[rdm] per_frame` requests per DMX frame (the pace is `1 / (fps ×
//! per_frame)`): the frame loop never waits for it, and a node interleaves
//! our few requests between its DMX frames, so the lights keep their frame
//! rate while fixtures are asked (measured: docs/devices.md). Writes from
//! the API (DMX address, label, identify) are queued to the same thread
//! and run between two devices' readings, so they never collide with a
//! discovery on the line.
//!
//! Faults, each an alarm raised once and cleared when it recovers (keys
//! under `rdm:`): `fixture_missing` (patched, not in the node's table of
//! devices), `fixture_mismatch` (wrong address, or a footprint other than
//! the profile mode's), `lamp_failure` (LAMP_STATE error / not present, or
//! a lamp-doused, lamp-strike or dimmer-failure status message) and
//! `sensor_out_of_range` (beyond its definition's normal range or a
//! `[[rdm.sensors]]` limit). A line whose node did not answer at all keeps
//! its faults as they were: the node's own alarm (`output_down`) says why,
//! and its fixtures are not declared missing one by one.

use super::enttec::EnttecLine;
use super::patch::{verify, PatchEntry, PatchState};
use super::{
    assets, ArtNetLine, Device, Lamp, Line, Requester, Sweep, Tapped, Write, WriteOutcome,
};
use crate::alarms::Alarms;
use crate::daemon::Shared;
use crate::store::Store;
use chrono::{DateTime, Utc};
use nightscape_core::site::{OutputKind, Site};
use nightscape_core::wire::rdm::{status_id, Uid};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a node gets to send its table of devices.
const TOD_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a Pro's own discovery may take at most (a full walk of a
/// 48-device line is a few hundred requests at the frame's pace).
const WIDGET_DISCOVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long each RDM reply is waited for (one resend after it).
const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
/// Writes waiting for the line at most; more are refused (503).
const QUEUE: usize = 16;
/// How long a write waits for its turn and answer at most.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// One fault kind; serialised as the alarm's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    FixtureMissing,
    FixtureMismatch,
    LampFailure,
    SensorOutOfRange,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::FixtureMissing => "fixture_missing",
            FaultKind::FixtureMismatch => "fixture_mismatch",
            FaultKind::LampFailure => "lamp_failure",
            FaultKind::SensorOutOfRange => "sensor_out_of_range",
        }
    }
}

/// A fault is raised as the alarm of the same name.
impl From<FaultKind> for crate::alarms::AlarmKind {
    fn from(k: FaultKind) -> crate::alarms::AlarmKind {
        use crate::alarms::AlarmKind;
        match k {
            FaultKind::FixtureMissing => AlarmKind::FixtureMissing,
            FaultKind::FixtureMismatch => AlarmKind::FixtureMismatch,
            FaultKind::LampFailure => AlarmKind::LampFailure,
            FaultKind::SensorOutOfRange => AlarmKind::SensorOutOfRange,
        }
    }
}

/// The language a reading is written in for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

/// What a sensor was held against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// A `[[rdm.sensors]]` limit of the site.
    SiteLimit,
    /// The sensor's own normal range (SENSOR_DEFINITION).
    NormalRange,
}

/// The reading behind a fault as data, so each reader words it in its own
/// language (the console in en or zh, `/api/maintenance?lang=zh`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reading {
    /// Patched, not in the line's table of devices.
    NotInTable,
    /// Answers at another address (site universe and address).
    AnswersAt { universe: u16, address: u16 },
    /// Answers with no DMX address (no footprint).
    NoAddress,
    /// LAMP_STATE (when it is a failure) and the lamp-failure status
    /// messages the device queued (E1.20 status message IDs).
    Lamp {
        #[serde(skip_serializing_if = "Option::is_none")]
        state: Option<Lamp>,
        status: Vec<u16>,
    },
    /// A sensor beyond its bound.
    Sensor {
        sensor: String,
        value: i16,
        unit: String,
        bound: Bound,
        #[serde(skip_serializing_if = "Option::is_none")]
        min: Option<i32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<i32>,
    },
}

impl Reading {
    /// The reading as a person reads it, in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        let zh = lang == Lang::Zh;
        match self {
            Reading::NotInTable if zh => "不在该线路的设备表中".into(),
            Reading::NotInTable => "not in the node's table of devices".into(),
            Reading::AnswersAt { universe, address } if zh => {
                format!("在 {universe}.{address} 应答")
            }
            Reading::AnswersAt { universe, address } => format!("answers at {universe}.{address}"),
            Reading::NoAddress if zh => "应答但没有 DMX 地址".into(),
            Reading::NoAddress => "answers with no DMX address".into(),
            Reading::Lamp { state, status } => {
                let mut parts = Vec::new();
                if let Some(l) = state {
                    parts.push(if zh {
                        format!("灯状态 {}", lamp_name(*l, lang))
                    } else {
                        format!("lamp state {}", lamp_name(*l, lang))
                    });
                }
                for id in status {
                    parts.push(if zh {
                        format!("状态消息 0x{id:04x}（{}）", status_name(*id, lang))
                    } else {
                        format!("status message 0x{id:04x} ({})", status_name(*id, lang))
                    });
                }
                parts.join(if zh { "，" } else { ", " })
            }
            Reading::Sensor {
                sensor,
                value,
                unit,
                bound,
                min,
                max,
            } => {
                let (lo, hi) = (
                    min.map_or(String::new(), |m| m.to_string()),
                    max.map_or(String::new(), |m| m.to_string()),
                );
                match (bound, zh) {
                    (Bound::SiteLimit, false) => {
                        format!("{sensor} reads {value} {unit}, beyond the site's limit {lo}..{hi}")
                    }
                    (Bound::NormalRange, false) => {
                        format!("{sensor} reads {value} {unit}, beyond its normal range {lo}..{hi}")
                    }
                    (Bound::SiteLimit, true) => {
                        format!("{sensor} 读数 {value} {unit}，超出站点限值 {lo}..{hi}")
                    }
                    (Bound::NormalRange, true) => {
                        format!("{sensor} 读数 {value} {unit}，超出其正常范围 {lo}..{hi}")
                    }
                }
            }
        }
    }
}

/// LAMP_STATE's name.
fn lamp_name(l: Lamp, lang: Lang) -> &'static str {
    match (l, lang) {
        (Lamp::Off, Lang::En) => "off",
        (Lamp::On, Lang::En) => "on",
        (Lamp::Strike, Lang::En) => "strike",
        (Lamp::Standby, Lang::En) => "standby",
        (Lamp::NotPresent, Lang::En) => "not_present",
        (Lamp::Error, Lang::En) => "error",
        (Lamp::Other, Lang::En) => "other",
        (Lamp::Off, Lang::Zh) => "关",
        (Lamp::On, Lang::Zh) => "开",
        (Lamp::Strike, Lang::Zh) => "点火中",
        (Lamp::Standby, Lang::Zh) => "待机",
        (Lamp::NotPresent, Lang::Zh) => "无灯",
        (Lamp::Error, Lang::Zh) => "故障",
        (Lamp::Other, Lang::Zh) => "其他",
    }
}

/// One open fault: a line of the maintenance list.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Fault {
    /// The alarm's key (`rdm:<kind>:<fixture or uid>[:<sensor>]`).
    pub key: String,
    pub kind: FaultKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The site's groups the fixture is in.
    pub groups: Vec<String>,
    /// Where it stands on the site plan (metres).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<[f64; 2]>,
    /// Site universe.
    pub universe: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<u16>,
    /// When the alarm was raised (wall clock).
    pub since: DateTime<Utc>,
    /// The reading behind it, as a person reads it (English; the API's
    /// `?lang=zh` words it in Chinese from `detail`).
    pub reading: String,
    /// The same reading as data.
    pub detail: Reading,
    /// What to do about it.
    pub fix: String,
}

/// Full or incremental, as the view shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SweepKind {
    Full,
    Incremental,
}

impl From<Sweep> for SweepKind {
    fn from(s: Sweep) -> SweepKind {
        match s {
            Sweep::Full => SweepKind::Full,
            Sweep::Incremental => SweepKind::Incremental,
        }
    }
}

/// How a line answered its last discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineState {
    /// Not asked yet.
    Pending,
    Answered,
    /// No table of devices within the timeout.
    Silent,
    /// The node does not do RDM on that universe (TodNak).
    NoRdm,
}

/// One DMX line device care asks.
#[derive(Debug, Clone, Serialize)]
pub struct LineView {
    /// The output, as its health names it (`artnet 10.0.4.20:6454`).
    pub output: String,
    pub universe: u16,
    /// The universe number on the wire (Art-Net Port-Address).
    pub wire: u16,
    pub state: LineState,
    pub devices: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<DateTime<Utc>>,
}

/// One device as the API shows it: what RDM reported, where, and how it
/// stands against the patch.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    #[serde(flatten)]
    pub device: Device,
    /// The site universe it carries (`device.universe` is the wire's).
    pub site_universe: u16,
    pub output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixture: Option<String>,
    pub patch: PatchState,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
    pub last_seen: DateTime<Utc>,
}

/// Everything device care knows now.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CareView {
    /// Whether any output has `rdm = true`.
    pub enabled: bool,
    pub every_s: f64,
    pub per_frame: u32,
    /// RDM requests per second at most (fps × per_frame).
    pub max_requests_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_pass: Option<DateTime<Utc>>,
    /// Complete discoveries of every line so far.
    pub passes: u64,
    /// Of which full ones (the others incremental).
    pub full_passes: u64,
    /// A full discovery every this many passes (`full_every / every`).
    pub full_every_passes: u64,
    /// The kind of the pass running or last run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepKind>,
    /// RDM requests sent so far.
    pub requests: u64,
    pub discovering: bool,
    pub lines: Vec<LineView>,
    pub devices: Vec<DeviceView>,
    /// Fixtures patched but missing (devices are in `devices`).
    pub missing: Vec<PatchEntry>,
    pub faults: Vec<Fault>,
}

/// A write queued for the line.
struct Job {
    uid: Uid,
    write: Write,
    reply: mpsc::Sender<Result<WriteOutcome, String>>,
}

/// The running service; share it behind an `Arc`.
pub struct DeviceCare {
    view: Arc<Mutex<CareView>>,
    jobs: SyncSender<Job>,
    stop: Arc<AtomicBool>,
    /// The thread, kept for its name in a debugger; never joined (see Drop).
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for DeviceCare {
    /// Tell the thread to stop, without waiting: it may be inside a
    /// node's 3 s table timeout, and shutting down must not wait for it
    /// (its database writes are transactions; nothing is left half done).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What carries one line's RDM.
#[derive(Debug, Clone, PartialEq)]
enum Via {
    /// An Art-Net node at this address (the Port-Address is `wire`).
    ArtNet(SocketAddr),
    /// The running `enttec-pro` output on this port.
    Enttec(String),
}

/// One line to ask: the output's node and Port-Address, or its widget.
#[derive(Debug, Clone)]
struct LineSpec {
    output: String,
    via: Via,
    wire: u16,
    universe: u16,
}

/// The lines of the outputs with `rdm = true`: Art-Net to an address (an
/// output to a host name is left out: its address is only known to the
/// output) and ENTTEC DMX USB Pro.
fn lines_of(site: &Site) -> Vec<LineSpec> {
    let mut out = Vec::new();
    for o in site.outputs.iter().filter(|o| o.rdm) {
        match (&o.kind, &o.host) {
            (OutputKind::ArtNet { target, .. }, None) => {
                for (u, w) in o.universes.iter().zip(&o.wire) {
                    out.push(LineSpec {
                        output: format!("artnet {target}"),
                        via: Via::ArtNet(*target),
                        wire: *w,
                        universe: *u,
                    });
                }
            }
            (OutputKind::EnttecPro { port }, _) => {
                if let Some(&u) = o.universes.first() {
                    out.push(LineSpec {
                        output: format!("enttec-pro {port}"),
                        via: Via::Enttec(port.clone()),
                        wire: u,
                        universe: u,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DeviceCare {
    /// Start asking the site's outputs with `rdm = true`. `tap`: RDM
    /// packets the Art-Net service received on port 6454. Without such an
    /// output (or with `on` false: a dry run) the thread is not started and
    /// the view says `enabled: false`.
    pub fn start(
        shared: Shared,
        alarms: Arc<Alarms>,
        store: Option<Store>,
        tap: Option<Receiver<Tapped>>,
        on: bool,
    ) -> Arc<DeviceCare> {
        let cfg = shared.config();
        let site = &cfg.site;
        let lines = if on { lines_of(site) } else { Vec::new() };
        for o in site.outputs.iter().filter(|o| on && o.rdm) {
            if let (OutputKind::ArtNet { .. }, Some(host)) = (&o.kind, &o.host) {
                tracing::warn!(
                    "device care: the Art-Net output to {host} names a host, not an address: it is not asked (write its IP)"
                )
            }
        }
        let settings = site.rdm.clone();
        let rate = f64::from(site.fps) * f64::from(settings.per_frame);
        let view = Arc::new(Mutex::new(CareView {
            enabled: !lines.is_empty(),
            every_s: settings.every,
            full_every_passes: settings.full_every_passes(),
            per_frame: settings.per_frame,
            max_requests_per_s: rate,
            lines: lines
                .iter()
                .map(|l| LineView {
                    output: l.output.clone(),
                    universe: l.universe,
                    wire: l.wire,
                    state: LineState::Pending,
                    devices: 0,
                    last: None,
                })
                .collect(),
            ..CareView::default()
        }));
        let (jobs, rx) = mpsc::sync_channel(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let care = Arc::new(DeviceCare {
            view: view.clone(),
            jobs,
            stop: stop.clone(),
            thread: Mutex::new(None),
        });
        if lines.is_empty() {
            return care;
        }
        let listen = settings
            .listen
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let artnet = if lines.iter().any(|l| matches!(l.via, Via::ArtNet(_))) {
            match ArtNetLine::open(listen, tap) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!(
                        "device care (RDM) over Art-Net unavailable: {e}; frames are not affected"
                    );
                    None
                }
            }
        } else {
            None
        };
        let pace = Duration::from_secs_f64(1.0 / rate.max(1.0));
        let worker = Worker {
            shared: shared.clone(),
            alarms,
            store,
            view,
            artnet,
            widgets: BTreeMap::new(),
            req: Requester::new(REQUEST_TIMEOUT, pace),
            lines,
            every: Duration::from_secs_f64(settings.every),
            full_every: settings.full_every_passes(),
            per_frame: settings.per_frame,
            found: BTreeMap::new(),
            line_faults: BTreeMap::new(),
            stop: stop.clone(),
            jobs: rx,
        };
        tracing::info!(
            lines = worker.lines.len(),
            every_s = settings.every,
            per_frame = settings.per_frame,
            listen = %listen,
            "device care: asking the RDM outputs' fixtures"
        );
        match std::thread::Builder::new()
            .name("rdm-care".into())
            .spawn(move || worker.run())
        {
            Ok(t) => *lock(&care.thread) = Some(t),
            Err(e) => tracing::warn!("device care (RDM): cannot start its thread: {e}"),
        }
        care
    }

    /// What device care knows now.
    pub fn view(&self) -> CareView {
        lock(&self.view).clone()
    }

    /// Make `write` to the device `uid`, waiting (blocking, at most
    /// [`WRITE_TIMEOUT`]) for the line and the device's answer.
    pub fn write(&self, uid: Uid, write: Write) -> Result<WriteOutcome, String> {
        if !self.view().devices.iter().any(|d| d.device.uid.0 == uid) {
            return Err(format!(
                "no device {uid} was found by RDM on this controller"
            ));
        }
        let (reply, rx) = mpsc::channel();
        self.jobs
            .try_send(Job { uid, write, reply })
            .map_err(|_| "too many device writes are waiting; try again".to_string())?;
        rx.recv_timeout(WRITE_TIMEOUT)
            .map_err(|_| "the device did not get its turn on the line in time".to_string())?
    }

    /// Stop the thread (at most one RDM request's time).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Worker {
    shared: Shared,
    alarms: Arc<Alarms>,
    store: Option<Store>,
    view: Arc<Mutex<CareView>>,
    /// The Art-Net client, when an Art-Net output has `rdm = true` (and
    /// its socket opened).
    artnet: Option<ArtNetLine>,
    /// The Pro lines, by port.
    widgets: BTreeMap<String, EnttecLine>,
    req: Requester,
    lines: Vec<LineSpec>,
    every: Duration,
    /// A full discovery every this many passes.
    full_every: u64,
    per_frame: u32,
    /// Per line: the devices of its last answered discovery.
    found: BTreeMap<usize, Vec<Device>>,
    /// Per line: its faults at its last answered discovery.
    line_faults: BTreeMap<usize, Vec<Fault>>,
    stop: Arc<AtomicBool>,
    jobs: Receiver<Job>,
}

impl Worker {
    fn run(mut self) {
        let mut next = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            if Instant::now() >= next {
                self.pass();
                next = Instant::now() + self.every;
            }
            let wait = next
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200));
            match self.jobs.recv_timeout(wait) {
                Ok(job) => self.job(job),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Run the writes waiting, without blocking.
    fn drain_jobs(&mut self) {
        while let Ok(job) = self.jobs.try_recv() {
            self.job(job);
        }
    }

    fn job(&mut self, job: Job) {
        let at = self
            .found
            .iter()
            .find_map(|(i, ds)| ds.iter().position(|d| d.uid.0 == job.uid).map(|k| (*i, k)));
        let Some((li, k)) = at else {
            let _ = job.reply.send(Err(format!(
                "no device {} was found by RDM on this controller",
                job.uid
            )));
            return;
        };
        let outcome = self
            .with_line(li, |req, line| req.set(line, job.uid, &job.write))
            .unwrap_or_else(|| Err(super::RdmClientError::Line("no RDM line".into())));
        let _ = job
            .reply
            .send(outcome.as_ref().cloned().map_err(|e| e.to_string()));
        // What changed shows at once: read the device again and judge its
        // line with it (an address set right clears its mismatch).
        if matches!(outcome, Ok(WriteOutcome::Done)) && !matches!(job.write, Write::Identify { .. })
        {
            if let Some(Ok(d)) = self.with_line(li, |req, line| req.read_device(line, job.uid)) {
                if let Some(list) = self.found.get_mut(&li) {
                    list[k] = d;
                }
                let devices = self.found.get(&li).cloned().unwrap_or_default();
                self.judge(li, Some(devices));
                self.raise();
            }
        }
        self.publish_requests();
    }

    fn publish_requests(&self) {
        lock(&self.view).requests = self.req.sent;
    }

    /// Run `f` with line `li` aimed and ready; `None` when its transport
    /// is unavailable (the Art-Net socket did not open).
    fn with_line<R>(
        &mut self,
        li: usize,
        f: impl FnOnce(&mut Requester, &mut dyn Line) -> R,
    ) -> Option<R> {
        let spec = &self.lines[li];
        match &spec.via {
            Via::ArtNet(target) => {
                let line = self.artnet.as_mut()?;
                line.aim(*target, spec.wire);
                Some(f(&mut self.req, line))
            }
            Via::Enttec(port) => {
                if let Some(p) = crate::output::serial::rdm_port(port) {
                    p.set_per_frame(self.per_frame);
                }
                let line = self
                    .widgets
                    .entry(port.clone())
                    .or_insert_with(|| EnttecLine::interleaved(port, spec.wire));
                Some(f(&mut self.req, line))
            }
        }
    }

    /// One discovery of every line: full on the first pass and every
    /// `full_every`-th, incremental otherwise.
    fn pass(&mut self) {
        let passes = lock(&self.view).passes;
        let sweep = if passes % self.full_every.max(1) == 0 {
            Sweep::Full
        } else {
            Sweep::Incremental
        };
        {
            let mut v = lock(&self.view);
            v.discovering = true;
            v.sweep = Some(sweep.into());
        }
        for li in 0..self.lines.len() {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            self.drain_jobs();
            let spec = self.lines[li].clone();
            let known: Vec<Device> = self.found.get(&li).cloned().unwrap_or_default();
            let known_uids: Vec<Uid> = known.iter().map(|d| d.uid.0).collect();
            let timeout = match spec.via {
                Via::ArtNet(_) => TOD_TIMEOUT,
                Via::Enttec(_) => WIDGET_DISCOVERY_TIMEOUT,
            };
            let table = match self.with_line(li, |_, line| line.table(timeout, sweep, &known_uids))
            {
                Some(Ok(t)) => t,
                Some(Err(e)) => {
                    tracing::debug!(line = %spec.output, "RDM: {e}");
                    Default::default()
                }
                None => Default::default(),
            };
            if !table.received || table.nak {
                let mut v = lock(&self.view);
                if let Some(l) = v.lines.get_mut(li) {
                    l.state = if table.nak {
                        LineState::NoRdm
                    } else {
                        LineState::Silent
                    };
                    l.last = Some(Utc::now());
                }
                continue;
            }
            let mut devices = Vec::with_capacity(table.uids.len());
            for uid in &table.uids {
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                self.drain_jobs();
                let before = known.iter().find(|d| d.uid.0 == *uid);
                let got = self.with_line(li, |req, line| match (sweep, before) {
                    (Sweep::Incremental, Some(k)) => req.read_changes(line, k),
                    _ => req.read_device(line, *uid),
                });
                match got {
                    Some(Ok(d)) => devices.push(d),
                    Some(Err(e)) => tracing::debug!(line = %spec.output, "RDM: {e}"),
                    None => {}
                }
                self.publish_requests();
            }
            self.judge(li, Some(devices));
            self.raise();
        }
        let mut v = lock(&self.view);
        v.discovering = false;
        v.passes += 1;
        if sweep == Sweep::Full {
            v.full_passes += 1;
        }
        v.last_pass = Some(Utc::now());
        v.requests = self.req.sent;
    }

    /// Verify line `li`'s devices against the patch, derive its faults,
    /// record them and publish the view.
    fn judge(&mut self, li: usize, devices: Option<Vec<Device>>) {
        let spec = self.lines[li].clone();
        let cfg = self.shared.config();
        let site = &cfg.site;
        let devices = devices.unwrap_or_default();
        let patch = verify(site, spec.universe, &devices);
        let now = Utc::now();
        let limits = &site.rdm.sensors;
        let mut faults = Vec::new();
        let fixture_at = |name: &Option<String>| {
            name.as_deref()
                .and_then(|n| site.fixture_by_name(n))
                .map(|i| i as usize)
        };
        let groups_of = |i: Option<usize>| -> Vec<String> {
            let Some(i) = i else { return Vec::new() };
            site.groups
                .iter()
                .filter(|(_, m)| m.contains(&(i as u32)))
                .map(|(g, _)| g.clone())
                .collect()
        };
        let mut fault = |kind: FaultKind,
                         fixture: &Option<String>,
                         uid: Option<String>,
                         address: Option<u16>,
                         suffix: &str,
                         detail: Reading,
                         fix: String| {
            let who = fixture.clone().or(uid.clone()).unwrap_or_default();
            let i = fixture_at(fixture);
            faults.push(Fault {
                key: format!("rdm:{}:{who}{suffix}", kind.as_str()),
                kind,
                fixture: fixture.clone(),
                uid,
                groups: groups_of(i),
                position: i.map(|i| site.fixtures[i].position),
                universe: spec.universe,
                address: address.or(i.map(|i| site.fixtures[i].address)),
                since: now,
                reading: detail.text(Lang::En),
                detail,
                fix,
            });
        };
        for p in &patch {
            match p.state {
                PatchState::Missing => fault(
                    FaultKind::FixtureMissing,
                    &p.fixture,
                    None,
                    p.address,
                    "",
                    Reading::NotInTable,
                    p.fix.clone(),
                ),
                PatchState::Mismatched => fault(
                    FaultKind::FixtureMismatch,
                    &p.fixture,
                    p.uid.clone(),
                    p.address,
                    "",
                    match p.address {
                        Some(address) => Reading::AnswersAt {
                            universe: spec.universe,
                            address,
                        },
                        None => Reading::NoAddress,
                    },
                    p.fix.clone(),
                ),
                _ => {}
            }
        }
        let mut views = Vec::with_capacity(devices.len());
        let mut record = Vec::with_capacity(devices.len());
        for d in &devices {
            let uid = d.uid.to_string();
            let entry = patch.iter().find(|p| p.uid.as_deref() == Some(&uid));
            let fixture = entry.and_then(|p| p.fixture.clone());
            let lamp_status: Vec<u16> = d
                .status
                .iter()
                .filter(|s| status_id::is_lamp_failure(s.message_id))
                .map(|s| s.message_id)
                .collect();
            let lamp_bad = d.lamp_state.is_some_and(|l| l.is_failure());
            if lamp_bad || !lamp_status.is_empty() {
                fault(
                    FaultKind::LampFailure,
                    &fixture,
                    Some(uid.clone()),
                    d.dmx_address,
                    "",
                    Reading::Lamp {
                        state: d.lamp_state.filter(|l| l.is_failure()),
                        status: lamp_status.clone(),
                    },
                    format!(
                        "send a crew to {}: relamp or replace its light source or driver",
                        fixture.as_deref().unwrap_or(&uid)
                    ),
                );
            }
            for s in &d.sensors {
                let Some(v) = s.value else { continue };
                let limit = limits
                    .iter()
                    .find(|l| l.applies(s.kind, &s.name) && l.exceeded(i32::from(v)));
                if !s.out_of_range() && limit.is_none() {
                    continue;
                }
                let (bound, min, max) = match limit {
                    Some(l) => (Bound::SiteLimit, l.min, l.max),
                    None => (
                        Bound::NormalRange,
                        Some(i32::from(s.normal[0])),
                        Some(i32::from(s.normal[1])),
                    ),
                };
                fault(
                    FaultKind::SensorOutOfRange,
                    &fixture,
                    Some(uid.clone()),
                    d.dmx_address,
                    &format!(":{}", s.number),
                    Reading::Sensor {
                        sensor: s.name.clone(),
                        value: v,
                        unit: s.unit.clone(),
                        bound,
                        min,
                        max,
                    },
                    format!(
                        "check {} ({}) on site: ventilation, supply, or the sensor itself",
                        fixture.as_deref().unwrap_or(&uid),
                        s.name
                    ),
                );
            }
            views.push(DeviceView {
                device: d.clone(),
                site_universe: spec.universe,
                output: spec.output.clone(),
                fixture: fixture.clone(),
                patch: entry.map_or(PatchState::Unmatched, |p| p.state),
                fix: entry.map(|p| p.fix.clone()).unwrap_or_default(),
                last_seen: now,
            });
            record.push((d.clone(), fixture));
        }
        if let Some(store) = &self.store {
            let line = format!("{} universe {}", spec.output, spec.wire);
            if let Err(e) = assets::record(store, now, &line, spec.universe, &record) {
                tracing::warn!("device care: the asset record was not written: {e}");
            }
        }
        self.found.insert(li, devices);
        self.line_faults.insert(li, faults);
        let mut v = lock(&self.view);
        v.devices
            .retain(|d| !(d.output == spec.output && d.site_universe == spec.universe));
        v.devices.extend(views);
        v.devices
            .sort_by_key(|d| (d.site_universe, d.device.dmx_address, d.device.uid));
        v.missing.retain(|p| p.universe != spec.universe);
        v.missing
            .extend(patch.into_iter().filter(|p| p.state == PatchState::Missing));
        if let Some(l) = v.lines.get_mut(li) {
            l.state = LineState::Answered;
            l.devices = self.found.get(&li).map_or(0, Vec::len);
            l.last = Some(now);
        }
    }

    /// Raise every line's faults as alarms and clear the ones that
    /// recovered; the view's faults carry each alarm's raised time.
    fn raise(&mut self) {
        let all: Vec<&Fault> = self.line_faults.values().flatten().collect();
        let mut keys = Vec::with_capacity(all.len());
        for f in &all {
            let message = match &f.fixture {
                Some(name) => format!(
                    "{} {name} ({}.{}): {}; {}",
                    f.kind.as_str(),
                    f.universe,
                    f.address.map_or("-".into(), |a| a.to_string()),
                    f.reading,
                    f.fix
                ),
                None => format!(
                    "{} {} ({}.{}): {}; {}",
                    f.kind.as_str(),
                    f.uid.as_deref().unwrap_or(""),
                    f.universe,
                    f.address.map_or("-".into(), |a| a.to_string()),
                    f.reading,
                    f.fix
                ),
            };
            self.alarms.set(&f.key, f.kind.into(), true, || message);
            keys.push(f.key.clone());
        }
        self.alarms.clear_others("rdm:", &keys);
        let raised: BTreeMap<String, DateTime<Utc>> = self
            .alarms
            .active()
            .into_iter()
            .filter(|a| a.key.starts_with("rdm:"))
            .map(|a| (a.key, a.raised))
            .collect();
        let mut faults: Vec<Fault> = all.into_iter().cloned().collect();
        for f in &mut faults {
            if let Some(t) = raised.get(&f.key) {
                f.since = *t;
            }
        }
        faults.sort_by_key(|f| (f.kind, f.universe, f.address));
        lock(&self.view).faults = faults;
    }
}

/// E1.20's name for a status message a crew sees.
fn status_name(id: u16, lang: Lang) -> &'static str {
    let zh = lang == Lang::Zh;
    match id {
        status_id::LAMP_DOUSED if zh => "灯熄灭",
        status_id::LAMP_DOUSED => "lamp doused",
        status_id::LAMP_STRIKE if zh => "灯点火失败",
        status_id::LAMP_STRIKE => "lamp failed to strike",
        status_id::DIM_FAILURE if zh => "调光器故障",
        status_id::DIM_FAILURE => "dimmer failure",
        status_id::OVERTEMP if zh => "温度过高",
        status_id::OVERTEMP => "over temperature",
        status_id::UNDERTEMP if zh => "温度过低",
        status_id::UNDERTEMP => "under temperature",
        status_id::SENS_OUT_RANGE if zh => "传感器超出范围",
        status_id::SENS_OUT_RANGE => "sensor out of range",
        _ if zh => "状态",
        _ => "status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_worded_in_english_and_chinese_from_their_data() {
        let hot = Reading::Sensor {
            sensor: "LED board".into(),
            value: 85,
            unit: "°C".into(),
            bound: Bound::SiteLimit,
            min: None,
            max: Some(70),
        };
        assert_eq!(
            hot.text(Lang::En),
            "LED board reads 85 °C, beyond the site's limit ..70"
        );
        assert_eq!(
            hot.text(Lang::Zh),
            "LED board 读数 85 °C，超出站点限值 ..70"
        );
        let lamp = Reading::Lamp {
            state: Some(Lamp::Error),
            status: vec![status_id::LAMP_STRIKE],
        };
        assert_eq!(
            lamp.text(Lang::En),
            "lamp state error, status message 0x0012 (lamp failed to strike)"
        );
        assert_eq!(
            lamp.text(Lang::Zh),
            "灯状态 故障，状态消息 0x0012（灯点火失败）"
        );
        let at = Reading::AnswersAt {
            universe: 1,
            address: 31,
        };
        assert_eq!(at.text(Lang::Zh), "在 1.31 应答");
        // The data travels as tagged JSON and comes back the same.
        let v = serde_json::to_value(&hot).unwrap();
        assert_eq!(v["kind"], "sensor");
        assert_eq!(v["bound"], "site_limit");
        assert!(v.get("min").is_none());
        assert_eq!(serde_json::from_value::<Reading>(v).unwrap(), hot);
        let v = serde_json::to_value(&lamp).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "lamp", "state": "error", "status": [18]})
        );
    }
}
