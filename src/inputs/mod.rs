//! The daemon's DMX and timecode inputs (`[[inputs]]` of kind `sacn`,
//! `artnet`, `ltc` (`ltc.rs`), `mtc` (`mtc.rs`)): the sockets and devices, and the frame hook
//! that lets a console take universes over and timecode position shows.
//!
//! Each DMX input is one UDP socket on its own thread (blocking receive
//! with a short timeout, so a flood costs that thread, never the frame
//! loop): sACN joins the multicast group of every universe it receives on
//! `interface` and takes unicast too; Art-Net takes ArtDmx, ArtTimeCode and
//! ArtTrigger. A packet from an address the input does not `allow`, or one
//! that does not decode, is dropped and counted. Accepted DMX goes into one
//! [`Takeover`] (the pure merge rules, `nightscape_core::takeover`) behind
//! a mutex the frame loop holds for a few microseconds per frame; its
//! [`InputHook`] merges the consoles into each frame after the look was
//! mapped (so curfew caps, masters and power budgets still apply, and an
//! emergency suppresses the console) and repositions the shows that follow
//! timecode ([`Chase`] per source).
//!
//! **Events for show control.** [`Inputs::events`] is a
//! `tokio::sync::broadcast` of [`InputEvent`]: every ArtTrigger received
//! and every timecode that arrived (with the previous code and whether it
//! jumped), for the triggers to subscribe to (`subscribe()`; a slow
//! subscriber lags and loses the oldest events, never blocks an input).
//! [`Inputs::feed_timecode`] takes a code from elsewhere (OSC's
//! `/nightscape/timecode`).
//!
//! **Art-Net's port.** The daemon's Art-Net service (`output/artpoll.rs`)
//! binds this machine's address on each Art-Net output's network at 6454;
//! the Art-Net input binds its `listen` (default `0.0.0.0:6454`), both with
//! SO_REUSEADDR. Broadcast ArtDmx reaches both; unicast to an address the
//! service holds goes to the service (Linux hands unicast to the most
//! specific socket), which hands it here
//! (`artpoll::hand_art_packets_to`): one socket, two consumers, so a
//! console may unicast to the controller.
//!
//! **Reload.** [`Inputs::start_following`] follows the configuration in
//! force: an `[[inputs]]` table added, removed or changed opens, closes or
//! rebinds that input (OSC and UDP through the opener show control
//! registers, [`serve_packet_inputs`]); unchanged ones keep their sockets.
//! A device input (LTC, MTC) blocked in a read ends at its next byte.

mod ltc;
mod mtc;

use crate::daemon::{FrameHook, Shared};
use chrono::{DateTime, Utc};
use nightscape_core::config::Config;
use nightscape_core::engine::{ActiveShow, Frame, Limits};
use nightscape_core::site::inputs::{DmxInput, Input, InputKind};
use nightscape_core::takeover::{self, Packet, Receipt, SourceId, Takeover, UniverseStatus};
use nightscape_core::timecode::{Chase, OnLoss, Position, Timecode, TimecodeSource};
use nightscape_core::wire::{artcontrol, artnet as artnet_wire, sacn as sacn_wire};
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What an input saw that others may act on.
#[derive(Debug, Clone)]
pub enum InputEvent {
    /// An ArtTrigger on an Art-Net input.
    ArtTrigger {
        input: String,
        from: SocketAddr,
        oem: u16,
        key: u8,
        sub_key: u8,
        /// Its payload (at most 512 bytes).
        data: Vec<u8>,
    },
    /// A timecode arrived.
    Timecode {
        source: TimecodeSource,
        timecode: Timecode,
        /// The code before it (None: the code was not running).
        previous: Option<Timecode>,
        /// It was not where the running code would have been (a chase).
        jumped: bool,
    },
}

/// Counters of one input, for the console's Health tab.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InputCounters {
    pub packets: u64,
    pub accepted: u64,
    /// Dropped: not decodable (truncated, oversized, not the protocol).
    pub malformed: u64,
    /// Dropped: from an address `allow` does not list.
    pub not_allowed: u64,
    /// Dropped by the merge rules (min_priority, out of sequence, a
    /// universe not received, too many sources).
    pub refused: u64,
    pub last_sender: Option<SocketAddr>,
    /// Seconds since the service started when the last packet came.
    #[serde(skip)]
    pub last_at: Option<f64>,
}

/// Whether an input is doing its work, as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputState {
    /// Open, and packets have come.
    Listening,
    /// Could not be opened (the view's `error` says why).
    Down,
    /// Open, nothing received yet.
    Idle,
}

/// One input as the console shows it.
#[derive(Debug, Clone, Serialize)]
pub struct InputView {
    pub name: String,
    pub kind: &'static str,
    /// Where it listens, or the device it reads.
    pub at: String,
    /// Listening, down (with why) or idle (nothing received yet).
    pub state: InputState,
    pub error: Option<String>,
    #[serde(flatten)]
    pub counters: InputCounters,
    /// Seconds since its last packet.
    pub last_seen_s: Option<f64>,
}

/// A timecode source as the console shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TimecodeView {
    pub source: TimecodeSource,
    pub last: Option<String>,
    pub rate: Option<&'static str>,
    /// Where a show following it (with a 2 s freewheel, holding) is.
    pub position: Position,
    pub codes: u64,
    pub jumps: u64,
}

/// Everything `/api/inputs` shows.
#[derive(Debug, Clone, Serialize)]
pub struct InputsView {
    pub inputs: Vec<InputView>,
    pub universes: Vec<UniverseStatus>,
    pub timecode: Vec<TimecodeView>,
}

struct State {
    takeover: Takeover,
    /// The configuration generation `takeover` was built for.
    generation: u64,
    chases: HashMap<TimecodeSource, Chase>,
    /// By the input's place in the site's list (as `running`).
    counters: Vec<InputCounters>,
    errors: Vec<Option<String>>,
}

/// An OSC or UDP server opened for an input by show control
/// (`crate::triggers`, which owns what those packets do): dropping it
/// closes the socket.
pub type PacketServer = Box<dyn Send>;

/// Opens an OSC or UDP input's server (registered by show control with
/// [`serve_packet_inputs`]).
pub type PacketOpener = Arc<dyn Fn(&Input) -> std::io::Result<PacketServer> + Send + Sync>;

static PACKET_OPENER: OnceLock<PacketOpener> = OnceLock::new();

/// Show control hands over how OSC and UDP inputs are served; the inputs
/// open, close and rebind them as the site's `[[inputs]]` change. Set once
/// per process, before [`Inputs::start`].
pub fn serve_packet_inputs(open: PacketOpener) {
    let _ = PACKET_OPENER.set(open);
}

/// One input while it runs. Its thread (or server) reads `index` for its
/// place in the site's list, which a reload may move, and ends when
/// `stop` is set (the input was removed or changed) or the inputs stop.
pub(crate) struct Running {
    input: Input,
    index: std::sync::atomic::AtomicUsize,
    stop: AtomicBool,
    /// Opening it failed: the next reload tries again.
    failed: AtomicBool,
    /// An OSC or UDP input's server (dropped to close it).
    server: Mutex<Option<PacketServer>>,
}

impl Running {
    fn index(&self) -> usize {
        self.index.load(Ordering::Relaxed)
    }

    fn stopped(&self, inputs: &Inputs) -> bool {
        self.stop.load(Ordering::Relaxed) || inputs.stop.load(Ordering::Relaxed)
    }

    /// Whether `input` is this one unchanged (its place in the file aside).
    fn same(&self, input: &Input) -> bool {
        self.input.name == input.name
            && self.input.kind == input.kind
            && self.input.allow == input.allow
    }
}

/// The running inputs.
pub struct Inputs {
    epoch: Instant,
    state: Mutex<State>,
    /// The site's inputs in its order, each with what serves it.
    running: Mutex<Vec<Arc<Running>>>,
    events: tokio::sync::broadcast::Sender<InputEvent>,
    stop: AtomicBool,
}

static RUNNING: OnceLock<Arc<Inputs>> = OnceLock::new();

/// The inputs of this process's daemon, once started (the API reads them).
pub fn running() -> Option<Arc<Inputs>> {
    RUNNING.get().cloned()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How often the inputs look for a reloaded configuration.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// How long a changed OSC or UDP input waits for its old socket to close
/// before its port counts as taken.
const REBIND_FOR: Duration = Duration::from_secs(2);

impl Inputs {
    /// Open the site's inputs and start their threads. A socket that
    /// cannot be opened is logged and shown `down`; the rest run. The
    /// inputs do not follow reloads (see [`Inputs::start_following`]).
    pub fn start(config: &Config) -> Arc<Inputs> {
        let (events, _) = tokio::sync::broadcast::channel(256);
        let inputs = Arc::new(Inputs {
            epoch: Instant::now(),
            state: Mutex::new(State {
                takeover: Takeover::new(&config.site),
                generation: config.generation,
                chases: HashMap::new(),
                counters: Vec::new(),
                errors: Vec::new(),
            }),
            running: Mutex::new(Vec::new()),
            events,
            stop: AtomicBool::new(false),
        });
        inputs.apply(config);
        let _ = RUNNING.set(inputs.clone());
        inputs
    }

    /// [`Inputs::start`], then follow the configuration in force: each
    /// reload that adds, removes or changes an `[[inputs]]` table opens,
    /// closes or rebinds that input (the others keep their sockets). The
    /// first opening is done on the following thread too (OSC and UDP
    /// servers are opened there, off the async runtime), and waited for.
    pub fn start_following(shared: &Shared) -> Arc<Inputs> {
        let config = shared.config();
        let (events, _) = tokio::sync::broadcast::channel(256);
        let inputs = Arc::new(Inputs {
            epoch: Instant::now(),
            state: Mutex::new(State {
                takeover: Takeover::new(&config.site),
                generation: config.generation,
                chases: HashMap::new(),
                counters: Vec::new(),
                errors: Vec::new(),
            }),
            running: Mutex::new(Vec::new()),
            events,
            stop: AtomicBool::new(false),
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let me = inputs.clone();
        let follow = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("inputs-follow".into())
            .spawn(move || {
                let mut applied = config.generation;
                me.apply(&config);
                drop(config);
                let _ = ready_tx.send(());
                while !me.stop.load(Ordering::Relaxed) && !follow.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(FOLLOW_EVERY);
                    let cfg = follow.config();
                    if cfg.generation != applied {
                        applied = cfg.generation;
                        me.apply(&cfg);
                    }
                }
                me.close_all();
            });
        // Unicast for the Art-Net port that the Art-Net service's socket
        // took (it is bound to this machine's address, more specific than
        // an input's 0.0.0.0) comes here through the service.
        let weak = Arc::downgrade(&inputs);
        crate::output::artpoll::hand_art_packets_to(Some(Arc::new(
            move |at: SocketAddr, from: SocketAddr, bytes: &[u8]| {
                if let Some(me) = weak.upgrade() {
                    me.take_from_artnet_service(at, from, bytes);
                }
            },
        )));
        match spawned {
            Ok(_) => {
                let _ = ready_rx.recv_timeout(Duration::from_secs(10));
            }
            Err(e) => {
                tracing::warn!("cannot start the inputs' thread ({e}): inputs open once, now");
                inputs.apply(&shared.config());
            }
        }
        let _ = RUNNING.set(inputs.clone());
        inputs
    }

    /// Make the running inputs those of `config`: an input whose table is
    /// unchanged keeps its socket (and counters), one removed or changed is
    /// stopped, one added or changed (or that failed to open before) is
    /// opened. A port that cannot be had shows the input `down` with why;
    /// the others run.
    fn apply(self: &Arc<Self>, config: &Config) {
        let wanted = &config.site.inputs;
        let mut running = lock(&self.running);
        let old = std::mem::take(&mut *running);
        let old_counters = std::mem::take(&mut lock(&self.state).counters);
        let mut kept: Vec<Option<(Arc<Running>, InputCounters)>> = vec![None; wanted.len()];
        let mut stopped = Vec::new();
        for (i, r) in old.into_iter().enumerate() {
            let place = wanted.iter().position(|w| r.same(w));
            match place {
                Some(p) if !r.failed.load(Ordering::Relaxed) && kept[p].is_none() => {
                    let c = old_counters.get(i).cloned().unwrap_or_default();
                    kept[p] = Some((r, c));
                }
                _ => stopped.push(r),
            }
        }
        // Close first: a changed input may bind the port it had.
        for r in &stopped {
            r.stop.store(true, Ordering::Relaxed);
            lock(&r.server).take();
            if wanted.iter().all(|w| w.name != r.input.name) {
                tracing::info!(input = %r.input.name, at = %where_of(&r.input), "input closed (removed from the site)");
            }
        }
        let mut counters = Vec::with_capacity(wanted.len());
        let errors = vec![None; wanted.len()];
        let mut opened = Vec::new();
        for (n, input) in wanted.iter().enumerate() {
            match kept[n].take() {
                Some((r, c)) => {
                    r.index.store(n, Ordering::Relaxed);
                    counters.push(c);
                    running.push(r);
                }
                None => {
                    let r = Arc::new(Running {
                        input: input.clone(),
                        index: std::sync::atomic::AtomicUsize::new(n),
                        stop: AtomicBool::new(false),
                        failed: AtomicBool::new(false),
                        server: Mutex::new(None),
                    });
                    counters.push(InputCounters::default());
                    running.push(r.clone());
                    opened.push(r);
                }
            }
        }
        {
            // Indices moved: the merge rules are rebuilt for the new list
            // at once, with the counters in their new places.
            let mut st = lock(&self.state);
            st.counters = counters;
            st.errors = errors;
            if st.generation != config.generation {
                st.takeover = Takeover::new(&config.site);
                st.generation = config.generation;
            }
        }
        drop(running);
        for r in opened {
            let n = r.index();
            match self.open(&r) {
                Ok(()) => {
                    tracing::info!(input = %r.input.name, kind = r.input.kind_name().as_str(), at = %where_of(&r.input), "input listening")
                }
                Err(e) => {
                    tracing::warn!(input = %r.input.name, at = %where_of(&r.input), "input unavailable: {e}");
                    r.failed.store(true, Ordering::Relaxed);
                    if let Some(slot) = lock(&self.state).errors.get_mut(n) {
                        *slot = Some(e.to_string());
                    }
                }
            }
        }
    }

    /// Open one input: its socket and thread, or its packet server.
    fn open(self: &Arc<Self>, r: &Arc<Running>) -> std::io::Result<()> {
        match &r.input.kind {
            InputKind::Sacn(d) => open_sacn(d).map(|s| {
                let (me, r2) = (self.clone(), r.clone());
                spawn(&r.input.name, move || me.run_dmx(&r2, s, Proto::Sacn))
            }),
            InputKind::Artnet(d) => bind_shared(d.listen).map(|s| {
                let (me, r2) = (self.clone(), r.clone());
                spawn(&r.input.name, move || me.run_dmx(&r2, s, Proto::Artnet))
            }),
            InputKind::Ltc(d) => {
                let (me, r2, dev) = (self.clone(), r.clone(), d.clone());
                spawn(&r.input.name, move || ltc::run(&me, &r2, &dev));
                Ok(())
            }
            InputKind::Mtc(d) => {
                let (me, r2, dev) = (self.clone(), r.clone(), d.clone());
                spawn(&r.input.name, move || mtc::run(&me, &r2, &dev));
                Ok(())
            }
            InputKind::Osc(_) | InputKind::Udp(_) => {
                let Some(open) = PACKET_OPENER.get() else {
                    // Show control is not running (no operator store): it
                    // says so itself.
                    return Err(std::io::Error::other(
                        "show control is not running (the operator state store is unavailable)",
                    ));
                };
                // A changed input's old socket closes once its queued
                // messages are done: wait for its port that long.
                let t0 = Instant::now();
                let server = loop {
                    match open(&r.input) {
                        Err(e)
                            if e.kind() == std::io::ErrorKind::AddrInUse
                                && t0.elapsed() < REBIND_FOR =>
                        {
                            std::thread::sleep(Duration::from_millis(50))
                        }
                        other => break other?,
                    }
                };
                *lock(&r.server) = Some(server);
                Ok(())
            }
        }
    }

    /// Close every input (the daemon stops).
    fn close_all(&self) {
        for r in lock(&self.running).iter() {
            r.stop.store(true, Ordering::Relaxed);
            lock(&r.server).take();
        }
    }

    /// Subscribe to ArtTriggers and timecode.
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<InputEvent> {
        self.events.subscribe()
    }

    /// Stop the input threads (they notice within 200 ms) and close the
    /// packet servers.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.close_all();
    }

    /// Seconds since the inputs started (the time base of every input).
    pub fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    /// A timecode from `source` arrived now.
    pub fn feed_timecode(&self, source: TimecodeSource, tc: Timecode) {
        let now = self.now();
        let (previous, jumped) = {
            let mut st = lock(&self.state);
            let chase = st
                .chases
                .entry(source)
                .or_insert_with(|| Chase::new(2.0, OnLoss::Hold));
            let previous = match chase.position(now) {
                Position::Locked(_) | Position::Freewheel(_) => chase.last_code(),
                _ => None,
            };
            (previous, chase.receive(tc, now))
        };
        let _ = self.events.send(InputEvent::Timecode {
            source,
            timecode: tc,
            previous,
            jumped,
        });
    }

    /// The frame hook that merges consoles and positions timecode shows.
    pub fn hook(self: &Arc<Self>) -> InputHook {
        InputHook {
            inputs: self.clone(),
        }
    }

    /// What the console's Health tab shows.
    pub fn view(&self) -> InputsView {
        let now = self.now();
        let running = lock(&self.running);
        let st = lock(&self.state);
        let inputs = running
            .iter()
            .map(|r| &r.input)
            .enumerate()
            .map(|(n, i)| {
                let c = st.counters.get(n).cloned().unwrap_or_default();
                let error = st.errors.get(n).cloned().flatten();
                InputView {
                    name: i.name.clone(),
                    kind: i.kind_name().as_str(),
                    at: where_of(i),
                    state: if error.is_some() {
                        InputState::Down
                    } else if c.packets == 0 {
                        InputState::Idle
                    } else {
                        InputState::Listening
                    },
                    error,
                    last_seen_s: c.last_at.map(|t| (now - t).max(0.0)),
                    counters: c,
                }
            })
            .collect();
        let mut timecode: Vec<TimecodeView> = st
            .chases
            .iter()
            .map(|(s, c)| TimecodeView {
                source: *s,
                last: c.last_code().map(|t| t.to_string()),
                rate: c.last_code().map(|t| t.rate.label()),
                position: c.position(now),
                codes: c.codes,
                jumps: c.jumps,
            })
            .collect();
        timecode.sort_by_key(|t| t.source.as_str());
        InputsView {
            inputs,
            universes: st.takeover.status(now),
            timecode,
        }
    }

    fn count(&self, r: &Running, from: SocketAddr, f: impl FnOnce(&mut InputCounters)) {
        let now = self.now();
        let mut st = lock(&self.state);
        if let Some(c) = st.counters.get_mut(r.index()) {
            c.packets += 1;
            c.last_sender = Some(from);
            c.last_at = Some(now);
            f(c);
        }
    }

    fn run_dmx(&self, r: &Running, socket: UdpSocket, proto: Proto) {
        let input = &r.input;
        let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
        // One byte more than the largest packet taken: a longer datagram
        // shows as oversized instead of being silently cut.
        let mut buf = vec![0u8; 1500];
        while !r.stopped(self) {
            let (len, from) = match socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    tracing::debug!(input = %input.name, "receive failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            if !input.allows(from.ip()) {
                self.count(r, from, |c| c.not_allowed += 1);
                continue;
            }
            let bytes = &buf[..len];
            match proto {
                Proto::Sacn => self.take_sacn(r, from, bytes),
                Proto::Artnet => self.take_artnet(r, from, bytes),
            }
        }
    }

    /// A packet the Art-Net service received at `at` (its socket on this
    /// machine's address): the Art-Net input listening on that port (on
    /// that address or all of them) takes it as if its own socket had.
    fn take_from_artnet_service(&self, at: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        let r = lock(&self.running)
            .iter()
            .find_map(|r| match &r.input.kind {
                InputKind::Artnet(d)
                    if d.listen.port() == at.port()
                        && (d.listen.ip().is_unspecified() || d.listen.ip() == at.ip())
                        && !r.failed.load(Ordering::Relaxed)
                        && !r.stopped(self) =>
                {
                    Some(r.clone())
                }
                _ => None,
            });
        let Some(r) = r else {
            return;
        };
        if bytes.len() > 1500 {
            self.count(&r, from, |c| c.malformed += 1);
        } else if !r.input.allows(from.ip()) {
            self.count(&r, from, |c| c.not_allowed += 1);
        } else {
            self.take_artnet(&r, from, bytes);
        }
    }

    fn take_sacn(&self, r: &Running, from: SocketAddr, bytes: &[u8]) {
        let now = self.now();
        match sacn_wire::decode(bytes) {
            Ok(sacn_wire::Decoded::Data {
                cid,
                source_name,
                priority,
                sequence,
                options,
                universe,
                start_code,
                slots,
                ..
            }) => {
                // Only dimmer data (start code 0), never preview data.
                if start_code != 0 || options & sacn_wire::OPT_PREVIEW != 0 || priority > 200 {
                    self.count(r, from, |c| c.refused += 1);
                    return;
                }
                let p = Packet {
                    source: SourceId::Cid(cid),
                    name: &source_name,
                    priority,
                    sequence: Some(sequence),
                    terminated: options & sacn_wire::OPT_STREAM_TERMINATED != 0,
                    data: &slots,
                };
                self.take_dmx(r, from, universe, &p, now);
            }
            // Sync packets carry no levels: frames are merged as they come.
            Ok(sacn_wire::Decoded::Sync { .. }) | Err(sacn_wire::WireError::UniverseDiscovery) => {
                self.count(r, from, |c| c.accepted += 1)
            }
            Err(_) => self.count(r, from, |c| c.malformed += 1),
        }
    }

    fn take_artnet(&self, r: &Running, from: SocketAddr, bytes: &[u8]) {
        let now = self.now();
        match artcontrol::opcode(bytes) {
            Some(artnet_wire::OP_DMX) => match artnet_wire::parse_artdmx(bytes) {
                Ok((sequence, _, port_address, data))
                    if bytes.len() <= artnet_wire::ARTDMX_HEADER_LEN + 512 =>
                {
                    let ip = match from.ip() {
                        IpAddr::V4(v4) => v4.octets(),
                        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or([0; 4], |v| v.octets()),
                    };
                    let p = Packet {
                        source: SourceId::Addr(ip, from.port()),
                        name: "",
                        priority: takeover::ARTNET_PRIORITY,
                        // 0 turns Art-Net's sequence check off.
                        sequence: None,
                        terminated: false,
                        data,
                    };
                    let _ = sequence;
                    self.take_dmx(r, from, port_address, &p, now);
                }
                _ => self.count(r, from, |c| c.malformed += 1),
            },
            Some(artcontrol::OP_TIMECODE) => match artcontrol::decode_timecode(bytes) {
                // Stream 0 is the master; other streams are not followed.
                Ok(t) if t.stream == 0 => {
                    self.count(r, from, |c| c.accepted += 1);
                    self.feed_timecode(TimecodeSource::Artnet, timecode_of(&t));
                }
                Ok(_) => self.count(r, from, |c| c.refused += 1),
                Err(_) => self.count(r, from, |c| c.malformed += 1),
            },
            Some(artcontrol::OP_TRIGGER) => match artcontrol::decode_trigger(bytes) {
                Ok(t) => {
                    self.count(r, from, |c| c.accepted += 1);
                    let _ = self.events.send(InputEvent::ArtTrigger {
                        input: r.input.name.clone(),
                        from,
                        oem: t.oem,
                        key: t.key,
                        sub_key: t.sub_key,
                        data: t.data.to_vec(),
                    });
                }
                Err(_) => self.count(r, from, |c| c.malformed += 1),
            },
            // ArtPoll and the rest are the Art-Net service's business.
            Some(_) => self.count(r, from, |c| c.refused += 1),
            None => self.count(r, from, |c| c.malformed += 1),
        }
    }

    fn take_dmx(&self, r: &Running, from: SocketAddr, universe: u16, p: &Packet, now: f64) {
        let n = r.index();
        let mut st = lock(&self.state);
        let r = st.takeover.receive(n, universe, p, now);
        if let Some(c) = st.counters.get_mut(n) {
            c.packets += 1;
            c.last_sender = Some(from);
            c.last_at = Some(now);
            match r {
                Receipt::Accepted | Receipt::Terminated => c.accepted += 1,
                _ => c.refused += 1,
            }
        }
    }
}

fn timecode_of(t: &artcontrol::ArtTimeCode) -> Timecode {
    use artcontrol::TimecodeType as T;
    use nightscape_core::timecode::FrameRate as R;
    Timecode {
        hours: t.hours,
        minutes: t.minutes,
        seconds: t.seconds,
        frames: t.frames,
        rate: match t.kind {
            T::Film24 => R::Fps24,
            T::Ebu25 => R::Fps25,
            T::Df2997 => R::Df2997,
            T::Smpte30 => R::Fps30,
        },
    }
}

#[derive(Clone, Copy)]
enum Proto {
    Sacn,
    Artnet,
}

fn where_of(i: &Input) -> String {
    match &i.kind {
        InputKind::Sacn(d) | InputKind::Artnet(d) => d.listen.to_string(),
        InputKind::Osc(p) | InputKind::Udp(p) => p.listen.to_string(),
        InputKind::Ltc(d) | InputKind::Mtc(d) => d.device.clone(),
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new()
        .name(format!("input-{name}"))
        .spawn(f)
    {
        tracing::warn!(input = %name, "cannot start the input's thread: {e}");
    }
}

/// A UDP socket on `addr` that other receivers on this machine may share.
fn bind_shared(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    // Bursts from a console at 44 fps × many universes: room for a few frames.
    let _ = socket.set_recv_buffer_size(1 << 20);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The sACN socket: `listen`, and every universe's multicast group joined
/// on `interface` (a name or this machine's address there).
fn open_sacn(d: &DmxInput) -> std::io::Result<UdpSocket> {
    let socket = bind_shared(d.listen)?;
    let iface = match &d.interface {
        None => socket2::InterfaceIndexOrAddress::Address(Ipv4Addr::UNSPECIFIED),
        Some(i) => match i.parse::<Ipv4Addr>() {
            Ok(a) => socket2::InterfaceIndexOrAddress::Address(a),
            Err(_) => {
                let idx = std::fs::read_to_string(format!("/sys/class/net/{i}/ifindex"))
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .ok_or_else(|| {
                        std::io::Error::other(format!("no network interface named `{i}`"))
                    })?;
                socket2::InterfaceIndexOrAddress::Index(idx)
            }
        },
    };
    let raw = Socket::from(socket);
    for &u in &d.universes {
        if let Err(e) = raw.join_multicast_v4_n(&sacn_wire::multicast_addr(u), &iface) {
            tracing::warn!(universe = u, "sACN input: cannot join the universe's multicast group ({e}); unicast still arrives");
        }
    }
    Ok(raw.into())
}

/// The frame loop's side of the inputs.
pub struct InputHook {
    inputs: Arc<Inputs>,
}

impl InputHook {
    /// The inputs' clock at the instant `at` the frame stands for: frames
    /// are rendered ahead of their deadline, and a show on timecode must be
    /// where the code will be when the frame goes out.
    fn now_for(&self, at: DateTime<Utc>) -> f64 {
        let lead = (at - Utc::now())
            .to_std()
            .map_or(0.0, |d| d.as_secs_f64().min(0.1));
        self.inputs.now() + lead
    }
}

impl FrameHook for InputHook {
    fn position<'a>(
        &mut self,
        config: &'a Config,
        at: DateTime<Utc>,
        active: &mut Vec<ActiveShow<'a>>,
    ) {
        if !active.iter().any(|a| a.show.timecode.is_some()) {
            return;
        }
        let now = self.now_for(at);
        let st = lock(&self.inputs.state);
        let _ = config;
        active.retain_mut(|a| {
            let Some(tc) = a.show.timecode else {
                return true;
            };
            let pos = match st.chases.get(&tc.source) {
                Some(c) => c.position_with(now, tc.freewheel, tc.on_loss),
                None => Position::Waiting,
            };
            let seconds = match pos {
                // Before any code: the show waits at its start, or as lost.
                Position::Waiting => match tc.on_loss {
                    OnLoss::Hold => Some(0.0),
                    OnLoss::Stop => None,
                    OnLoss::Continue => return true,
                },
                p => p.seconds(),
            };
            match seconds {
                Some(s) => {
                    a.started = at - chrono::Duration::microseconds((s * 1e6) as i64);
                    // Positioned, not started: no fade-in at every jump.
                    a.continued = s > 0.0;
                    true
                }
                None => false,
            }
        });
    }

    fn merge(
        &mut self,
        config: &Config,
        at: DateTime<Utc>,
        active: &[ActiveShow],
        frame: &mut Frame,
        limits: &Limits,
    ) {
        let now = self.now_for(at);
        let mut st = lock(&self.inputs.state);
        if st.generation < config.generation {
            // A reload: the merge rules and the patch may have changed.
            // (The inputs' own thread does the same when it reopens them,
            // with their new places; whichever comes first.)
            st.takeover = Takeover::new(&config.site);
            st.generation = config.generation;
        }
        if st.takeover.is_empty() {
            return;
        }
        let emergency = active
            .iter()
            .any(|a| a.priority >= nightscape_core::control::EMERGENCY);
        st.takeover.apply(frame, limits, emergency, now);
    }

    fn before_send(&mut self, _config: &Config, frame: &mut Frame) {
        let now = self.inputs.now();
        let mut st = lock(&self.inputs.state);
        if !st.takeover.is_empty() {
            st.takeover.apply_late(frame, now);
        }
    }

    fn stop(&mut self) {
        self.inputs.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What show control subscribes to: an ArtTrigger and an ArtTimeCode
    /// sent to a real Art-Net input arrive as events; a truncated trigger
    /// and a timecode out of range do not, and are counted.
    #[test]
    fn art_triggers_and_timecode_reach_subscribers() {
        let dir = tempfile::tempdir().unwrap();
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::create_dir_all(dir.path().join("fixtures")).unwrap();
        std::fs::create_dir_all(dir.path().join("shows")).unwrap();
        std::fs::write(
            dir.path().join("fixtures/rgb.toml"),
            "name = \"RGB\"\npower_w = 10\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("shows/steady.toml"),
            "[[layers]]\ntarget = \"*\"\neffect = \"solid\"\ncolor = \"#404040\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("shows/site.toml"),
            format!(
                "name = \"t\"\nlatitude = 0\nlongitude = 0\ntimezone = \"UTC\"\n\
                 [[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1:9\"\nuniverses = 0\n\
                 [[fixtures]]\nname = \"a\"\nprofile = \"rgb\"\nmode = \"3ch\"\nat = [0, 0]\naddress = \"0.1\"\n\
                 [[inputs]]\nkind = \"artnet\"\nlisten = \"127.0.0.1:{port}\"\nuniverses = 1\nto = 0\n"
            ),
        )
        .unwrap();
        let config = crate::config::load(&dir.path().join("shows")).expect("the site loads");
        let inputs = Inputs::start(&config);
        let mut rx = inputs.events();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = format!("127.0.0.1:{port}");
        let mut trig = [0u8; artcontrol::TRIGGER_LEN];
        let n = artcontrol::encode_trigger(
            &artcontrol::ArtTrigger {
                oem: 0xffff,
                key: 3,
                sub_key: 9,
                data: b"go",
            },
            &mut trig,
        );
        tx.send_to(&trig[..10], &to).unwrap();
        tx.send_to(&trig[..n], &to).unwrap();
        let mut tc = [0u8; artcontrol::TIMECODE_LEN];
        let code = artcontrol::ArtTimeCode {
            stream: 0,
            hours: 0,
            minutes: 1,
            seconds: 2,
            frames: 3,
            kind: artcontrol::TimecodeType::Ebu25,
        };
        artcontrol::encode_timecode(&artcontrol::ArtTimeCode { frames: 30, ..code }, &mut tc);
        tx.send_to(&tc, &to).unwrap();
        artcontrol::encode_timecode(&code, &mut tc);
        tx.send_to(&tc, &to).unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut got = Vec::new();
        while got.len() < 2 && Instant::now() < deadline {
            match rx.try_recv() {
                Ok(e) => got.push(e),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        assert!(
            matches!(&got[0], InputEvent::ArtTrigger { key: 3, sub_key: 9, data, oem: 0xffff, .. } if data == b"go"),
            "{got:?}"
        );
        assert!(
            matches!(&got[1], InputEvent::Timecode { source: TimecodeSource::Artnet, timecode, previous: None, jumped: false }
                if timecode.to_string() == "00:01:02:03"),
            "{got:?}"
        );
        let v = inputs.view();
        assert_eq!(
            (
                v.inputs[0].counters.accepted,
                v.inputs[0].counters.malformed
            ),
            (2, 2)
        );
        assert_eq!(v.timecode[0].last.as_deref(), Some("00:01:02:03"));
        inputs.stop();
    }
}
