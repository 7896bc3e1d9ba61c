//! RDM (ANSI E1.20) to the fixtures behind the outputs: a DMX line's table
//! of devices, then GETs per device for its identity, addressing, hours,
//! lamp, status and sensors, and the few SETs a crew needs (DMX start
//! address, DEVICE_LABEL, IDENTIFY).
//!
//! A line is anything that carries RDM transactions ([`Line`]): an Art-Net
//! node's port ([`ArtNetLine`]: ArtTodRequest → ArtTodData, ArtRdm) or an
//! ENTTEC DMX USB Pro ([`enttec`]: discovery by the controller). What is asked and how answers are
//! read is the same for both ([`Requester`]): one request in flight at a
//! time (a DMX line carries one RDM transaction at a time anyway), each
//! waited for a bounded time and sent once more on silence, at most one
//! request per `pace` (the daemon's few requests per DMX frame, so the
//! line keeps its frame rate). A NACK means "this device does not support
//! that": the field is left out, not an error. ACK_TIMER is honoured
//! (wait, ask again; at most [`MAX_TIMER_RETRIES`] times, each wait
//! capped), ACK_OVERFLOW parts are joined (at most [`MAX_OVERFLOW_PARTS`]).
//!
//! Art-Net sockets: replies come both unicast (ArtRdm, to our address)
//! and as broadcast (ArtTodData, to the subnet's broadcast address). A
//! socket bound to one interface address does not receive the broadcasts
//! on Linux, so when `listen` names a specific address a second socket on
//! the wildcard address and the same port listens too (both SO_REUSEADDR).
//! In the daemon, replies that reach the Art-Net service's sockets on port
//! 6454 are handed on through a tap (see `output::artpoll`). Packets not
//! from the target node are ignored.
//!
//! `nightscape devices` runs [`discover`] once; the daemon's [`care`]
//! runs it on every output with `rdm = true` at `[rdm] every`, keeps the
//! result ([`assets`] in the state database), verifies the patch
//! ([`patch`]) and raises the faults as alarms.

pub mod assets;
pub mod care;
pub mod enttec;
pub mod patch;

use nightscape_core::wire::artnet::{
    encode_artrdm, encode_tod_control, encode_tod_request, parse_artrdm, parse_tod_data,
    TodCommand, TOD_NAK,
};
pub use nightscape_core::wire::rdm::discovery::Sweep;
use nightscape_core::wire::rdm::{
    self, pid, CommandClass, DeviceInfo, LampState, Message, NackReason, Response,
    SensorDefinition, SensorValue, StatusMessage, Uid,
};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// How many times one GET follows ACK_TIMER before giving up.
pub const MAX_TIMER_RETRIES: u32 = 3;
/// Longest single ACK_TIMER wait honoured.
pub const MAX_TIMER_WAIT: Duration = Duration::from_secs(2);
/// Most ACK_OVERFLOW parts joined for one GET.
pub const MAX_OVERFLOW_PARTS: usize = 8;
/// Most sensors read per device (DEVICE_INFO may claim up to 255).
pub const MAX_SENSORS: u8 = 32;
/// Our controller UID: manufacturer 0x7ff0 is in E1.20's range for
/// prototypes and experiments, so it collides with no product.
pub const CONTROLLER_MANUFACTURER: u16 = 0x7ff0;
/// Longest DEVICE_LABEL E1.20 allows.
pub const MAX_LABEL: usize = 32;

/// A packet the Art-Net service received for us: who sent it, its bytes.
pub type Tapped = (SocketAddr, Vec<u8>);

/// Why RDM could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RdmClientError {
    #[error("cannot listen on {addr} for Art-Net RDM replies: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot send to {target}: {source}")]
    Send {
        target: SocketAddr,
        source: io::Error,
    },
    #[error("socket error: {0}")]
    Socket(io::Error),
    #[error("RDM line: {0}")]
    Line(String),
}

/// What a discovery found on one universe.
#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    /// False when the node never sent a table of devices for the universe.
    pub tod_received: bool,
    /// The node answered TodNak: it does not do RDM on that universe.
    pub tod_nak: bool,
    pub devices: Vec<Device>,
}

/// One responder, with every field it supports (a NACKed or unanswered
/// GET leaves its field out).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Device {
    pub uid: UidText,
    /// The Port-Address (Art-Net) or the serial line's universe the
    /// device was found on.
    pub universe: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_category: Option<u16>,
    /// DMX start address (1..=512); absent for a device without a footprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmx_address: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footprint: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<Personality>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lamp_hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lamp_state: Option<Lamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_hours: Option<u32>,
    #[serde(default)]
    pub sensors: Vec<Sensor>,
    #[serde(default)]
    pub status: Vec<Status>,
    /// GETs that got no usable answer (no reply, a malformed one), by PID
    /// name: the device is there but this reading is unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unanswered: Vec<String>,
}

/// A UID as people and the API write it: `mmmm:dddddddd` in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UidText(pub Uid);

impl std::fmt::Display for UidText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for UidText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for UidText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<Uid>()
            .map(UidText)
            .map_err(serde::de::Error::custom)
    }
}

/// LAMP_STATE as reported (E1.20 Table A-8), `snake_case` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lamp {
    Off,
    On,
    Strike,
    Standby,
    NotPresent,
    Error,
    Other,
}

impl Lamp {
    fn of(s: LampState) -> Lamp {
        match s {
            LampState::Off => Lamp::Off,
            LampState::On => Lamp::On,
            LampState::Strike => Lamp::Strike,
            LampState::Standby => Lamp::Standby,
            LampState::NotPresent => Lamp::NotPresent,
            LampState::Error => Lamp::Error,
            LampState::Other(_) => Lamp::Other,
        }
    }

    /// A lamp state a crew must look at.
    pub fn is_failure(self) -> bool {
        matches!(self, Lamp::Error | Lamp::NotPresent)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Personality {
    pub current: u8,
    pub count: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sensor {
    pub number: u8,
    pub name: String,
    /// E1.20 sensor type code (0 temperature, 1 voltage, 2 current, ...).
    pub kind: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i16>,
    pub unit: String,
    pub normal: [i16; 2],
    pub range: [i16; 2],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowest: Option<i16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highest: Option<i16>,
}

impl Sensor {
    /// Outside the range its definition calls normal (a definition whose
    /// normal range is empty, 0..0, says nothing).
    pub fn out_of_range(&self) -> bool {
        let [lo, hi] = self.normal;
        if lo == 0 && hi == 0 {
            return false;
        }
        self.value.is_some_and(|v| v < lo || v > hi)
    }
}

/// One status message a device queued.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub severity: String,
    pub message_id: u16,
    pub sub_device: u16,
    pub data: [i16; 2],
}

/// A change a crew asks of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "what")]
pub enum Write {
    /// DMX_START_ADDRESS, 1..=512.
    Address { address: u16 },
    /// DEVICE_LABEL, at most 32 bytes.
    Label { label: String },
    /// IDENTIFY_DEVICE on or off (the fixture flashes so a crew finds it).
    Identify { on: bool },
}

impl Write {
    /// Check the value before anything is sent.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Write::Address { address } if !(1..=512).contains(address) => Err(format!(
                "address {address} is out of range: DMX start addresses are 1..512"
            )),
            Write::Label { label } if label.len() > MAX_LABEL => Err(format!(
                "the label is {} bytes; RDM labels are at most {MAX_LABEL}",
                label.len()
            )),
            Write::Label { label } if label.chars().any(char::is_control) => {
                Err("the label must not hold control characters".into())
            }
            _ => Ok(()),
        }
    }

    fn pid_and_data(&self) -> (u16, Vec<u8>) {
        match self {
            Write::Address { address } => (pid::DMX_START_ADDRESS, address.to_be_bytes().to_vec()),
            Write::Label { label } => (pid::DEVICE_LABEL, label.as_bytes().to_vec()),
            Write::Identify { on } => (pid::IDENTIFY_DEVICE, vec![u8::from(*on)]),
        }
    }

    /// The audit log's verb.
    pub fn action(&self) -> &'static str {
        match self {
            Write::Address { .. } => "device.set_address",
            Write::Label { .. } => "device.set_label",
            Write::Identify { .. } => "device.identify",
        }
    }
}

/// How a device took a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum WriteOutcome {
    /// Acknowledged (ACK, or ACK_TIMER: it will apply it shortly).
    Done,
    /// NACKed, with E1.20's reason.
    Refused { reason: String },
    /// No usable reply.
    NoReply,
}

/// A node's (or widget's) table of devices on one line.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub received: bool,
    pub nak: bool,
    pub uids: Vec<Uid>,
    /// The devices this discovery found that were not known before, when
    /// the line ran the discovery itself (a widget); `None` for a node's
    /// table (the caller compares it with what it knew).
    pub new: Option<Vec<Uid>>,
}

/// A DMX line that carries RDM.
pub trait Line: Send {
    /// The universe the line carries (Art-Net Port-Address).
    fn universe(&self) -> u16;
    /// The line's table of devices after a discovery: `Full` finds every
    /// device again from scratch, `Incremental` looks only for devices
    /// other than `known` (and checks that those still answer).
    fn table(
        &mut self,
        timeout: Duration,
        sweep: Sweep,
        known: &[Uid],
    ) -> Result<Table, RdmClientError>;
    /// Send one encoded RDM request and return the first reply body for
    /// which `want` holds, within `timeout`.
    fn exchange(
        &mut self,
        request: &[u8],
        want: &mut dyn FnMut(&[u8]) -> bool,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, RdmClientError>;
}

fn bind_shared(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn quiet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionRefused
    )
}

/// RDM through an Art-Net node: one socket (two with a specific `listen`)
/// aimed at one node and Port-Address at a time.
pub struct ArtNetLine {
    socks: Vec<UdpSocket>,
    tap: Option<Receiver<Tapped>>,
    target: SocketAddr,
    universe: u16,
    out: Vec<u8>,
    rx: Vec<u8>,
}

impl ArtNetLine {
    /// Listen on `listen`; `tap` brings what the Art-Net service received.
    pub fn open(
        listen: SocketAddr,
        tap: Option<Receiver<Tapped>>,
    ) -> Result<ArtNetLine, RdmClientError> {
        let bind = |addr| bind_shared(addr).map_err(|source| RdmClientError::Bind { addr, source });
        let mut socks = vec![bind(listen)?];
        if !listen.ip().is_unspecified() && listen.port() != 0 {
            // Broadcast replies (ArtTodData) reach only a wildcard socket.
            let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), listen.port());
            if let Ok(s) = bind_shared(any) {
                socks.push(s);
            }
        }
        Ok(ArtNetLine {
            socks,
            tap,
            target: SocketAddr::from(([127, 0, 0, 1], 6454)),
            universe: 0,
            out: Vec::with_capacity(64),
            rx: vec![0u8; 1500],
        })
    }

    /// Talk to `target` about Port-Address `universe` from now on.
    pub fn aim(&mut self, target: SocketAddr, universe: u16) {
        self.target = target;
        self.universe = universe;
    }

    fn send(&self, bytes: &[u8]) -> Result<(), RdmClientError> {
        self.socks[0]
            .send_to(bytes, self.target)
            .map(|_| ())
            .map_err(|source| RdmClientError::Send {
                target: self.target,
                source,
            })
    }

    /// Wait up to `until` for one packet from the target on any socket or
    /// the tap; returns its length in `self.rx`.
    fn recv(&mut self, until: Instant) -> Result<Option<usize>, RdmClientError> {
        let target = self.target;
        let from_target = |from: SocketAddr| {
            // A broadcast target accepts anyone; a unicast one only itself.
            match (from.ip(), target.ip()) {
                (IpAddr::V4(f), IpAddr::V4(t)) => {
                    t.is_broadcast() || t.octets()[3] == 255 || f == t
                }
                (f, t) => f == t,
            }
        };
        loop {
            if let Some(tap) = &self.tap {
                while let Ok((from, bytes)) = tap.try_recv() {
                    if from_target(from) && bytes.len() <= self.rx.len() {
                        self.rx[..bytes.len()].copy_from_slice(&bytes);
                        return Ok(Some(bytes.len()));
                    }
                }
            }
            let now = Instant::now();
            if now >= until {
                return Ok(None);
            }
            let ways = self.socks.len() as u32 + u32::from(self.tap.is_some());
            let slice =
                ((until - now) / ways).clamp(Duration::from_millis(1), Duration::from_millis(10));
            for s in &self.socks {
                s.set_read_timeout(Some(slice))
                    .map_err(RdmClientError::Socket)?;
                match s.recv_from(&mut self.rx) {
                    Ok((n, from)) if from_target(from) => return Ok(Some(n)),
                    Ok(_) => {}
                    Err(e) if quiet(&e) => {}
                    Err(e) => return Err(RdmClientError::Socket(e)),
                }
            }
        }
    }
}

impl Line for ArtNetLine {
    fn universe(&self) -> u16 {
        self.universe
    }

    /// A full discovery first tells the node to flush its table and
    /// discover again (ArtTodControl, AtcFlush); an incremental one takes
    /// the table the node keeps by its own incremental discovery. Then
    /// ArtTodRequest, and ArtTodData blocks until the table is complete
    /// (or the timeout). Asked again halfway through in case a packet was
    /// lost.
    fn table(
        &mut self,
        timeout: Duration,
        sweep: Sweep,
        _known: &[Uid],
    ) -> Result<Table, RdmClientError> {
        let mut req = Vec::new();
        if sweep == Sweep::Full {
            encode_tod_control(self.universe, TodCommand::Flush, &mut req);
            self.send(&req)?;
            req.clear();
        }
        encode_tod_request(&[self.universe], &mut req);
        self.send(&req)?;
        let start = Instant::now();
        let deadline = start + timeout;
        let mut reask = Some(start + timeout / 2);
        let mut uids = BTreeSet::new();
        let mut t_out = Table::default();
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if reask.is_some_and(|t| now >= t) {
                reask = None;
                self.send(&req)?;
            }
            let until = reask.unwrap_or(deadline).min(deadline);
            let Some(n) = self.recv(until)? else {
                continue;
            };
            let Ok(t) = parse_tod_data(&self.rx[..n]) else {
                continue;
            };
            if t.port_address != self.universe {
                continue;
            }
            t_out.received = true;
            if t.command_response == TOD_NAK {
                t_out.nak = true;
                break;
            }
            uids.extend(t.uids.iter().copied());
            if uids.len() >= usize::from(t.uid_total) && (t.uid_total > 0 || reask.is_none()) {
                break;
            }
        }
        t_out.uids = uids.into_iter().collect();
        Ok(t_out)
    }

    fn exchange(
        &mut self,
        request: &[u8],
        want: &mut dyn FnMut(&[u8]) -> bool,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, RdmClientError> {
        let mut out = std::mem::take(&mut self.out);
        encode_artrdm(self.universe, request, &mut out);
        let sent = self.send(&out);
        self.out = out;
        sent?;
        let until = Instant::now() + timeout;
        while let Some(n) = self.recv(until)? {
            let Ok((pa, body)) = parse_artrdm(&self.rx[..n]) else {
                continue;
            };
            if pa == self.universe && want(body) {
                return Ok(Some(body.to_vec()));
            }
        }
        Ok(None)
    }
}

/// Outcome of one GET.
enum Got {
    Data(Vec<u8>),
    Nack(NackReason),
    NoReply,
}

/// Asks devices on a line: our UID, transaction numbers, timeouts and the
/// pace of requests.
pub struct Requester {
    me: Uid,
    tn: u8,
    request_timeout: Duration,
    /// Least time between two requests (zero: as fast as replies come).
    pace: Duration,
    last: Option<Instant>,
    msg: Vec<u8>,
    /// Requests sent (each try counts), for measurements and the view.
    pub sent: u64,
}

impl Requester {
    pub fn new(request_timeout: Duration, pace: Duration) -> Requester {
        Requester {
            // Device part of our UID: the process ID, so two controllers on
            // one network can tell their replies apart.
            me: Uid::new(CONTROLLER_MANUFACTURER, std::process::id()),
            tn: 0,
            request_timeout,
            pace,
            last: None,
            msg: Vec::with_capacity(rdm::MAX_MESSAGE_LEN),
            sent: 0,
        }
    }

    /// Our controller UID.
    pub fn uid(&self) -> Uid {
        self.me
    }

    fn wait_pace(&mut self) {
        if let Some(last) = self.last {
            let next = last + self.pace;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
        self.last = Some(Instant::now());
    }

    /// One RDM transaction: send, wait for the matching reply (one resend
    /// after a timeout).
    fn transact(
        &mut self,
        line: &mut dyn Line,
        dest: Uid,
        class: CommandClass,
        pidv: u16,
        data: &[u8],
    ) -> Result<Option<Vec<u8>>, RdmClientError> {
        self.tn = self.tn.wrapping_add(1);
        let tn = self.tn;
        let m = Message::request(dest, self.me, tn, class, pidv, data);
        if rdm::encode(&m, &mut self.msg).is_err() {
            return Ok(None);
        }
        let me = self.me;
        let mut want = |body: &[u8]| {
            rdm::decode(body).is_ok_and(|r| {
                r.src == dest
                    && r.dest == me
                    && r.transaction == tn
                    && r.pid == pidv
                    && r.class == class.response()
            })
        };
        for _attempt in 0..2 {
            self.wait_pace();
            self.sent += 1;
            let msg = std::mem::take(&mut self.msg);
            let got = line.exchange(&msg, &mut want, self.request_timeout);
            self.msg = msg;
            if let Some(body) = got? {
                return Ok(Some(body));
            }
        }
        Ok(None)
    }

    /// GET with ACK_TIMER and ACK_OVERFLOW handled.
    fn get(
        &mut self,
        line: &mut dyn Line,
        dest: Uid,
        pidv: u16,
        data: &[u8],
    ) -> Result<Got, RdmClientError> {
        let mut joined = Vec::new();
        let mut timers = 0;
        let mut parts = 0;
        loop {
            let Some(raw) = self.transact(line, dest, CommandClass::Get, pidv, data)? else {
                return Ok(Got::NoReply);
            };
            let Ok(m) = rdm::decode(&raw) else {
                return Ok(Got::NoReply);
            };
            match m.response() {
                Ok(Response::Ack(d)) => {
                    joined.extend_from_slice(d);
                    return Ok(Got::Data(joined));
                }
                Ok(Response::AckOverflow(d)) => {
                    joined.extend_from_slice(d);
                    parts += 1;
                    if parts >= MAX_OVERFLOW_PARTS {
                        return Ok(Got::Data(joined));
                    }
                }
                Ok(Response::AckTimer { tenths }) => {
                    timers += 1;
                    if timers > MAX_TIMER_RETRIES {
                        return Ok(Got::NoReply);
                    }
                    let wait = Duration::from_millis(u64::from(tenths) * 100).min(MAX_TIMER_WAIT);
                    std::thread::sleep(wait);
                }
                Ok(Response::Nack(r)) => return Ok(Got::Nack(r)),
                Err(_) => return Ok(Got::NoReply),
            }
        }
    }

    /// SET one parameter of `dest`.
    pub fn set(
        &mut self,
        line: &mut dyn Line,
        dest: Uid,
        w: &Write,
    ) -> Result<WriteOutcome, RdmClientError> {
        let (p, data) = w.pid_and_data();
        let Some(raw) = self.transact(line, dest, CommandClass::Set, p, &data)? else {
            return Ok(WriteOutcome::NoReply);
        };
        let Ok(m) = rdm::decode(&raw) else {
            return Ok(WriteOutcome::NoReply);
        };
        Ok(match m.response() {
            Ok(Response::Ack(_) | Response::AckTimer { .. } | Response::AckOverflow(_)) => {
                WriteOutcome::Done
            }
            Ok(Response::Nack(r)) => WriteOutcome::Refused {
                reason: r.name().to_string(),
            },
            Err(_) => WriteOutcome::NoReply,
        })
    }

    /// GET one PID: the data of an ACK; a NACK is "not supported" (`None`);
    /// no usable answer is `None` and recorded in `unanswered`.
    fn fetch(
        &mut self,
        line: &mut dyn Line,
        d: &mut Device,
        p: u16,
        pd: &[u8],
    ) -> Result<Option<Vec<u8>>, RdmClientError> {
        Ok(match self.get(line, d.uid.0, p, pd)? {
            Got::Data(v) => Some(v),
            // Not supported: the field is simply absent.
            Got::Nack(NackReason::UnknownPid | NackReason::UnsupportedCommandClass) => None,
            // Supported but refused now (hardware fault, busy, ...): worth
            // showing as an unknown reading.
            Got::Nack(_) | Got::NoReply => {
                d.unanswered.push(pid_name(p).to_string());
                None
            }
        })
    }

    fn text(
        &mut self,
        line: &mut dyn Line,
        d: &mut Device,
        p: u16,
    ) -> Result<Option<String>, RdmClientError> {
        Ok(self.fetch(line, d, p, &[])?.map(|v| rdm::parse_text(&v)))
    }

    /// Read again what changes on a device already read (`known`): its
    /// addressing (DEVICE_INFO), hours, lamp, status messages and sensor
    /// values. What only a new device needs — names, labels, software,
    /// personality, sensor definitions — is kept from `known` (a full
    /// discovery reads it all again). About half the requests.
    pub fn read_changes(
        &mut self,
        line: &mut dyn Line,
        known: &Device,
    ) -> Result<Device, RdmClientError> {
        let mut d = Device {
            uid: known.uid,
            universe: line.universe(),
            manufacturer: known.manufacturer.clone(),
            model: known.model.clone(),
            label: known.label.clone(),
            software: known.software.clone(),
            model_id: known.model_id,
            product_category: known.product_category,
            personality: known.personality,
            ..Device::default()
        };
        if let Some(v) = self.fetch(line, &mut d, pid::DEVICE_INFO, &[])? {
            match DeviceInfo::parse(&v) {
                Ok(info) => {
                    d.footprint = Some(info.footprint);
                    d.dmx_address = (1..=512)
                        .contains(&info.start_address)
                        .then_some(info.start_address);
                    if info.personality_count > 0 {
                        d.personality = Some(Personality {
                            current: info.personality,
                            count: info.personality_count,
                        });
                    }
                }
                Err(_) => d.unanswered.push("DEVICE_INFO".into()),
            }
        }
        self.read_volatile(line, &mut d)?;
        for s in &known.sensors {
            let mut s = s.clone();
            s.value = None;
            if let Some(v) = self.fetch(line, &mut d, pid::SENSOR_VALUE, &[s.number])? {
                if let Ok(val) = SensorValue::parse(&v) {
                    s.value = Some(val.present);
                    if s.lowest.is_some() {
                        s.lowest = Some(val.lowest);
                        s.highest = Some(val.highest);
                    }
                }
            }
            d.sensors.push(s);
        }
        Ok(d)
    }

    /// Hours, lamp and status messages.
    fn read_volatile(&mut self, line: &mut dyn Line, d: &mut Device) -> Result<(), RdmClientError> {
        if let Some(v) = self.fetch(line, d, pid::LAMP_HOURS, &[])? {
            d.lamp_hours = rdm::parse_u32(pid::LAMP_HOURS, &v).ok();
        }
        if let Some(v) = self.fetch(line, d, pid::LAMP_STATE, &[])? {
            d.lamp_state = LampState::parse(&v).ok().map(Lamp::of);
        }
        if let Some(v) = self.fetch(line, d, pid::DEVICE_HOURS, &[])? {
            d.device_hours = rdm::parse_u32(pid::DEVICE_HOURS, &v).ok();
        }
        if let Some(v) = self.fetch(line, d, pid::STATUS_MESSAGES, &[rdm::status_type::ADVISORY])? {
            if let Ok(list) = StatusMessage::parse_list(&v) {
                d.status = list
                    .iter()
                    .map(|s| Status {
                        severity: s.severity().to_string(),
                        message_id: s.message_id,
                        sub_device: s.sub_device,
                        data: [s.data1, s.data2],
                    })
                    .collect();
            }
        }
        Ok(())
    }

    /// Read everything nightscape keeps about one device.
    pub fn read_device(&mut self, line: &mut dyn Line, uid: Uid) -> Result<Device, RdmClientError> {
        let mut d = Device {
            uid: UidText(uid),
            universe: line.universe(),
            ..Device::default()
        };
        let mut sensor_count = 0;
        if let Some(v) = self.fetch(line, &mut d, pid::DEVICE_INFO, &[])? {
            match DeviceInfo::parse(&v) {
                Ok(info) => {
                    d.model_id = Some(info.model_id);
                    d.product_category = Some(info.product_category);
                    d.footprint = Some(info.footprint);
                    if (1..=512).contains(&info.start_address) {
                        d.dmx_address = Some(info.start_address);
                    }
                    if info.personality_count > 0 {
                        d.personality = Some(Personality {
                            current: info.personality,
                            count: info.personality_count,
                        });
                    }
                    sensor_count = info.sensor_count.min(MAX_SENSORS);
                }
                Err(_) => d.unanswered.push("DEVICE_INFO".into()),
            }
        }
        d.model = self.text(line, &mut d, pid::DEVICE_MODEL_DESCRIPTION)?;
        d.manufacturer = self.text(line, &mut d, pid::MANUFACTURER_LABEL)?;
        d.label = self.text(line, &mut d, pid::DEVICE_LABEL)?;
        d.software = self.text(line, &mut d, pid::SOFTWARE_VERSION_LABEL)?;
        if let Some(v) = self.fetch(line, &mut d, pid::DMX_START_ADDRESS, &[])? {
            if let Ok(a) = rdm::parse_start_address(&v) {
                d.dmx_address = (1..=512).contains(&a).then_some(a);
            }
        }
        if let Some(v) = self.fetch(line, &mut d, pid::DMX_PERSONALITY, &[])? {
            if let Ok((current, count)) = rdm::parse_personality(&v) {
                d.personality = Some(Personality { current, count });
            }
        }
        self.read_volatile(line, &mut d)?;
        for n in 0..sensor_count {
            let Some(v) = self.fetch(line, &mut d, pid::SENSOR_DEFINITION, &[n])? else {
                continue;
            };
            let Ok(def) = SensorDefinition::parse(&v) else {
                continue;
            };
            let mut s = Sensor {
                number: n,
                name: def.description.clone(),
                kind: def.kind,
                value: None,
                unit: def.unit_symbol(),
                normal: [def.normal.0, def.normal.1],
                range: [def.range.0, def.range.1],
                lowest: None,
                highest: None,
            };
            if let Some(v) = self.fetch(line, &mut d, pid::SENSOR_VALUE, &[n])? {
                if let Ok(val) = SensorValue::parse(&v) {
                    s.value = Some(val.present);
                    // Lowest/highest are only meaningful when recorded.
                    if def.recorded_support & 0x02 != 0 {
                        s.lowest = Some(val.lowest);
                        s.highest = Some(val.highest);
                    }
                }
            }
            d.sensors.push(s);
        }
        Ok(d)
    }
}

fn pid_name(p: u16) -> &'static str {
    match p {
        pid::DEVICE_INFO => "DEVICE_INFO",
        pid::DEVICE_MODEL_DESCRIPTION => "DEVICE_MODEL_DESCRIPTION",
        pid::MANUFACTURER_LABEL => "MANUFACTURER_LABEL",
        pid::DEVICE_LABEL => "DEVICE_LABEL",
        pid::SOFTWARE_VERSION_LABEL => "SOFTWARE_VERSION_LABEL",
        pid::DMX_PERSONALITY => "DMX_PERSONALITY",
        pid::DMX_START_ADDRESS => "DMX_START_ADDRESS",
        pid::LAMP_HOURS => "LAMP_HOURS",
        pid::LAMP_STATE => "LAMP_STATE",
        pid::DEVICE_HOURS => "DEVICE_HOURS",
        pid::STATUS_MESSAGES => "STATUS_MESSAGES",
        pid::SENSOR_DEFINITION => "SENSOR_DEFINITION",
        pid::SENSOR_VALUE => "SENSOR_VALUE",
        _ => "other",
    }
}

/// Settings of one discovery from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen (and send from). Port 6454 is where nodes answer.
    pub listen: SocketAddr,
    /// The node (or a broadcast address) to ask.
    pub target: SocketAddr,
    /// Art-Net 15-bit Port-Address.
    pub universe: u16,
    /// How long to wait for the table of devices.
    pub tod_timeout: Duration,
    /// How long to wait for each RDM reply (one retry after it).
    pub request_timeout: Duration,
}

/// Read every device of `uids` on `line`.
pub fn read_all(
    req: &mut Requester,
    line: &mut dyn Line,
    table: Table,
) -> Result<Discovery, RdmClientError> {
    let mut devices = Vec::with_capacity(table.uids.len());
    for uid in &table.uids {
        devices.push(req.read_device(line, *uid)?);
    }
    Ok(Discovery {
        tod_received: table.received,
        tod_nak: table.nak,
        devices,
    })
}

/// Run one discovery: table of devices, then every device's readings.
pub fn discover(o: &Options) -> Result<Discovery, RdmClientError> {
    let mut line = ArtNetLine::open(o.listen, None)?;
    line.aim(o.target, o.universe);
    // The node's table as it keeps it (no flush: a command-line look
    // must not make a node forget and rediscover its line).
    let table = line.table(o.tod_timeout, Sweep::Incremental, &[])?;
    let mut req = Requester::new(o.request_timeout, Duration::ZERO);
    read_all(&mut req, &mut line, table)
}

/// Make one write to `uid` through the node `o` names.
pub fn write(o: &Options, uid: Uid, w: &Write) -> Result<WriteOutcome, RdmClientError> {
    let mut line = ArtNetLine::open(o.listen, None)?;
    line.aim(o.target, o.universe);
    let mut req = Requester::new(o.request_timeout, Duration::ZERO);
    req.set(&mut line, uid, w)
}
