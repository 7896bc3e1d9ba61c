//! Outputs: where DMX frames leave the process.
//!
//! Each output owns its wire protocol and its socket or port, and reports
//! its health. The frame loop hands every output the whole [`Frame`]; an
//! output sends the universes it was configured for, under their wire
//! numbers (a `remap` or `wire_offset` in the site file). Network outputs
//! (Art-Net, sACN) write non-blocking UDP on the frame loop's thread, so a
//! dead node costs a counted error, never a late frame. Serial widgets
//! (ENTTEC DMX USB Pro, Open DMX) block on every write, so each runs on its
//! own thread behind a one-frame mailbox ([`serial`]). Wire formats live in
//! `*_wire` modules that encode into caller buffers and never do I/O, so
//! they are tested byte for byte; the senders here are thin. Node discovery
//! (ArtPoll) is in [`discovery`], apart from the outputs: it may fail for
//! want of port 6454 without touching them.

pub mod artnet;
pub mod artpoll;
pub mod discovery;
pub mod enttec;
pub mod priority;
pub mod sacn;
pub mod serial;
pub mod threaded;
// The pure codecs live in nightscape-core's `wire` (used by that name).

mod resolve;
mod udp;

use nightscape_core::engine::Frame;
use nightscape_core::site::{OutputKind, Site};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::Path;

/// How an output is doing; serialised as `"ok"`, `"degraded"`, `"down"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Everything sent in the last second got out.
    #[default]
    Ok,
    /// Some sends failed in the last second, or a widget did not identify itself.
    Degraded,
    /// Nothing got through in the last second, or the port is closed.
    Down,
}

pub(crate) const OK: HealthState = HealthState::Ok;
pub(crate) const DEGRADED: HealthState = HealthState::Degraded;
pub(crate) const DOWN: HealthState = HealthState::Down;

impl HealthState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            HealthState::Ok => "ok",
            HealthState::Degraded => "degraded",
            HealthState::Down => "down",
        }
    }
}

impl std::fmt::Display for HealthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fleet's report of an output's health carries the same names.
impl From<HealthState> for nightscape_core::control::fleet::OutputState {
    fn from(h: HealthState) -> Self {
        use nightscape_core::control::fleet::OutputState;
        match h {
            HealthState::Ok => OutputState::Ok,
            HealthState::Degraded => OutputState::Degraded,
            HealthState::Down => OutputState::Down,
        }
    }
}

/// Which protocol or widget an output speaks; serialised as in the site
/// file's `kind` (`"artnet"`, `"sacn"`, `"enttec-pro"`, `"open-dmx"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    #[default]
    Artnet,
    Sacn,
    EnttecPro,
    OpenDmx,
}

impl Protocol {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::Artnet => "artnet",
            Protocol::Sacn => "sacn",
            Protocol::EnttecPro => "enttec-pro",
            Protocol::OpenDmx => "open-dmx",
        }
    }
}

/// The fleet's report of an output names its protocol the same way.
impl From<Protocol> for nightscape_core::control::fleet::OutputKind {
    fn from(p: Protocol) -> Self {
        use nightscape_core::control::fleet::OutputKind;
        match p {
            Protocol::Artnet => OutputKind::Artnet,
            Protocol::Sacn => OutputKind::Sacn,
            Protocol::EnttecPro => OutputKind::EnttecPro,
            Protocol::OpenDmx => OutputKind::OpenDmx,
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a device said about itself (ENTTEC DMX USB Pro: labels 3 and 10)
/// or, for Open DMX, the line timing we measured.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DeviceInfo {
    /// Widget serial number, 8 decimal digits.
    pub serial: Option<String>,
    /// Widget firmware as "major.minor".
    pub firmware: Option<String>,
    /// DMX break length in microseconds: the widget's setting (Pro) or the
    /// last one we timed between the break ioctls (Open DMX).
    pub break_us: Option<f32>,
    /// Mark-after-break in microseconds, like `break_us`.
    pub mab_us: Option<f32>,
    /// The Pro's output rate setting in frames per second (0 = as fast as it can).
    pub rate_fps: Option<u8>,
}

/// How an output is doing, as the status page shows it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OutputHealth {
    pub kind: Protocol,
    /// Where it sends: an address, "multicast", or a serial port path.
    pub target: String,
    /// Site universes it carries.
    pub universes: Vec<u16>,
    pub state: HealthState,
    /// Frames written (serial: including refreshes of an unchanged frame).
    pub frames_sent: u64,
    pub packets_sent: u64,
    pub send_errors: u64,
    pub last_error: Option<String>,
    /// Times a serial port came back after being lost.
    pub reconnects: u64,
    /// Set once a serial widget has identified itself (or, Open DMX, once
    /// a frame has been timed).
    pub device: Option<DeviceInfo>,
}

impl OutputHealth {
    /// Copy into `out` field by field, reusing its buffers.
    pub(crate) fn copy_into(&self, out: &mut OutputHealth) {
        out.kind = self.kind;
        out.target.clone_from(&self.target);
        out.universes.clone_from(&self.universes);
        out.state = self.state;
        out.frames_sent = self.frames_sent;
        out.packets_sent = self.packets_sent;
        out.send_errors = self.send_errors;
        match (&mut out.last_error, &self.last_error) {
            (Some(o), Some(s)) => o.clone_from(s),
            (o, s) => *o = s.clone(),
        }
        out.reconnects = self.reconnects;
        out.device.clone_from(&self.device);
    }
}

/// A destination for frames.
pub trait Output: Send {
    /// Send the universes this output carries from `frame`. Errors are
    /// recorded in the health, never propagated: one dead node must not stop
    /// the others. Never blocks for long: network outputs use non-blocking
    /// sockets, serial outputs only hand the frame to their thread.
    fn send(&mut self, frame: &Frame);
    /// Build what sending `frame` takes (packets, sequence numbers) ahead
    /// of [`Output::send_prepared`], so that the send on the deadline only
    /// makes system calls. Outputs without such a split do nothing here.
    fn prepare(&mut self, _frame: &Frame) {}
    /// Send `frame`, as given to [`Output::prepare`] just before (or, if it
    /// was not, in full).
    fn send_prepared(&mut self, frame: &Frame) {
        self.send(frame);
    }
    /// Whether the output sends from a thread of its own: the frame loop
    /// then hands it each frame before the deadline with
    /// [`Output::send_at`] instead of sending after it.
    fn on_own_thread(&self) -> bool {
        false
    }
    /// Hand `frame` over to go on the wire at `at` (outputs on their own
    /// thread; others send now). With `take`, the output may keep
    /// `frame`'s buffers and leave in their place others of the same shape
    /// whose bytes are unspecified (an earlier frame): it then swaps
    /// instead of copying megabytes at city scale. `take` is for a caller
    /// that writes every byte of `frame` before reading it again (the
    /// frame builder's DMX map does) and sends it to no other output.
    fn send_at(&mut self, frame: &mut Frame, _at: std::time::Instant, _take: bool) {
        self.send(frame);
    }
    fn health(&self) -> OutputHealth;
    /// The health into `out`, reusing its allocations (the frame loop asks
    /// every frame; a fresh copy of thousands of universe numbers each time
    /// would be waste).
    fn health_into(&self, out: &mut OutputHealth) {
        *out = self.health();
    }
    /// Take the Art-Net service's view of which nodes answer ArtPoll into
    /// account in [`Output::health`] (only Art-Net outputs do).
    fn watch_nodes(&mut self, _watch: &std::sync::Arc<artpoll::NodeWatch>) {}
    /// Where an Art-Net output sends, for the Art-Net service to poll.
    fn artnet_target(&self) -> Option<(SocketAddr, Vec<u16>)> {
        None
    }
    /// Called once when the daemon stops, after the last frame: say goodbye
    /// on the wire where the protocol has a way (sACN stream termination),
    /// let a serial thread write the last frame it was given, and release
    /// threads and ports. Bounded in time (about a second at most). After
    /// `stop`, `send` does nothing.
    fn stop(&mut self) {}
    /// Give an output on its own thread until `until` to put the frame it
    /// was just handed on the wire, so the next render (which takes every
    /// core) does not stretch the sends and shift some universes' packets
    /// into the next period. Outputs that send in `send` return at once.
    fn settle(&self, _until: std::time::Instant) {}
}

/// Open every output the site declares. `state_dir` holds what must
/// survive restarts (the sACN source CID, in `sacn-cid`); it is created if
/// needed. An output that cannot be opened at all (no UDP socket, no
/// thread) is left out and named in the returned warnings. A serial port
/// that is missing is not such a case: its output opens, reports `down`,
/// and keeps retrying until the widget appears.
pub fn open_all(site: &Site, state_dir: &Path) -> (Vec<Box<dyn Output>>, Vec<String>) {
    let mut outputs: Vec<Box<dyn Output>> = Vec::new();
    let mut warnings = Vec::new();
    let mut cid: Option<[u8; 16]> = None;
    // ArtSync to a shared (broadcast) address goes out once per frame, from
    // the last output that names it, after every output's ArtDmx.
    let mut last_sync_sender: std::collections::HashMap<SocketAddr, usize> = Default::default();
    let mut sync_senders: std::collections::HashMap<SocketAddr, usize> = Default::default();
    for (i, cfg) in site.outputs.iter().enumerate() {
        if let (OutputKind::ArtNet { sync: true, .. }, Some(to)) = (&cfg.kind, cfg.artsync_to) {
            last_sync_sender.insert(to, i);
            *sync_senders.entry(to).or_default() += 1;
        }
    }
    for (i, cfg) in site.outputs.iter().enumerate() {
        match &cfg.kind {
            OutputKind::ArtNet {
                target,
                sync,
                only_changed,
            } => {
                match artnet::ArtNetOutput::open_bound(
                    *target,
                    cfg.universes.clone(),
                    cfg.wire.clone(),
                    *sync,
                    cfg.bind,
                    cfg.interface.as_deref(),
                ) {
                    Ok(o) => {
                        let o = match &cfg.host {
                            Some(name) => o.to_host(name),
                            None => o,
                        };
                        // Keep-alive a little under a second: Art-Net nodes
                        // may drop a universe not refreshed for 1 s or more.
                        let o = if *only_changed {
                            o.only_changed((site.fps * 4 / 5).max(1))
                        } else {
                            o
                        };
                        let o = match cfg.artsync_to {
                            Some(to) if last_sync_sender.get(&to) == Some(&i) => {
                                o.sync_to(Some(to))
                            }
                            Some(_) => o.sync_to(None),
                            None => o,
                        };
                        // Outputs sharing an ArtSync send in turn on the
                        // frame loop: on threads of their own, the last
                        // one's ArtSync could overtake another's ArtDmx and
                        // a node would latch the frame before.
                        let shared_sync = cfg
                            .artsync_to
                            .is_some_and(|to| sync_senders.get(&to).copied().unwrap_or(0) > 1);
                        if shared_sync {
                            outputs.push(Box::new(o))
                        } else {
                            outputs.push(threaded::maybe_threaded(Box::new(o), cfg.universes.len()))
                        }
                    }
                    Err(e) => warnings.push(format!(
                        "artnet output to {target}: cannot open a socket: {e}"
                    )),
                }
            }
            OutputKind::Sacn {
                target,
                priority,
                sync_address,
                source_name,
                only_changed,
            } => {
                // One CID for the whole controller: it is one source to
                // receivers, whichever output a universe leaves by.
                let cid = *cid.get_or_insert_with(|| {
                    let (cid, warning) = sacn::load_or_create_cid(state_dir);
                    warnings.extend(warning);
                    cid
                });
                let settings = sacn::SacnSettings {
                    target: *target,
                    priority: *priority,
                    sync_address: *sync_address,
                    source_name: source_name
                        .clone()
                        .unwrap_or_else(|| format!("nightscape {}", site.name)),
                    cid,
                };
                match sacn::SacnOutput::open_bound(
                    settings,
                    cfg.universes.clone(),
                    cfg.wire.clone(),
                    cfg.bind,
                    cfg.interface.as_deref(),
                ) {
                    Ok(o) => {
                        let o = match &cfg.host {
                            Some(name) => o.to_host(name),
                            None => o,
                        };
                        let o = o.terminate_on_stop(cfg.terminate_on_stop);
                        // A keep-alive every 0.9 s (E1.31: 0.8–1 s): a
                        // universe idle for this many frames goes out on
                        // the next one.
                        let o = if *only_changed {
                            o.only_changed((site.fps * 9 / 10).saturating_sub(1))
                        } else {
                            o
                        };
                        outputs.push(threaded::maybe_threaded(Box::new(o), cfg.universes.len()))
                    }
                    Err(e) => warnings.push(format!(
                        "sacn output to {target}: cannot open a socket: {e}"
                    )),
                }
            }
            OutputKind::EnttecPro { port } => {
                let Some(&universe) = cfg.universes.first() else {
                    warnings.push(format!("enttec-pro output on {port} carries no universe"));
                    continue;
                };
                let o = serial::SerialOutput::start(
                    Box::new(serial::PortOpener::enttec_pro(port)),
                    Box::new(enttec::ProDriver::new()),
                    universe,
                    serial::SerialSettings::default(),
                );
                match o {
                    Ok(o) => outputs.push(Box::new(o)),
                    Err(e) => warnings.push(format!(
                        "enttec-pro output on {port}: cannot start its thread: {e}"
                    )),
                }
            }
            OutputKind::OpenDmx { port } => {
                let Some(&universe) = cfg.universes.first() else {
                    warnings.push(format!("open-dmx output on {port} carries no universe"));
                    continue;
                };
                let o = serial::SerialOutput::start(
                    Box::new(serial::PortOpener::open_dmx(port)),
                    Box::new(enttec::OpenDmxDriver::new(site.fps)),
                    universe,
                    serial::SerialSettings::default(),
                );
                match o {
                    Ok(o) => outputs.push(Box::new(o)),
                    Err(e) => warnings.push(format!(
                        "open-dmx output on {port}: cannot start its thread: {e}"
                    )),
                }
            }
        }
    }
    (outputs, warnings)
}

#[cfg(test)]
mod names_tests {
    use super::*;
    use nightscape_core::control::fleet::{OutputKind, OutputState, OutputStatus};

    /// The fleet's report of an output uses the names of `/api/status`, and
    /// a peer's name this build does not know reads as `unknown` instead of
    /// losing the peer's whole status.
    #[test]
    fn the_fleets_output_names_are_the_apis() {
        for h in [HealthState::Ok, HealthState::Degraded, HealthState::Down] {
            assert_eq!(
                serde_json::to_value(OutputState::from(h)).unwrap(),
                serde_json::to_value(h).unwrap()
            );
            assert_eq!(serde_json::to_value(h).unwrap(), h.as_str());
        }
        for p in [
            Protocol::Artnet,
            Protocol::Sacn,
            Protocol::EnttecPro,
            Protocol::OpenDmx,
        ] {
            assert_eq!(
                serde_json::to_value(OutputKind::from(p)).unwrap(),
                serde_json::to_value(p).unwrap()
            );
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        let peer: OutputStatus = serde_json::from_str(
            r#"{"kind": "enttec-pro", "target": "/dev/ttyUSB0", "state": "degraded"}"#,
        )
        .unwrap();
        assert_eq!(
            (peer.kind, peer.state),
            (OutputKind::EnttecPro, OutputState::Degraded)
        );
        let newer: OutputStatus =
            serde_json::from_str(r#"{"kind": "kinet", "target": "10.0.0.9", "state": "warming"}"#)
                .unwrap();
        assert_eq!(
            (newer.kind, newer.state),
            (OutputKind::Unknown, OutputState::Unknown)
        );
        for s in [
            OutputState::Ok,
            OutputState::Degraded,
            OutputState::Down,
            OutputState::Unknown,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for k in [
            OutputKind::Artnet,
            OutputKind::Sacn,
            OutputKind::EnttecPro,
            OutputKind::OpenDmx,
            OutputKind::Unknown,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert!(serde_json::from_str::<OutputStatus>(
            r#"{"kind": 3, "target": "x", "state": "ok"}"#
        )
        .is_err());
    }
}

#[cfg(test)]
mod tests_artsync;
#[cfg(test)]
mod tests_health;
